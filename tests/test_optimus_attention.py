"""Optimus 5-Prime and the attention CNN: shapes, attention normalisation, learning a rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from course_lib.encoding import one_hot
from course_lib.metrics import pearson_r
from course_lib.models.attention_cnn import (
    AttentionCNN,
    attention_per_nucleotide,
    prediction_only,
)
from course_lib.models.optimus import Optimus5Prime
from course_lib.training import fit, predict, seed_everything


def _random_utrs(n: int, length: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(row) for row in np.array(list("ACGT"))[rng.integers(0, 4, (n, length))]]


def _aug_rule_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """UTRs whose target is minus their number of ATG triplets (a planted uAUG rule)."""
    utrs = _random_utrs(n, 50, seed)
    y = -np.array([sum(u[i : i + 3] == "ATG" for i in range(48)) for u in utrs], np.float32)
    y = (y - y.mean()) / y.std()
    return torch.from_numpy(one_hot(utrs)), torch.from_numpy(y)


def test_optimus_published_shape_and_parameter_count():
    model = Optimus5Prime()
    out = model(torch.zeros(5, 50, 4))
    assert out.shape == (5,)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [c.out_channels for c in convs] == [120, 120, 120]
    assert all(c.kernel_size == (8,) for c in convs)
    # 3 convs (4*120*8+120, 2 x 120*120*8+120), dense 6000*40+40, output 40+1
    expected = (4 * 120 * 8 + 120) + 2 * (120 * 120 * 8 + 120) + (6000 * 40 + 40) + 41
    assert sum(p.numel() for p in model.parameters()) == expected


def test_optimus_rejects_wrong_layout_and_length():
    model = Optimus5Prime(length=50, n_filters=8)
    with pytest.raises(ValueError, match=r"\[n, L, 4\]"):
        model(torch.zeros(2, 4, 50))
    with pytest.raises(ValueError, match="50-nt"):
        model(torch.zeros(2, 40, 4))


@pytest.mark.parametrize("n_conv", [2, 3])
def test_attention_cnn_shapes_and_softmax(n_conv):
    torch.manual_seed(0)
    model = AttentionCNN(n_conv=n_conv).eval()
    x = torch.from_numpy(one_hot(_random_utrs(7, 50, 1)))
    pred, weights = model(x)
    assert pred.shape == (7,)
    assert weights.shape == (7, 12)  # 50 -> conv 51 -> pool 25 -> pool 12
    assert torch.all(weights >= 0)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(7))
    n_convs = sum(isinstance(m, torch.nn.Conv1d) for m in model.modules())
    assert n_convs == n_conv


def test_attention_cnn_rejects_other_depths():
    with pytest.raises(ValueError, match="2 or 3"):
        AttentionCNN(n_conv=4)


def test_prediction_only_drops_attention():
    model = AttentionCNN(n_conv=2).eval()
    x = torch.zeros(3, 50, 4)
    assert prediction_only(model, x).shape == (3,)


def test_attention_per_nucleotide_exact_values():
    weights = np.array([[0.5, 0.25, 0.25]])
    out = attention_per_nucleotide(weights, 12)
    np.testing.assert_allclose(out[0, :4], 0.125)
    np.testing.assert_allclose(out[0, 4:8], 0.0625)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    padded = attention_per_nucleotide(weights, 14)
    assert padded.shape == (1, 14)
    np.testing.assert_allclose(padded[0, 12:], 0.0)
    with pytest.raises(ValueError, match=r"\[n, P\]"):
        attention_per_nucleotide(np.ones(3), 12)


def _learns(model: torch.nn.Module, forward, seed: int) -> float:
    seed_everything(seed)
    x_train, y_train = _aug_rule_data(1500, seed)
    x_test, y_test = _aug_rule_data(400, seed + 100)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(x_test, y_test), batch_size=256)
    fit(
        model,
        train,
        val,
        loss_fn=torch.nn.functional.mse_loss,
        epochs=5,
        lr=2e-3,
        device="cpu",
        forward=forward,
        show_progress=False,
    )
    y, p = predict(model, val, "cpu", forward)
    return pearson_r(y, p)


def test_optimus_learns_planted_uaug_rule():
    model = Optimus5Prime(n_filters=32, dense=40)
    assert _learns(model, lambda m, x: m(x), seed=0) > 0.8


@pytest.mark.parametrize("n_conv", [2, 3])
def test_attention_cnn_learns_planted_uaug_rule(n_conv):
    model = AttentionCNN(n_conv=n_conv)
    assert _learns(model, prediction_only, seed=0) > 0.8
