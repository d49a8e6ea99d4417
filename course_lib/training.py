"""One fit/evaluate loop for every chapter.

:func:`fit` trains with a progress bar, evaluates on the validation set after each epoch,
keeps the best state (lowest validation loss, or highest validation score), stops early when
asked to, and returns the history as a DataFrame. The test set never enters :func:`fit`.
:func:`make_predictor` wraps a trained model as ``predict(seqs) -> [n]`` on one-hot input.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib.encoding import Padding, one_hot
from course_lib.progress import progress

if TYPE_CHECKING:
    from sklearn.preprocessing import StandardScaler

Forward = Callable[[nn.Module, Any], torch.Tensor]
Score = Callable[[np.ndarray, np.ndarray], float]
#: ``predict(seqs) -> [n]``: a trained model as a function of ``n`` sequences.
Predictor = Callable[[Sequence[str]], np.ndarray]


def select_device(preference: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then CPU; a name or a ``torch.device`` is checked
    and returned as a ``torch.device``.

    Raises
    ------
    ValueError
        An unknown device name, or a GPU that this machine does not have; the message names the
        notebook parameter ``device`` and the fix.
    """
    if isinstance(preference, str) and preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    fix = "fix it with `papermill ... -p device auto` (or cpu, cuda, cuda:1, mps)"
    try:
        device = torch.device(preference)
    except RuntimeError:
        raise ValueError(f"device={preference!r} is not a device name; {fix}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={preference!r}: no CUDA GPU is available here; {fix}")
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps and mps.is_available()):
        raise ValueError(f"device={preference!r}: Apple's MPS is not available here; {fix}")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) for repeatable runs.

    Raises
    ------
    ValueError
        ``seed`` is not an integer between 0 and 2**32 - 1 (numpy's range), naming the notebook
        parameter ``seed``.
    """
    integer = isinstance(seed, int | np.integer) and not isinstance(seed, bool)
    if not integer or not 0 <= seed < 2**32:
        raise ValueError(
            f"seed={seed!r} is not allowed: the random seed must be an integer between 0 and "
            "2**32 - 1; fix it with `papermill ... -p seed 0`"
        )
    seed = int(seed)
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
    """What every training loop of the course returns; the model already holds the best state.

    ``history`` has one row per epoch (or per evaluation, for step-based loops);
    ``best_epoch`` is the epoch (or step) whose state the model keeps, ``best_value`` its
    ``monitor`` value.
    """

    history: pd.DataFrame
    best_epoch: int
    best_value: float
    monitor: str
    stopped_early: bool
    seconds: float


class BestState:
    """The best model state seen so far by a monitored value, kept on the CPU.

    Parameters
    ----------
    higher_is_better
        ``True`` for a score (ROC AUC, R2), ``False`` for a loss.
    """

    def __init__(self, higher_is_better: bool = False) -> None:
        self.higher_is_better = higher_is_better
        self.value = -math.inf if higher_is_better else math.inf
        self.epoch = 0
        self.since_best = 0
        self.state: dict[str, torch.Tensor] | None = None

    def update(self, model: nn.Module, value: float, epoch: int) -> bool:
        """Copy the model's state if the finite ``value`` improves on the best; say whether."""
        better = value > self.value if self.higher_is_better else value < self.value
        if math.isfinite(value) and better:
            self.value, self.epoch, self.since_best = float(value), epoch, 0
            self.state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            return True
        self.since_best += 1
        return False

    def restore(self, model: nn.Module) -> bool:
        """Load the best state into ``model`` (if there is one) and put it in eval mode."""
        if self.state is not None:
            model.load_state_dict(self.state)
        model.eval()
        return self.state is not None


def epoch_bar(n: int, description: str, show_progress: bool = True, unit: str = "epoch"):
    """A progress bar over ``1 .. n`` (epochs or steps)."""
    return progress(range(1, n + 1), desc=description, disable=not show_progress, unit=unit)


def show_values(bar: Any, **values: Any) -> None:
    """Show ``values`` next to the progress bar (a no-op for a disabled bar)."""
    if hasattr(bar, "set_postfix"):
        bar.set_postfix(**values)


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
    device = select_device(device)
    model.to(device).eval()
    targets, outputs = [], []
    for inputs, target in loader:
        out = forward(model, to_device(inputs, device))
        outputs.append(out.detach().float().cpu().numpy())
        targets.append(np.asarray(target.cpu().numpy() if torch.is_tensor(target) else target))
    return np.concatenate(targets), np.concatenate(outputs)


def make_predictor(
    model: nn.Module,
    forward: Forward = default_forward,
    scaler: StandardScaler | None = None,
    batch_size: int = 2048,
    padding: Padding = "right",
) -> Predictor:
    """Wrap ``model`` as ``predict(seqs) -> [n]`` float64 (unscaled with ``scaler`` when given).

    Parameters
    ----------
    model
        A trained model whose ``forward(model, x)`` maps one-hot ``x`` ``[batch, L, 4]`` to
        ``[batch]`` (or ``[batch, 1]``) outputs; put in eval mode, run on its parameters' device.
    forward
        How to call the model (e.g. with a library index).
    scaler
        The label scaler fitted on the training rows; ``None`` returns the raw outputs.
    batch_size
        Sequences per forward pass.
    padding
        Side on which sequences shorter than the longest of a batch are padded (all-zero).
    """
    device = next(model.parameters()).device

    @torch.no_grad()
    def predict(seqs: Sequence[str]) -> np.ndarray:
        model.eval()
        seqs = list(seqs)
        outputs = []
        for start in range(0, len(seqs), batch_size):
            x = torch.from_numpy(one_hot(seqs[start : start + batch_size], padding=padding))
            outputs.append(forward(model, x.to(device)).float().cpu().numpy().ravel())
        values = np.concatenate(outputs) if outputs else np.zeros(0, np.float32)
        if scaler is None:
            return values.astype(np.float64)
        return scaler.inverse_transform(values.reshape(-1, 1).astype(np.float64)).ravel()

    return predict


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
    """Train ``model``; keep the state best on validation (in eval mode); return the history.

    Loaders yield ``(inputs, target)``; ``loss_fn(forward(model, inputs), target)`` is
    minimised by ``optimizer`` (default ``Adam(lr)``). The epoch is selected on the validation
    loss or, with ``val_score(targets, outputs)`` (higher is better, e.g. ROC AUC), on it.
    ``patience``: stop after that many epochs without improvement. ``scheduler`` steps per
    batch (``scheduler_per_batch``) or per epoch; ``grad_clip`` clips the gradient norm;
    ``checkpoint_path`` also saves the best ``state_dict``. ``history`` has one row per epoch:
    ``epoch, train_loss, val_loss[, val_score], lr, seconds``. Under ``torchrun``
    (:mod:`course_lib.distributed`) each batch is the global batch, shared out over the ranks
    (:func:`~course_lib.distributed.batch_update`); rank 0 alone shows progress and writes.
    """
    from course_lib import distributed

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = select_device(device)
    model.to(device)
    net = distributed.wrap_for_run(model)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    per_batch = scheduler if scheduler_per_batch else None
    options = {"loss_fn": loss_fn, "forward": forward, "grad_clip": grad_clip}
    step = partial(distributed.batch_update, net, optimizer, scheduler=per_batch, **options)

    def one_epoch(epoch: int) -> dict[str, float]:
        train_loss = train_epoch(net, train_loader, device, step, epoch)
        if scheduler is not None and not scheduler_per_batch:
            scheduler.step()
        val_loss, score = evaluate_loss(model, val_loader, loss_fn, device, forward, val_score)
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss}
        row.update({val_score_name: score} if val_score else {})
        return {**row, "lr": optimizer.param_groups[0]["lr"]}

    monitor = val_score_name if val_score else "val_loss"
    best = BestState(higher_is_better=val_score is not None)
    show = show_progress and distributed.is_main()
    args = (monitor, patience, checkpoint_path, description, show)
    return run_epochs(model, one_epoch, best, epochs, *args)


