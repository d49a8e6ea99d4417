"""One fit/evaluate loop for every chapter.

:func:`fit` trains with a progress bar, evaluates on the validation set after each epoch,
keeps the best state (lowest validation loss, or highest validation score), stops early when
asked to, and returns the history as a DataFrame. The test set never enters :func:`fit`.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib.progress import progress

Forward = Callable[[nn.Module, Any], torch.Tensor]
Score = Callable[[np.ndarray, np.ndarray], float]


def select_device(preference: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then CPU; otherwise the named device."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available; use device='auto'")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) for repeatable runs."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (the legacy global RNG that libraries draw from)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a tensor, or tuples/lists/dicts of tensors, to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def default_forward(model: nn.Module, inputs: Any) -> torch.Tensor:
    """Call ``model(inputs)``, ``model(*inputs)`` for tuples or ``model(**inputs)`` for dicts."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, tuple | list):
        return model(*inputs)
    return model(inputs)


@dataclass
class FitResult:
    """What :func:`fit` returns; the model already holds the best state."""

    history: pd.DataFrame
    best_epoch: int
    best_value: float
    monitor: str
    stopped_early: bool
    seconds: float


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device | str = "auto",
    forward: Forward = default_forward,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over ``(inputs, target)`` batches; return ``(targets, outputs)`` as numpy.

    Outputs are concatenated along the batch axis, so their shape is ``[n, ...]``.
    """
    device = select_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    targets, outputs = [], []
    for inputs, target in loader:
        out = forward(model, to_device(inputs, device))
        outputs.append(out.detach().float().cpu().numpy())
        targets.append(np.asarray(target.cpu().numpy() if torch.is_tensor(target) else target))
    return np.concatenate(targets), np.concatenate(outputs)


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-3,
    device: torch.device | str = "auto",
    forward: Forward = default_forward,
    val_score: Score | None = None,
    val_score_name: str = "val_score",
    patience: int | None = None,
    scheduler: Any = None,
    scheduler_per_batch: bool = False,
    grad_clip: float | None = None,
    checkpoint_path: str | Path | None = None,
    show_progress: bool = True,
    description: str = "training",
) -> FitResult:
    """Train ``model`` and keep the state that is best on the validation set.

    Parameters
    ----------
    model
        Any module; ``forward(model, inputs)`` must return what ``loss_fn`` expects.
    train_loader, val_loader
        Yield ``(inputs, target)``; inputs may be a tensor, a tuple or a dict of tensors.
    loss_fn
        ``loss_fn(output, target) -> scalar``.
    epochs
        Maximum number of epochs.
    optimizer
        Default ``Adam(model.parameters(), lr)``.
    val_score
        Optional ``score(targets, outputs)`` (higher is better) to select on instead of the
        validation loss, e.g. ROC AUC.
    patience
        Stop after this many epochs without improvement (``None``: never stop early).
    scheduler, scheduler_per_batch
        A learning-rate scheduler stepped after each batch or each epoch.
    grad_clip
        Clip the gradient norm to this value.
    checkpoint_path
        Also save the best ``state_dict`` there.

    Returns
    -------
    FitResult
        ``history`` has one row per epoch: ``epoch, train_loss, val_loss[, val_score], lr,
        seconds``. The model is left in the best state, in eval mode.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = select_device(device) if isinstance(device, str) else device
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    monitor = val_score_name if val_score else "val_loss"
    best_value = -np.inf if val_score else np.inf
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch, since_best, stopped_early = 0, 0, False
    rows = []
    start = time.perf_counter()
    bar = progress(range(1, epochs + 1), desc=description, disable=not show_progress, unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for inputs, target in train_loader:
            inputs, target = to_device(inputs, device), to_device(target, device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(forward(model, inputs), target)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss became {loss.item()} at epoch {epoch}; lower the learning rate"
                )
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if scheduler is not None and scheduler_per_batch:
                scheduler.step()
            n = len(target)
            total += loss.item() * n
            count += n
        if scheduler is not None and not scheduler_per_batch:
            scheduler.step()
        val_loss, score = evaluate_loss(model, val_loader, loss_fn, device, forward, val_score)
        row = {"epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val_loss}
        if val_score:
            row[val_score_name] = score
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        value = row[monitor]
        better = value > best_value if val_score else value < best_value
        improved = bool(np.isfinite(value) and better)
        if improved:
            best_value, best_epoch, since_best = value, epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if checkpoint_path:
                Path(checkpoint_path).parent.mkdir(parents=True, exist_ok=True)
                torch.save(best_state, checkpoint_path)
        else:
            since_best += 1
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(train=f"{row['train_loss']:.4f}", val=f"{value:.4f}", best=best_epoch)
        if patience is not None and since_best >= patience:
            stopped_early = True
            break
    if best_state is None:
        raise FloatingPointError(
            f"the validation {monitor} was never finite in {len(rows)} epochs; check the "
            "validation set (a score such as ROC AUC needs both classes) and the learning rate"
        )
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(
        history=pd.DataFrame(rows),
        best_epoch=best_epoch,
        best_value=float(best_value),
        monitor=monitor,
        stopped_early=stopped_early,
        seconds=time.perf_counter() - start,
    )


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    device: torch.device,
    forward: Forward = default_forward,
    score: Score | None = None,
) -> tuple[float, float | None]:
    """Mean loss over ``loader`` and, if given, ``score(targets, outputs)``."""
    model.eval()
    total, count = 0.0, 0
    targets, outputs = [], []
    for inputs, target in loader:
        inputs, target = to_device(inputs, device), to_device(target, device)
        out = forward(model, inputs)
        total += loss_fn(out, target).item() * len(target)
        count += len(target)
        if score:
            targets.append(target.float().cpu().numpy())
            outputs.append(out.float().cpu().numpy())
    if count == 0:
        raise ValueError("the validation loader is empty")
    value = score(np.concatenate(targets), np.concatenate(outputs)) if score else None
    return total / count, value


def warmup_linear_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.1
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_fraction`` of the steps, then linear decay to 10 %."""
    warmup = max(1, int(round(warmup_fraction * total_steps)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.1, 1.0 - 0.9 * (step - warmup) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def dnabert_optimizer(
    model: nn.Module,
    total_steps: int,
    lr: float = 2e-4,
    weight_decay: float = 0.01,
    warmup_fraction: float = 0.1,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with DNABERT's fine-tuning schedule: linear warm-up then linear decay to 0.

    Biases and LayerNorm weights get no weight decay (as in DNABERT's ``run_finetune.py``).
    DNABERT pretrained with ``betas=(0.9, 0.98), eps=1e-6``. Step the scheduler every batch.
    With ``weight_decay=0`` it is Adam with the same schedule (the chapter's BiLSTM uses it).
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
        eps=eps,
        betas=betas,
    )
    warmup = max(1, math.ceil(warmup_fraction * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
