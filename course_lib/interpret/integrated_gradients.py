"""Integrated gradients (Sundararajan et al. 2017), a path attribution for one-hot models.

Gradient x input (:func:`~course_lib.interpret.attribution.gradient_x_input`) reads the gradient
at the input alone, where a saturated model may be flat. Integrated gradients averages the gradient
along the straight path from a baseline ``x'`` (default: all zeros, no base anywhere) to the
input ``x`` and multiplies by ``x - x'``::

    IG(x) = (x - x') * integral_0^1 grad F(x' + a (x - x')) da

The integral is a Gauss-Legendre quadrature over ``steps`` points (the rule captum uses by
default), so the attributions of a sequence add up to ``F(x) - F(x')`` up to the quadrature
error (completeness). All ``steps x n`` points on the paths are evaluated in batches.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from course_lib.training import Forward, default_forward, select_device


def gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``a_k`` and weights ``w_k`` of the ``steps``-point Gauss-Legendre rule on [0, 1]."""
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return 0.5 * (nodes + 1), 0.5 * weights


def integrated_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    baseline: torch.Tensor | None = None,
    steps: int = 50,
    forward: Forward = default_forward,
    device: str | torch.device = "auto",
    batch_size: int = 1024,
) -> np.ndarray:
    """Integrated gradients of the output logit, same shape as ``inputs``.

    Parameters
    ----------
    model
        Maps ``[n, ...]`` inputs to ``[n]`` scores (e.g. a one-hot CNN on ``[n, 4, L]``); it is
        put in evaluation mode and its parameters get no ``.grad``.
    inputs
        ``[n, ...]`` inputs (one-hot ``[n, 4, L]``).
    baseline
        ``x'``, broadcastable to ``inputs``; default all zeros.
    steps
        Quadrature points along each path.
    batch_size
        Path points per forward and backward pass.

    Returns
    -------
    numpy.ndarray
        ``[n, ...]`` attributions; for a one-hot input, summing over the base axis gives
        ``[n, L]``.
    """
    device = select_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    x = inputs.detach().to(device).float()
    base = torch.zeros_like(x) if baseline is None else baseline.to(device).float().expand_as(x)
    delta = x - base
    alphas, weights = (torch.from_numpy(v).to(device, torch.float32) for v in gauss_legendre(steps))
    shape = (-1,) + (1,) * x.dim()
    total = torch.zeros_like(x)
    per_pass = max(1, batch_size // max(1, len(x)))  # quadrature points per pass
    for start in range(0, steps, per_pass):
        a, w = alphas[start : start + per_pass], weights[start : start + per_pass]
        points = (base + a.view(shape) * delta).reshape(-1, *x.shape[1:]).requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(forward(model, points).sum(), points)
        total += (grad.view(len(a), *x.shape) * w.view(shape)).sum(0)
    return (total * delta).detach().cpu().numpy()
