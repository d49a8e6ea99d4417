"""The first-order Taylor estimate of every variant's effect (course_lib.interpret.taylor)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.interpret.taylor import (
    input_gradients,
    log_odds_score,
    taylor_effects,
    taylor_from_gradients,
    taylor_passes,
)
from course_lib.interpret.variant_mutagenesis import ism_log_odds, ism_metrics, log_odds


def random_windows(n: int, length: int, seed: int = 0) -> torch.Tensor:
    codes = torch.from_numpy(np.random.default_rng(seed).integers(0, 4, (n, length)))
    return nn.functional.one_hot(codes, 4).double().transpose(1, 2).contiguous()


class LogisticPWM(nn.Module):
    """``sigmoid(sum w[f] * x + b[f])``: its log-odds are linear in the one-hot input."""

    def __init__(self, n_features: int, length: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weights = nn.Parameter(torch.randn(n_features, 4, length, generator=g).double())
        self.bias = nn.Parameter(torch.randn(n_features, generator=g).double())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(torch.einsum("nbl,fbl->nf", x, self.weights) + self.bias)


class SmallCNN(nn.Module):
    """A nonlinear many-feature model: convolution, ReLU, max-pool, linear, sigmoid."""

    def __init__(self, n_features: int, length: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(4, 8, 5)
        self.head = nn.Linear(8 * ((length - 4) // 2), n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = nn.functional.max_pool1d(torch.relu(self.conv(x)), 2)
        return torch.sigmoid(2 * self.head(hidden.flatten(1)))


def test_a_linear_model_gives_w_alt_minus_w_ref_exactly():
    model, x = LogisticPWM(3, 12), random_windows(5, 12)
    effects = taylor_effects(model, x, batch_size=2, eps=0.0)
    assert effects.shape == (5, 3, 4, 12)
    reference = x.argmax(1)  # [n, L]
    w = model.weights.detach()
    for i, f, b, p in [(0, 0, 0, 0), (1, 2, 3, 7), (4, 1, 2, 11), (3, 0, 1, 5)]:
        by_hand = w[f, b, p] - w[f, reference[i, p], p]
        assert effects[i, f, b, p].item() == pytest.approx(by_hand.item(), abs=1e-9)
    # every entry, and zero at the reference base
    expected = w[None] - torch.gather(
        w[None].expand(5, -1, -1, -1), 2, reference[:, None, None].expand(-1, 3, 1, -1)
    )
    torch.testing.assert_close(effects, expected, atol=1e-9, rtol=0)
    assert (effects.gather(2, reference[:, None, None].expand(-1, 3, 1, -1)) == 0).all()


def test_a_linear_model_matches_mutagenesis():
    model, x = LogisticPWM(2, 10, seed=1), random_windows(3, 10, seed=1)
    ism = ism_log_odds(model, x, batch_size=7)  # log-odds change with e = 1e-6
    torch.testing.assert_close(taylor_effects(model, x), ism, atol=1e-4, rtol=1e-4)


def test_a_nonlinear_model_is_close_to_mutagenesis_but_not_equal():
    model, x = SmallCNN(3, 24).double(), random_windows(6, 24, seed=2)
    taylor, ism = taylor_effects(model, x, batch_size=4), ism_log_odds(model, x, 50)
    scores = ism_metrics(ism.numpy(), taylor.numpy())
    assert scores["Pearson r"] > 0.6  # close: the first-order term carries most of it ...
    assert (taylor - ism).abs().max() > 1e-2  # ... but it is not the exact change
    # a finite difference along one variant agrees with the gradient (first order in h)
    i, f, b, p = 1, 2, int((x[1, :, 3] == 0).nonzero()[0]), 3
    step = x[i : i + 1].clone()
    h = 1e-6
    step[0, :, p] += h * (nn.functional.one_hot(torch.tensor(b), 4).double() - x[i, :, p])
    scores = log_odds_score(model(torch.cat([x[i : i + 1], step])))[:, f]
    assert ((scores[1] - scores[0]) / h).item() == pytest.approx(
        taylor[i, f, b, p].item(), rel=1e-4, abs=1e-6
    )


def test_gradients_are_per_window_and_leave_parameters_alone():
    model, x = SmallCNN(2, 16).double().eval(), random_windows(4, 16, seed=3)
    together = input_gradients(model, x)
    alone = torch.cat([input_gradients(model, x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone)
    assert all(p.grad is None for p in model.parameters())
    jacobian = torch.autograd.functional.jacobian(
        lambda inp: log_odds_score(model(inp)), x[:1]
    )  # [1, F, 1, 4, L]
    torch.testing.assert_close(together[:1], jacobian[:, :, 0])


def test_an_n_column_gets_the_gradient_itself():
    gradients = torch.arange(2 * 1 * 4 * 3, dtype=torch.float64).reshape(2, 1, 4, 3)
    x = random_windows(2, 3, seed=4)
    x[0, :, 1] = 0  # an N
    effects = taylor_from_gradients(gradients, x)
    torch.testing.assert_close(effects[0, 0, :, 1], gradients[0, 0, :, 1])


def test_captum_input_x_gradient_keeps_only_the_reference_term():
    captum_attr = pytest.importorskip("captum.attr")
    model, x = SmallCNN(2, 16).double().eval(), random_windows(3, 16, seed=5)
    feature = 1

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        return log_odds_score(model(inputs))

    inputs = x.clone().requires_grad_(True)
    saliency = captum_attr.Saliency(forward).attribute(inputs, target=feature, abs=False)
    x_grad = captum_attr.InputXGradient(forward).attribute(inputs, target=feature)
    taylor = taylor_effects(model, x)[:, feature]
    # the gradient is the same; gradient x input is one number per position (the reference
    # base's share), the Taylor effect subtracts it from the gradient at each alternative base
    torch.testing.assert_close(x_grad.sum(1), (saliency * x).sum(1))
    torch.testing.assert_close(taylor, saliency - x_grad.sum(1, keepdim=True))


def test_log_odds_score_is_the_ism_transform():
    ref, alt = torch.tensor([0.2, 0.9999999]), torch.tensor([0.7, 0.5])
    torch.testing.assert_close(log_odds_score(alt) - log_odds_score(ref), log_odds(alt, ref))
    z = torch.linspace(-5, 5, 11, dtype=torch.float64)
    torch.testing.assert_close(log_odds_score(torch.sigmoid(z), eps=0.0), z)


def test_passes_and_arguments():
    assert taylor_passes(4, 10) == {"forward": 10, "backward": 40}
    model = LogisticPWM(1, 8)
    with pytest.raises(ValueError, match="one-hot"):
        taylor_effects(model, torch.zeros(2, 3, 8))
    with pytest.raises(ValueError, match="batch_size"):
        taylor_effects(model, random_windows(1, 8), batch_size=0)
    with pytest.raises(ValueError, match="n_features"):
        taylor_passes(0)