def run_epochs(
    model: nn.Module,
    one_epoch: Callable[[int], dict[str, float]],
    best: BestState,
    epochs: int,
    monitor: str,
    patience: int | None = None,
    checkpoint_path: str | Path | None = None,
    description: str = "training",
    show_progress: bool = True,
) -> FitResult:
    """Run ``one_epoch(epoch) -> history row`` for up to ``epochs`` epochs, with a progress bar.

    Keeps the state best by ``row[monitor]`` (also saved to ``checkpoint_path``), stops after
    ``patience`` epochs without improvement, adds ``seconds`` to each row and leaves the model
    in its best state, in eval mode.
    """
    from course_lib.distributed import is_main

    rows, stopped_early = [], False
    start = time.perf_counter()
    bar = epoch_bar(epochs, description, show_progress)
    for epoch in bar:
        t0 = time.perf_counter()
        row = one_epoch(epoch)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        if best.update(model, row[monitor], epoch) and checkpoint_path and is_main():
            Path(checkpoint_path).parent.mkdir(parents=True, exist_ok=True)
            torch.save(best.state, checkpoint_path)
        show_values(
            bar, train=f"{row['train_loss']:.4f}", val=f"{row[monitor]:.4f}", best=best.epoch
        )
        if patience is not None and best.since_best >= patience:
            stopped_early = True
            break
    if not best.restore(model):
        raise FloatingPointError(
            f"the validation {monitor} was never finite in {len(rows)} epochs; check the "
            "validation set (a score such as ROC AUC needs both classes) and the learning rate"
        )
    seconds = time.perf_counter() - start
    return FitResult(pd.DataFrame(rows), best.epoch, best.value, monitor, stopped_early, seconds)


