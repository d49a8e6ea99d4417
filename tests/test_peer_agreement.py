"""course_lib agrees with the libraries of the field: tangermeme and captum (not timed).

The benchmarks in ``benchmarks/`` time the same pairs; these tests only check that the outputs
agree, so a change that makes course_lib faster but different fails here. Each test skips
when its peer package is not installed (both are in the ``dev`` extra).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.encoding import one_hot
from course_lib.interpret.attribution import gradient_x_input
from course_lib.interpret.integrated_gradients import integrated_gradients
from course_lib.interpret.variant_mutagenesis import ism_log_odds, log_odds
from course_lib.models.beluga import small_beluga
from course_lib.models.cnn_classifier import OneHotCNN


def random_sequences(n: int, rng: np.random.Generator, with_n: bool = True) -> list[str]:
    letters = np.array(list("ACGTN" if with_n else "ACGT"))
    return ["".join(rng.choice(letters, rng.integers(5, 40))) for _ in range(n)]


def one_hot_windows(n: int, length: int, seed: int) -> torch.Tensor:
    codes = torch.from_numpy(np.random.default_rng(seed).integers(0, 4, (n, length)))
    return nn.functional.one_hot(codes, 4).float().transpose(1, 2).contiguous()


def lively_beluga() -> nn.Module:
    """A small Beluga-design teacher whose random weights give effects well above the
    tolerance (the default initialisation of so small a model gives effects below 1e-3)."""
    torch.manual_seed(0)
    model = small_beluga(320, 3, (4, 4, 8), 8).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.2)
    return model


class PassCounter:
    def __init__(self, model: nn.Module):
        self.count = 0
        model.register_forward_pre_hook(lambda _m, inputs: self._add(inputs[0]))

    def _add(self, x: torch.Tensor) -> None:
        self.count += x.shape[0]


def test_one_hot_equals_tangermeme():
    utils = pytest.importorskip("tangermeme.utils")
    seqs = random_sequences(50, np.random.default_rng(0))
    ours = one_hot(seqs, length=40, channels_first=True, dtype=np.int8)
    theirs = torch.stack([utils.one_hot_encode(s.ljust(40, "N")) for s in seqs]).numpy()
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape == (50, 4, 40)
    np.testing.assert_array_equal(ours, theirs)
    # Beluga's AGCT channel order too
    theirs_agct = utils.one_hot_encode(seqs[0], alphabet=list("AGCT")).numpy()
    ours_agct = one_hot(seqs[0], alphabet="AGCT", channels_first=True, dtype=np.int8)[0]
    np.testing.assert_array_equal(ours_agct, theirs_agct)


def test_ism_log_odds_makes_3l_plus_1_passes_per_window():
    torch.manual_seed(0)
    model = small_beluga(320, 3, (4, 4, 8), 8)
    counter = PassCounter(model)
    windows = one_hot_windows(2, 320, seed=1)
    out = ism_log_odds(model, windows, batch_size=100)
    assert counter.count == 2 * (3 * 320 + 1)
    # the reference base has exactly no effect (it is not computed); substitutions have one
    reference = windows.bool()[:, None].expand_as(out)
    assert (out[reference] == 0).all() and (out[~reference] != 0).any()


def test_ism_log_odds_equals_tangermeme_saturation_mutagenesis():
    sm = pytest.importorskip("tangermeme.saturation_mutagenesis")
    model = lively_beluga()
    windows = one_hot_windows(2, 320, seed=2)
    windows[1, :, 17] = 0  # an N column: all four bases are substitutions
    counter = PassCounter(model)
    ours = ism_log_odds(model, windows, batch_size=128)
    assert counter.count == 2 * (3 * 320 + 1) + 1
    y0, y_hat = sm.saturation_mutagenesis(
        model, windows, batch_size=128, raw_outputs=True, device="cpu", fast=False
    )
    theirs = log_odds(y_hat.permute(0, 3, 1, 2), y0[:, :, None, None])
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
    assert ours.abs().max() > 0.03


def test_gradient_x_input_equals_captum():
    attr = pytest.importorskip("captum.attr")
    torch.manual_seed(0)
    model = OneHotCNN(16).eval()
    x = one_hot_windows(8, 60, seed=3)
    ours = gradient_x_input(model, x, device="cpu")
    theirs = attr.InputXGradient(model).attribute(x.clone().requires_grad_(True))
    np.testing.assert_allclose(ours, theirs.detach().numpy(), atol=1e-5, rtol=1e-4)
    assert np.abs(ours).max() > 0


@pytest.mark.parametrize("batch_size", [1000, 24])  # every step at once; several passes
def test_integrated_gradients_equals_captum(batch_size):
    attr = pytest.importorskip("captum.attr")
    torch.manual_seed(0)
    model = OneHotCNN(16).eval()
    x = one_hot_windows(8, 60, seed=4)
    baseline = torch.full_like(x, 0.25)
    ours = integrated_gradients(model, x, baseline, steps=20, device="cpu", batch_size=batch_size)
    theirs = attr.IntegratedGradients(model).attribute(
        x, baselines=baseline, n_steps=20, method="gausslegendre", internal_batch_size=batch_size
    )
    np.testing.assert_allclose(ours, theirs.detach().numpy(), atol=1e-5, rtol=1e-4)
    assert np.abs(ours).max() > 0
