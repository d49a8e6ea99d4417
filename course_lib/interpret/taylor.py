"""The first-order Taylor estimate of every variant's effect: an ISM map from gradients.

Saturation mutagenesis (:func:`~course_lib.interpret.variant_mutagenesis.ism_log_odds`) runs the
model on all ``3L`` variants of a window. Expanding the model's log-odds ``g_f`` to first order
around the reference one-hot ``x`` estimates them all from the gradient at ``x``::

    effect[f, b, p] = g_f(x with base b at p) - g_f(x)
                    ~ grad g_f(x) . (e[b, p] - e[ref(p), p])
                    = dg_f/dx[b, p] - sum_k x[k, p] dg_f/dx[k, p]

with ``g = log((prob + e) / (1 - prob + e))``, the transform of the Multiplexer target
(:func:`~course_lib.interpret.variant_mutagenesis.log_odds`), so that the estimate and the
ISM map are on the same scale and in the same layout ``[F, 4, L]`` (bases A, G, C, T; zero at
the reference base). It is exact when ``g`` is linear in the one-hot input (a logistic
regression on the one-hot window) and an approximation otherwise: a variant that completes or
breaks a motif moves the model far from ``x``, and where a ReLU inside the model is off (a
near-match below its filter's threshold) the gradient is zero although the substitution that
completes the motif changes the log-odds a lot. (A final sigmoid does not flatten the gradient:
``g`` undoes it, away from ``e``.)

Cost per window: one forward pass and one backward pass per feature (``F`` of them; both run on
batches of windows), against ``3L + 1`` forward passes for ISM: cheap when ``F`` is small, and
growing with ``F`` where ISM grows with ``L`` (the published Beluga has ``F = 2002`` and
``3L + 1 = 6001``).
Gradient x input (captum's ``InputXGradient``) keeps only the second term: one number per
position, the reference base's share, not an effect per alternative base.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib.interpret.variant_mutagenesis import EPSILON


def log_odds_score(probabilities: torch.Tensor, eps: float = EPSILON) -> torch.Tensor:
    """``log((p + e) / (1 - p + e))`` elementwise: the log-odds whose changes ISM reports.

    ``eps = 0`` gives the exact logit, which equals the pre-sigmoid output of a sigmoid model.
    """
    return torch.log(probabilities + eps) - torch.log(1 - probabilities + eps)


def input_gradients(
    model: nn.Module, references: torch.Tensor, eps: float = EPSILON
) -> torch.Tensor:
    """Gradient of every feature's log-odds with respect to the one-hot input.

    Windows are independent (the model must not mix rows of a batch, as batch norm in
    training mode would), so the gradient of a feature's sum over the batch gives each window's
    gradient: one backward pass per feature. (Vmapping the ``F`` backward passes with
    ``is_grads_batched`` was slower on a CPU at the chapter's sizes, and its first call costs
    seconds.)

    Parameters
    ----------
    model
        Maps ``[b, 4, L]`` one-hot to ``[b, F]`` probabilities; used as it is (put it in eval
        mode first); its parameters get no ``.grad``.
    references
        ``[b, 4, L]`` one-hot windows on the model's device.

    Returns
    -------
    torch.Tensor
        ``[b, F, 4, L]``: ``out[i, f, k, p] = d log-odds_f / d x[k, p]`` at window ``i``.
    """
    x = references.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        scores = log_odds_score(model(x), eps)  # [b, F]
        last = scores.shape[1] - 1
        grads = [
            torch.autograd.grad(scores[:, f].sum(), x, retain_graph=f < last)[0]
            for f in range(scores.shape[1])
        ]
    return torch.stack(grads, 1)  # [b, F, 4, L]


def taylor_from_gradients(gradients: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """``grad . (e_alt - e_ref)`` for every position and base, from input gradients.

    Parameters
    ----------
    gradients
        ``[b, F, 4, L]`` gradients of each feature with respect to the one-hot input.
    references
        ``[b, 4, L]`` the one-hot windows they were taken at.

    Returns
    -------
    torch.Tensor
        ``[b, F, 4, L]``; zero at the reference base; at an all-zero (N) column the gradient
        itself.
    """
    reference_term = (gradients * references[:, None]).sum(-2, keepdim=True)  # [b, F, 1, L]
    return gradients - reference_term


def taylor_effects(
    model: nn.Module, references: torch.Tensor, batch_size: int = 64, eps: float = EPSILON
) -> torch.Tensor:
    """First-order Taylor estimate of every variant's log-odds change, the ISM map's layout.

    Parameters
    ----------
    model
        Maps ``[b, 4, L]`` one-hot (A, G, C, T) to ``[b, F]`` probabilities (e.g.
        :class:`~course_lib.models.beluga.Beluga`); it is put in eval mode.
    references
        ``[n, 4, L]`` one-hot windows, on the model's device.
    batch_size
        Windows per forward pass (each also holds ``F`` gradients of its size).
    eps
        The ``e`` of the log-odds (``EPSILON``, as in the ISM target).

    Returns
    -------
    torch.Tensor
        ``[n, F, 4, L]`` estimated log-odds changes, ``out[i, f, b, p]`` for base ``b`` at
        position ``p`` of window ``i`` (zero at the reference base), detached.
    """
    if references.dim() != 3 or references.shape[1] != 4:
        raise ValueError(f"references must be one-hot [n, 4, L], got {tuple(references.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    model.eval()
    parts = []
    for start in range(0, len(references), batch_size):
        batch = references[start : start + batch_size]
        parts.append(taylor_from_gradients(input_gradients(model, batch, eps), batch))
    return torch.cat(parts)


def taylor_passes(n_features: int, windows: int = 1) -> dict[str, int]:
    """Passes of :func:`taylor_effects`: one forward per window, one backward per feature.

    Returns
    -------
    dict
        ``forward`` (``windows``) and ``backward`` (``windows * n_features``, counted per
        window and feature although each backward pass serves a whole batch of windows).
    """
    if n_features < 1 or windows < 0:
        raise ValueError(f"need n_features >= 1 and windows >= 0, got {n_features}, {windows}")
    return {"forward": windows, "backward": windows * n_features}