def train_epoch(
    net: nn.Module,
    loader: DataLoader,
    device: torch.device,
    step: Callable[..., float],
    epoch: int,
) -> float:
    """One pass over ``(inputs, target)`` batches; the mean training loss.

    ``step(inputs, target, where=...) -> batch loss`` is
    :func:`course_lib.distributed.batch_update` with the model (``net``, wrapped under
    ``torchrun``), optimizer, loss and forward bound.
    """
    net.train()
    total, count = 0.0, 0
    for inputs, target in loader:
        inputs, target = to_device(inputs, device), to_device(target, device)
        n = len(target)
        total += step(inputs, target, where=f"at epoch {epoch}") * n
        count += n
    return total / max(count, 1)


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
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_fraction: float = 0.1,
    final_factor: float = 0.1,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_fraction`` of the steps, then linear decay.

    The learning rate rises to its full value over ``max(1, round(warmup_fraction *
    total_steps))`` steps, then falls linearly to ``final_factor`` times it at the last step
    (UTR-LM: 0.1; DNABERT: 0). Step the scheduler after every batch.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    warmup = max(1, int(round(warmup_fraction * total_steps)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        decay = (total_steps - step) / max(1, total_steps - warmup)
        return max(final_factor, final_factor + (1.0 - final_factor) * decay)

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
    """AdamW with DNABERT's fine-tuning schedule: :func:`warmup_linear_schedule` decaying to 0.

    Biases and LayerNorm weights get no weight decay (as in DNABERT's ``run_finetune.py``).
    DNABERT pretrained with ``betas=(0.9, 0.98), eps=1e-6``. Step the scheduler every batch.
    With ``weight_decay=0`` it is Adam with the same schedule (the chapter's BiLSTM uses it).
    """
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
    schedule = warmup_linear_schedule(optimizer, total_steps, warmup_fraction, final_factor=0.0)
    return optimizer, schedule
