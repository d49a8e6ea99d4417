"""The one optimizer update every training loop of the course ends with.

:func:`optimizer_step` (check the loss, back-propagate, clip, step) is the update of a plain
loop; :func:`check_finite` and :func:`apply_gradients` are its two ends, shared with the
distributed update (:func:`course_lib.distributed.sharded_update`), whose gradients come from
several micro-batches and ranks. Introduced in chapter 1 with
:func:`course_lib.training.fit`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def optimizer_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    *,
    grad_clip: float | None = None,
    scheduler: Any = None,
    where: str = "",
) -> float:
    """One update shared by every loop: check the loss, back-propagate, clip, step.

    Raises ``FloatingPointError`` (naming ``where``, e.g. ``"at epoch 3"``) when ``loss`` is
    NaN or infinite; clips the gradient norm to ``grad_clip`` when given; steps ``scheduler``
    (a per-batch schedule) after the optimizer. Returns ``loss.item()``.
    """
    value = loss.item()
    check_finite(value, where)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    apply_gradients(model, optimizer, grad_clip=grad_clip, scheduler=scheduler)
    return value


def check_finite(value: float, where: str = "") -> None:
    """Raise ``FloatingPointError`` naming ``where`` when the loss ``value`` is NaN or infinite."""
    if not math.isfinite(value):
        raise FloatingPointError(f"loss became {value} {where}; lower the learning rate")


def apply_gradients(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    grad_clip: float | None = None,
    scheduler: Any = None,
) -> None:
    """The end of every update once gradients are in place: clip the gradient norm to
    ``grad_clip`` (when given), step the optimizer, then ``scheduler`` (a per-batch schedule)."""
    if grad_clip:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
