"""Integrated gradients: completeness, the baseline, the quadrature rule, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.interpret.integrated_gradients import gauss_legendre, integrated_gradients
from course_lib.models.cnn_classifier import OneHotCNN


def test_gauss_legendre_integrates_polynomials_on_the_unit_interval():
    nodes, weights = gauss_legendre(5)
    assert ((0 < nodes) & (nodes < 1)).all() and weights.sum() == pytest.approx(1.0)
    assert (weights * nodes**9).sum() == pytest.approx(1 / 10)  # exact up to degree 2n - 1
    with pytest.raises(ValueError, match="steps must be positive"):
        gauss_legendre(0)


def test_linear_model_gets_weight_times_input():
    weights = torch.randn(4, 30)
    model = nn.Sequential(nn.Flatten(), nn.Linear(120, 1, bias=True))
    with torch.no_grad():
        model[1].weight.copy_(weights.reshape(1, -1))
    model = nn.Sequential(model, nn.Flatten(0))
    x = torch.randn(3, 4, 30)
    out = integrated_gradients(model, x, steps=3, device="cpu")
    np.testing.assert_allclose(out, (weights * x).numpy(), rtol=1e-5, atol=1e-6)


def test_completeness_and_baseline():
    torch.manual_seed(0)
    model = OneHotCNN(8).eval()
    codes = torch.from_numpy(np.random.default_rng(0).integers(0, 4, (5, 40)))
    x = nn.functional.one_hot(codes, 4).float().transpose(1, 2)
    baseline = torch.full((4, 40), 0.25)
    out = integrated_gradients(model, x, baseline, steps=64, device="cpu", batch_size=50)
    with torch.no_grad():
        gap = (model(x) - model(baseline.expand_as(x))).numpy()
    np.testing.assert_allclose(out.sum((1, 2)), gap, atol=2e-3)
    # no difference from the baseline, no attribution
    same = integrated_gradients(model, x, x, steps=4, device="cpu")
    assert np.abs(same).max() == 0
    # the model's parameters get no gradient
    assert all(p.grad is None for p in model.parameters())
