"""BelugaMultiplexer: published layout, output mapping, and distillation of a planted rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.chapters.ch4_beluga_multiplexer import measure_speedup, train_multiplexer
from course_lib.interpret.variant_mutagenesis import ism_log_odds, ism_metrics
from course_lib.models.multiplexer import BelugaMultiplexer, positional_channel, predict_maps


def random_windows(n: int, length: int, rng: np.random.Generator) -> torch.Tensor:
    codes = torch.from_numpy(rng.integers(0, 4, (n, length)))
    return nn.functional.one_hot(codes, 4).float().transpose(1, 2).contiguous()


class LinearPWM(nn.Module):
    """A teacher whose ISM map is w[b, p] - w[ref, p] (in logits): a rule to distil."""

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.weights = nn.Parameter(weights)

    def forward(self, x):
        return torch.sigmoid(torch.einsum("nbl,fbl->nf", x, self.weights))


def test_positional_channel_matches_the_published_encoding():
    published = torch.cat((torch.arange(0, 1, 0.001), torch.arange(1, 0, -0.001)))
    torch.testing.assert_close(positional_channel(2000), published, atol=1e-5, rtol=0)
    ramp = positional_channel(7)
    assert ramp.shape == (7,) and ramp.max() == 1.0 and ramp[0] == 0.0


def test_full_size_layout_matches_the_published_weights():
    with torch.device("meta"):
        model = BelugaMultiplexer()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert "position" not in shapes  # not a parameter of the published file
    assert shapes["model_one.0.weight"] == (640, 5, 8)
    assert shapes["model_one.3.weight"] == (640, 640, 8)
    assert shapes["model_two.0.weight"] == (1280, 640, 8)
    assert shapes["model_four.3.weight"] == (1280, 1280, 8)
    assert shapes["model_final.0.weight"] == (8008, 1280, 1)
    assert shapes["model_final.3.weight"] == (8008, 8008, 1)
    assert model.model_four[0].dilation == (64,) and model.model_four[0].padding == (224,)
    assert model.model_two[0].padding == (14,) and model.model_three[0].padding == (56,)
    blocks = {k.split(".")[0] for k in shapes}
    assert blocks == {f"model_{n}" for n in ("one", "two", "three", "four", "five", "six", "final")}


@pytest.mark.parametrize("length", [33, 64])
def test_output_shape_keeps_the_length(length):
    model = BelugaMultiplexer(length, 3, channels=(8, 8), dilations=(2, 4, 8)).eval()
    out = model(random_windows(2, length, np.random.default_rng(0)))
    assert out.shape == (2, 3, 4, length)
    with pytest.raises(ValueError, match=f"4, {length}"):
        model(torch.zeros(1, 4, length + 1))
    with pytest.raises(ValueError, match="even"):
        BelugaMultiplexer(length, 3, (8, 8), (3, 4, 8))


def test_head_channel_4f_plus_b_is_feature_f_base_b():
    model = BelugaMultiplexer(16, 3, channels=(4, 4), dilations=(2, 2, 2)).eval()
    head = model.model_final[3]
    assert head.weight.abs().sum() == 0  # starts at "no effect"
    with torch.no_grad():
        head.bias.copy_(torch.arange(12.0))
    out = model(random_windows(1, 16, np.random.default_rng(0)))
    for f in range(3):
        for b in range(4):
            assert torch.all(out[0, f, b] == 4 * f + b)


def test_distils_a_planted_rule():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    length = 32
    teacher = LinearPWM(torch.randn(2, 4, length))
    val_x = random_windows(4, length, rng)
    val_y = ism_log_odds(teacher, val_x)
    student = BelugaMultiplexer(length, 2, channels=(16, 32), dilations=(2, 4, 8))
    before = ism_metrics(val_y.numpy(), predict_maps(student, val_x).numpy())
    result = train_multiplexer(
        student,
        teacher,
        lambda n, g: random_windows(n, length, g),
        val_x,
        val_y,
        steps=60,
        fresh_windows=2,
        batch_windows=8,
        pool_size=32,
        lr=5e-3,
        eval_every=20,
        show_progress=False,
    )
    history = result.history
    assert result.monitor == "val_symmetric_r"  # the symmetric criterion, not |true|-weighted r
    assert result.best_value == history["val_symmetric_r"].max()
    assert result.best_epoch == history.loc[history["val_symmetric_r"].idxmax(), "step"]
    assert list(history.columns) == [
        "step", "train_loss", "val_loss", "val_pearson_r", "val_weighted_r", "val_symmetric_r",
        "windows_seen", "seconds",
    ]  # fmt: skip
    assert history["step"].tolist() == [20, 40, 60]
    assert history["windows_seen"].iloc[-1] == 8 + 59 * 2
    test_x = random_windows(4, length, rng)
    after = ism_metrics(
        ism_log_odds(teacher, test_x).numpy(), predict_maps(student, test_x).numpy()
    )
    assert np.isnan(before["Pearson r"]) or before["Pearson r"] < 0.2
    assert after["Pearson r"] > 0.5 and after["weighted Pearson r"] > 0.6
    assert not student.training


def test_training_arguments_are_checked():
    model = BelugaMultiplexer(16, 1, (4, 4), (2, 2, 2))
    with pytest.raises(ValueError, match="pool_size"):
        train_multiplexer(
            model, model, None, None, None, steps=1, fresh_windows=4, batch_windows=8, pool_size=4
        )


def test_measure_speedup_reports_both_times():
    rng = np.random.default_rng(0)
    teacher = LinearPWM(torch.randn(2, 4, 16))
    student = BelugaMultiplexer(16, 2, (4, 4), (2, 2, 2))
    result = measure_speedup(teacher, student, random_windows(2, 16, rng), ism_batch_size=16)
    assert set(result) == {"teacher_s", "multiplexer_s", "speedup"}
    assert result["teacher_s"] > 0 and result["multiplexer_s"] > 0
    assert result["speedup"] == pytest.approx(result["teacher_s"] / result["multiplexer_s"])
    with_taylor = measure_speedup(teacher, student, random_windows(2, 16, rng), 16, taylor=True)
    assert with_taylor["taylor_s"] > 0
    assert with_taylor["taylor_speedup"] == pytest.approx(
        with_taylor["teacher_s"] / with_taylor["taylor_s"]
    )
