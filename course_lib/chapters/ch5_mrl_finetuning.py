"""Fine-tuning UTR-LM on mean ribosome load over real Random7600 folds (chapter 5).

- :func:`fold_training_rows`, :func:`fold_loaders`: a fold's training rows (a seeded subset),
  its tables with a training-only scaler and token loaders;
- :func:`train_steps` (a :class:`FinetuneRecipe`: step budget, parameter groups with a lower
  backbone learning rate, a frozen-backbone warm-up, patience on validation R²), the loop
  of the sample-efficiency curve (:mod:`course_lib.chapters.ch5_efficiency`);
- :func:`regression_loss`, :func:`evaluate_mrl` (metrics in MRL units).

Introduced in chapter 5 (``notebooks/05_utr_lm.ipynb``); the folds come from
:mod:`course_lib.utr_protocol` (chapter 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib.metrics import r2, regression_metrics
from course_lib.models.utr_lm import MAX_TOKENS, UTRLMForMRL
from course_lib.training import FitResult, default_forward, predict, warmup_linear_schedule
from course_lib.utr_protocol import FoldSplit, FoldTables, RealUTRProtocol, fold_tables

#: Regression losses :func:`regression_loss` accepts.
LOSSES = ("huber", "mse")


def fold_training_rows(split: FoldSplit, n_fit: int | None, seed: int = 0) -> np.ndarray:
    """A fold's training rows: all of ``split.fit``, or a subset of ``n_fit`` of them.

    The subset is drawn with ``seed + split.fold``, so a fold's rows are the same whichever
    cell asks for them (the detailed look at fold 0 and the ablation over folds).
    """
    index = split.fit
    if n_fit is not None and n_fit < len(index):
        rng = np.random.default_rng(seed + split.fold)
        index = np.sort(rng.choice(index, n_fit, replace=False))
    return index


def fold_loaders(
    protocol: RealUTRProtocol, split: FoldSplit, n_fit: int | None, batch_size: int, seed: int = 0
) -> tuple[FoldTables, dict[str, DataLoader]]:
    """One fold's tables (training-only scaler) and token loaders with scaled targets.

    Loader names: ``train`` (shuffled), ``val`` (selection), ``test_random`` (the fold's
    held-out Random7600 UTRs) and ``test_human`` (all of Human7600), as in
    :data:`course_lib.datasets.utr.TEST_NAMES`.
    """
    from course_lib.datasets.utr import scale_labels
    from course_lib.models.utr_lm import encode_utrs, utr_vocabulary
    from course_lib.token_batches import mrl_loader

    parts = fold_tables(protocol.random, split, fold_training_rows(split, n_fit, seed))
    tables = {"train": parts.fit, "val": parts.val, "test_random": parts.test}
    tables["test_human"] = protocol.human
    vocab = utr_vocabulary()
    loaders = {
        name: mrl_loader(
            encode_utrs(t["utr"], vocab, MAX_TOKENS),
            scale_labels(t, parts.scaler),
            batch_size,
            shuffle=name == "train",
            seed=seed,
        )
        for name, t in tables.items()
    }
    return parts, loaders


@dataclass(frozen=True)
class FinetuneRecipe:
    """How one model is fine-tuned by :func:`train_steps`.

    Attributes
    ----------
    lr
        Learning rate of the head (AdamW, the peak of a warm-up and linear decay).
    backbone_lr_factor
        The backbone's learning rate is ``lr`` times this (1 for a model trained from scratch).
    frozen_steps
        Head-only warm-up: the backbone stays frozen for this many first steps.
    steps
        Most optimizer steps.
    eval_every
        Steps between two validations (selection on validation R2).
    patience
        Validations without a better R2 before stopping (``None``: never).
    loss
        ``"huber"`` or ``"mse"``.
    """

    lr: float
    backbone_lr_factor: float = 1.0
    frozen_steps: int = 0
    steps: int = 300
    eval_every: int = 25
    patience: int | None = None
    loss: str = "huber"


def parameter_groups(model: nn.Module, lr: float, backbone_lr_factor: float) -> list[dict]:
    """AdamW groups: the backbone (``model.esm``, when there is one) at ``lr *
    backbone_lr_factor``, everything else at ``lr``."""
    backbone = getattr(model, "esm", None)
    own = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    head = [p for p in model.parameters() if id(p) not in own]
    groups = [{"params": head, "lr": lr}]
    if backbone is not None:
        groups.append({"params": list(backbone.parameters()), "lr": lr * backbone_lr_factor})
    return groups


def train_steps(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    recipe: FinetuneRecipe,
    device: torch.device | str = "auto",
    show_progress: bool = True,
    description: str = "fine-tuning",
) -> FitResult:
    """Fine-tune for ``recipe.steps`` steps with parameter groups, keeping the best validation R2.

    A :class:`~course_lib.models.utr_lm.UTRLMForMRL` keeps its backbone frozen for the first
    ``recipe.frozen_steps`` steps, then releases it (one built frozen stays frozen); AdamW
    (weight decay 0.01) with :func:`parameter_groups`, warm-up and linear decay over all
    steps, gradients clipped at 1. The history has one row
    per validation (``epoch`` its number, ``step``, ``train_loss``, ``val_loss``, ``val_R2``);
    the model holds the best state, in eval mode. Under ``torchrun`` every rank draws the same
    batches and trains its share of each (:func:`course_lib.distributed.batch_update`), the
    model in ``DistributedDataParallel`` that tolerates the frozen warm-up's unused weights.
    """
    from course_lib import distributed
    from course_lib.pretraining import endless
    from course_lib.training import BestState, evaluate_loss, run_epochs, select_device

    device = select_device(device)
    model.to(device)
    net = distributed.wrap_for_run(model)
    if isinstance(model, UTRLMForMRL) and model.backbone_frozen:
        recipe = replace(recipe, frozen_steps=0)  # frozen throughout: no warm-up to run
    groups = parameter_groups(model, recipe.lr, recipe.backbone_lr_factor)
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    scheduler = warmup_linear_schedule(optimizer, recipe.steps)
    loss_fn, batches, done = regression_loss(recipe.loss), endless(train_loader), [0]

    def one_block(block: int) -> dict[str, float]:
        n = min(recipe.eval_every, recipe.steps - done[0])
        train_loss = _train_block(
            net, batches, range(done[0], done[0] + n), recipe, (optimizer, scheduler), loss_fn
        )
        done[0] += n
        val_loss, score = evaluate_loss(model, val_loader, loss_fn, device, default_forward, r2)
        row = {"epoch": block, "step": done[0], "train_loss": train_loss, "val_loss": val_loss}
        return {**row, "val_R2": score, "lr": optimizer.param_groups[0]["lr"]}

    blocks = math.ceil(recipe.steps / recipe.eval_every)
    best = BestState(higher_is_better=True)
    show_progress = show_progress and distributed.is_main()
    return run_epochs(
        model, one_block, best, blocks, "val_R2", recipe.patience, None, description, show_progress
    )


def _train_block(
    net: nn.Module,
    batches: Iterator[Any],
    steps: range,
    recipe: FinetuneRecipe,
    optimization: tuple[torch.optim.Optimizer, Any],
    loss_fn: nn.Module,
) -> float:
    """Run the optimizer steps ``steps`` (their numbers, from 0) on ``net`` (the model, in
    ``DistributedDataParallel`` under ``torchrun``); the mean training loss."""
    from course_lib.distributed import batch_update
    from course_lib.training import to_device

    model = getattr(net, "module", net)
    device = next(model.parameters()).device
    optimizer, scheduler = optimization
    total = 0.0
    for number, (inputs, target) in zip(steps, batches, strict=False):
        if recipe.frozen_steps:
            _freeze_for_warmup(model, number < recipe.frozen_steps)
        net.train()
        inputs, target = to_device(inputs, device), to_device(target, device)
        where = f"at fine-tuning step {number + 1}"
        options = {"grad_clip": 1.0, "scheduler": scheduler, "where": where}
        total += batch_update(net, optimizer, inputs, target, loss_fn, default_forward, **options)
    if recipe.frozen_steps:
        _freeze_for_warmup(model, False)
    return total / max(len(steps), 1)


def _freeze_for_warmup(model: nn.Module, frozen: bool) -> None:
    """Freeze (or release) a UTR-LM backbone; models without one are left alone."""
    if isinstance(model, UTRLMForMRL) and model.backbone_frozen != frozen:
        model.freeze_backbone(frozen)


def regression_loss(name: str) -> nn.Module:
    """``"huber"`` (``HuberLoss(delta=1)``, robust to noisy low-read labels) or ``"mse"``."""
    if name == "huber":
        return nn.HuberLoss(delta=1.0)
    if name == "mse":
        return nn.MSELoss()
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


def evaluate_mrl(
    model: nn.Module,
    loaders: Mapping[str, DataLoader],
    inverse: Callable[[np.ndarray], np.ndarray],
    device: torch.device | str = "auto",
) -> dict[str, dict[str, float]]:
    """Regression metrics per named test loader, in MRL units.

    ``inverse`` maps scaled values back to MRL (e.g. ``lambda v: unscale(v, scaler)``). Each
    entry holds ``MSE, MAE, R2, Pearson r, Pearson r^2, Spearman rho`` and ``n``.
    """
    out = {}
    for name, loader in loaders.items():
        y, p = predict(model, loader, device)
        out[name] = {**regression_metrics(inverse(y), inverse(p)), "n": int(len(y))}
    return out
