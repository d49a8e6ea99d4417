"""Fine-tuning UTR-LM on mean ribosome load over real Random7600 folds (chapter 5).

- :func:`fold_training_rows`, :func:`fold_loaders`: a fold's training rows (a seeded subset),
  its tables with a training-only scaler and token loaders;
- :func:`finetune` (selection on validation R²), :func:`regression_loss`, :func:`evaluate_mrl`
  (metrics in MRL units);
- :func:`real_fold_ablation`: every pretraining variant fine-tuned on every fold, scored on the
  fold's held-out UTRs and on Human7600 (:class:`Ablation`), and
  :func:`published_fold_scores`, a published model's rows on the same folds.

Introduced in chapter 5 (``notebooks/05_utr_lm.ipynb``); the folds come from
:mod:`course_lib.utr_protocol` (chapter 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from course_lib.metrics import r2, regression_metrics
from course_lib.models.utr_lm import MAX_TOKENS, UTRLMForMRL
from course_lib.training import FitResult, fit, predict, warmup_linear_schedule
from course_lib.utr_protocol import FoldSplit, FoldTables, RealUTRProtocol, fold_tables

#: Regression losses :func:`finetune` accepts.
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


@dataclass
class Ablation:
    """The pretraining ablation over real Random7600 folds.

    Attributes
    ----------
    per_fold
        One row per variant and fold: ``n fit`` and ``R2``, ``Pearson r^2`` of
        ``Random7600 fold`` (the fold's held-out UTRs) and ``Human7600``.
    human
        ``{variant: [n_human]}`` Human7600 predictions (MRL) averaged over folds.
    fits
        ``{variant: [FitResult per fold]}`` (training curves, selected epochs).
    first_models
        ``{variant: model}`` fine-tuned on the first fold, for a closer look.
    """

    per_fold: pd.DataFrame
    human: dict[str, np.ndarray]
    fits: dict[str, list[FitResult]]
    first_models: dict[str, nn.Module]


def real_fold_ablation(
    sources: Mapping[str, Any],
    protocol: RealUTRProtocol,
    settings: Mapping[str, Any],
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> Ablation:
    """Fine-tune every variant on real Random7600 folds; test on the fold and on Human7600.

    ``sources`` maps a variant to a config (no pretraining) or a checkpoint folder. Each of the
    first ``settings["real_folds"]`` folds trains on its fit rows (a seeded subset of
    ``settings["real_n_fit"]``, :func:`fold_training_rows`) with a scaler fitted on them,
    selects on the fold's inner validation rows, and scores its held-out rows and all of
    Human7600.
    """
    from course_lib.training import seed_everything

    rows, human, fits, first = [], {}, {}, {}
    for split in protocol.folds[: settings["real_folds"]]:
        parts, loaders = fold_loaders(
            protocol, split, settings["real_n_fit"], settings["batch_size"], seed
        )
        for variant, source in sources.items():
            seed_everything(seed + split.fold)
            model, fit_ = _finetune_variant(
                source, loaders, settings, device, f"fold {split.fold}: {variant}"
            )
            scores, human_pred = _fold_scores(model, loaders, parts.scaler, device)
            rows.append({"variant": variant, "fold": split.fold, "n fit": len(parts.fit), **scores})
            human.setdefault(variant, []).append(human_pred)
            fits.setdefault(variant, []).append(fit_)
            first.setdefault(variant, model)
    human_mean = {v: np.mean(p, axis=0) for v, p in human.items()}
    return Ablation(pd.DataFrame(rows), human_mean, fits, first)


def _finetune_variant(
    source: Any,
    loaders: Mapping[str, DataLoader],
    settings: Mapping[str, Any],
    device: torch.device | str,
    description: str,
) -> tuple[nn.Module, FitResult]:
    """Build one variant's MRL model from ``source`` and fine-tune it on a fold's loaders."""
    from course_lib.models.utr_lm import mrl_model

    model = mrl_model(
        source,
        head=settings["head"],
        pooling=settings["pooling"],
        head_channels=settings["head_channels"],
        freeze_backbone=settings["freeze_backbone"],
    )
    fit_ = finetune(
        model,
        loaders["train"],
        loaders["val"],
        loss=settings["loss"],
        epochs=settings["finetune_epochs"],
        lr=settings["finetune_lr"],
        patience=settings["patience"],
        device=device,
        description=description,
    )
    return model, fit_


def _fold_scores(
    model: nn.Module, loaders: Mapping[str, DataLoader], scaler: Any, device: torch.device | str
) -> tuple[dict[str, float], np.ndarray]:
    """R2 and Pearson r^2 on a fold's two test sets, and the ``[n_human]`` MRL predictions."""
    from course_lib.datasets.utr import unscale

    scores, human_pred = {}, None
    for name, label in (("test_random", "Random7600 fold"), ("test_human", "Human7600")):
        y, pred = predict(model, loaders[name], device)
        y, pred = unscale(y, scaler), unscale(pred, scaler)
        metrics = regression_metrics(y, pred)
        scores.update({f"{label} {m}": metrics[m] for m in ("R2", "Pearson r^2")})
        human_pred = pred
    return scores, human_pred


def published_fold_scores(
    predict_mrl: Callable[[Sequence[str]], np.ndarray],
    protocol: RealUTRProtocol,
    n_folds: int,
    name: str,
) -> pd.DataFrame:
    """A published model's rows for the ablation table, on the same folds and Human7600.

    ``predict_mrl(utrs) -> [n]`` MRL (e.g. chapter 1's Framepool predictor; Framepool was
    trained with Random7600 and Human7600 held out). Same columns as
    :attr:`Ablation.per_fold`, ``n fit`` 0 (nothing is trained here).
    """
    human = regression_metrics(protocol.human["rl"], predict_mrl(protocol.human["utr"]))
    rows = []
    for split in protocol.folds[:n_folds]:
        test = protocol.random.iloc[split.test]
        metrics = regression_metrics(test["rl"], predict_mrl(test["utr"]))
        scores = {f"Random7600 fold {m}": metrics[m] for m in ("R2", "Pearson r^2")}
        scores |= {f"Human7600 {m}": human[m] for m in ("R2", "Pearson r^2")}
        rows.append({"variant": name, "fold": split.fold, "n fit": 0, **scores})
    return pd.DataFrame(rows)


def regression_loss(name: str) -> nn.Module:
    """``"huber"`` (``HuberLoss(delta=1)``, robust to noisy low-read labels) or ``"mse"``."""
    if name == "huber":
        return nn.HuberLoss(delta=1.0)
    if name == "mse":
        return nn.MSELoss()
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


def finetune(
    model: UTRLMForMRL,
    train_loader: DataLoader,
    val_loader: DataLoader,
    *,
    loss: str = "huber",
    epochs: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    patience: int | None = None,
    grad_clip: float | None = 1.0,
    device: torch.device | str = "auto",
    show_progress: bool = True,
    description: str = "fine-tuning",
) -> FitResult:
    """Train the MRL model with :func:`course_lib.training.fit`, selecting on validation R².

    Only trainable parameters go to AdamW, so a frozen backbone stays exactly as loaded.
    Returns the ``FitResult`` (history with ``val_R2``); the model holds the best state.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = warmup_linear_schedule(optimizer, epochs * len(train_loader))
    return fit(
        model,
        train_loader,
        val_loader,
        loss_fn=regression_loss(loss),
        epochs=epochs,
        optimizer=optimizer,
        device=device,
        val_score=r2,
        val_score_name="val_R2",
        patience=patience,
        scheduler=scheduler,
        scheduler_per_batch=True,
        grad_clip=grad_clip,
        show_progress=show_progress,
        description=description,
    )


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
