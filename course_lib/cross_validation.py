"""Stratified k-fold cross-validation with a fresh model per fold and an untouched test fold.

The protocol, in one place so every model of a chapter gets exactly the same treatment:

1. :func:`stratified_folds` splits the data into ``n_folds`` test folds (same class balance);
   :func:`repeated_stratified_folds` draws that split several times, each with another seed.
2. For each fold, :func:`inner_split` carves a validation split out of the *training* folds.
3. A ``train_fold(fit_index, val_index, fold)`` function builds a **new** model, trains it on
   ``fit_index`` and picks epochs / hyper-parameters on ``val_index`` only; it returns a
   :class:`TrainedFold` whose ``predict(index)`` scores any rows.
4. :func:`cross_validate` scores the test fold once, after training: the test rows are never
   given to ``train_fold``.
5. A choice made once and reused by every fold (a learning rate chosen on
   :func:`first_validation_rows`) has seen rows that other folds test: :func:`withholding`
   leaves them out of every test fold, :func:`check_withheld` refuses folds that do not.

:func:`neural_fold_trainer` is that ``train_fold`` for a PyTorch model trained with
:func:`course_lib.training.fit`; :func:`paired_comparison` compares two models fold by fold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import special, stats
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course_lib.metrics import auc_standard_error, classification_metrics, summarize_folds
from course_lib.training import Forward, default_forward, fit, predict, seed_everything

Inputs = torch.Tensor | Mapping[str, torch.Tensor]


@dataclass
class TrainedFold:
    """What a fold's training returns.

    Attributes
    ----------
    predict
        ``predict(index) -> [len(index)]`` probabilities of the positive class for those rows.
    best_epoch
        Epoch kept on the validation split (``None`` for non-iterative models).
    history
        Per-epoch history (``fit``'s DataFrame) or ``None``.
    info
        Anything else worth reporting (chosen hyper-parameters, seconds, ...).
    model
        The trained model, kept for interpretation.
    """

    predict: Callable[[np.ndarray], np.ndarray]
    best_epoch: int | None = None
    history: pd.DataFrame | None = None
    info: dict[str, Any] = field(default_factory=dict)
    model: Any = None


@dataclass
class FoldResult:
    """One test fold: its rows, labels, predicted probabilities and metrics."""

    fold: int
    test_index: np.ndarray
    y_true: np.ndarray
    scores: np.ndarray
    metrics: dict[str, float]
    trained: TrainedFold


@dataclass
class CVResult:
    """All folds of one model; ``summary()`` gives mean and sd over folds."""

    name: str
    folds: list[FoldResult]

    def summary(self) -> dict[str, dict[str, float]]:
        """``{metric: {"mean", "sd"}}`` over folds (sd with ddof=1)."""
        return summarize_folds([f.metrics for f in self.folds])

    def per_fold(self) -> pd.DataFrame:
        """One row per fold: fold, metrics, best epoch."""
        rows = [
            {"fold": f.fold, **f.metrics, "best epoch": f.trained.best_epoch} for f in self.folds
        ]
        return pd.DataFrame(rows)

    def roc_inputs(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{"fold i": (y_true, scores)}`` for :func:`course_lib.plotting.plot_roc`."""
        return {f"fold {f.fold}": (f.y_true, f.scores) for f in self.folds}

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold ``(y_true, scores)`` over all test folds."""
        return (
            np.concatenate([f.y_true for f in self.folds]),
            np.concatenate([f.scores for f in self.folds]),
        )


def stratified_folds(
    labels: np.ndarray, n_folds: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_folds`` shuffled stratified ``(train_index, test_index)`` pairs; each row tested once."""
    labels = np.asarray(labels)
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    smallest = int(np.bincount(labels.astype(int)).min())
    if smallest < n_folds:
        raise ValueError(f"the smaller class has {smallest} rows, fewer than n_folds={n_folds}")
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(labels)), labels)]


def repeated_stratified_folds(
    labels: np.ndarray, n_folds: int = 5, n_repeats: int = 1, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n_repeats x n_folds`` ``(train_index, test_index)`` pairs: repetition ``r`` is
    :func:`stratified_folds` with seed ``seed + r`` (repetition 0 is the unrepeated split).

    Every row is tested once per repetition. Averaging over repetitions removes part of the
    luck of one split; the fold scores still share training rows, which the corrected interval
    of :func:`course_lib.uncertainty.corrected_resampled_ttest` accounts for with
    ``J = n_repeats x n_folds`` (the corrected repeated k-fold test of Bouckaert and Frank).
    """
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1, got {n_repeats}")
    return [pair for r in range(n_repeats) for pair in stratified_folds(labels, n_folds, seed + r)]


def inner_split(
    train_index: np.ndarray, labels: np.ndarray, val_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split training rows into ``(fit_index, val_index)``, stratified by label."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    fit_index, val_index = train_test_split(
        train_index,
        test_size=val_fraction,
        stratify=np.asarray(labels)[train_index],
        random_state=seed,
    )
    return np.sort(fit_index), np.sort(val_index)


def first_validation_rows(
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    labels: np.ndarray,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> np.ndarray:
    """The validation rows :func:`cross_validate` carves out of the first fold's training rows
    (sorted ``[m]``): where a choice made once for every fold (a learning rate) is made."""
    return inner_split(folds[0][0], labels, val_fraction, seed)[1]


def withholding(
    folds: Sequence[tuple[np.ndarray, np.ndarray]], rows: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` with ``rows`` left out of every test fold; training rows are unchanged.

    A choice made on some rows and reused by every fold (e.g. a learning rate chosen on
    :func:`first_validation_rows`) has looked at them; a fold that tested them would score a
    model on rows that chose it. Withheld rows are tested by no fold.
    """
    return [(train, np.setdiff1d(test, rows)) for train, test in folds]


def check_withheld(
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    rows: np.ndarray,
    choice: str,
    fix: str = "withholding(folds, rows)",
) -> None:
    """Raise ``ValueError`` where a test fold holds any of ``rows``, on which ``choice`` is made
    once for every fold; the message names the folds and ``fix`` (:func:`withholding`)."""
    seen = {k: np.intersect1d(test, rows).size for k, (_, test) in enumerate(folds)}
    seen = {k: n for k, n in seen.items() if n}
    if seen:
        raise ValueError(
            f"{choice} is reused by every fold, but "
            + ", ".join(f"test fold {k} holds {n} of its rows" for k, n in seen.items())
            + f": score only rows no choice has seen with {fix}"
        )


def stratified_subset(labels: np.ndarray, n: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a class-balanced random subset of ``n`` rows (all rows if ``None``)."""
    labels = np.asarray(labels)
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    index, _ = train_test_split(
        np.arange(len(labels)), train_size=int(n), stratify=labels, random_state=seed
    )
    return np.sort(index)


def cross_validate(
    name: str,
    train_fold: Callable[[np.ndarray, np.ndarray, int], TrainedFold],
    labels: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    val_fraction: float = 0.1,
    seed: int = 0,
    threshold: float = 0.5,
) -> CVResult:
    """Train a fresh model per fold and score each test fold once.

    Parameters
    ----------
    name
        Model name for tables.
    train_fold
        ``train_fold(fit_index, val_index, fold) -> TrainedFold``; must build a new model.
    labels
        ``[n]`` binary labels of the whole data set.
    folds
        From :func:`stratified_folds`; pass the same folds to every model so that
        :func:`paired_comparison` compares like with like.
    val_fraction
        Share of each training part held out for model selection.
    threshold
        Probability threshold for accuracy, F1 and MCC.
    """
    labels = np.asarray(labels)
    results = [
        score_fold(train_fold, labels, fold, split, val_fraction, seed, threshold)
        for fold, split in enumerate(folds)
    ]
    return CVResult(name, results)


def score_fold(
    train_fold: Callable[[np.ndarray, np.ndarray, int], TrainedFold],
    labels: np.ndarray,
    fold: int,
    split: tuple[np.ndarray, np.ndarray],
    val_fraction: float = 0.1,
    seed: int = 0,
    threshold: float = 0.5,
) -> FoldResult:
    """Train a fresh model on test fold ``fold`` (``split``: its ``(train_index, test_index)``)
    and score its test rows once: one step of :func:`cross_validate`, arguments as there.

    The fit and validation rows come from ``inner_split(train_index, labels, val_fraction,
    seed + fold)``, so a fold gives the same result wherever it runs (e.g. in a worker of
    :class:`course_lib.training_pool.TrainingPool`). Raises ``ValueError`` when training and
    test rows overlap.
    """
    train_index, test_index = split
    if np.intersect1d(train_index, test_index).size:
        raise ValueError(f"fold {fold}: training and test rows overlap")
    fit_index, val_index = inner_split(train_index, labels, val_fraction, seed + fold)
    trained = train_fold(fit_index, val_index, fold)
    scores = np.asarray(trained.predict(test_index), dtype=float).ravel()
    y_true = labels[test_index]
    metrics = classification_metrics(y_true, scores, threshold)
    return FoldResult(fold, test_index, y_true, scores, metrics, trained)


def summary_table(results: Mapping[str, CVResult], provenance: str) -> pd.DataFrame:
    """One row per model: ``mean ± sd`` of each metric over folds, plus the data provenance."""
    rows = []
    for name, result in results.items():
        summary = result.summary()
        row = {"model": name, "folds": len(result.folds), "data": provenance}
        row.update({m: f"{v['mean']:.3f} ± {v['sd']:.3f}" for m, v in summary.items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def paired_comparison(a: CVResult, b: CVResult, metric: str = "ROC AUC") -> dict[str, float]:
    """Compare two models on the same folds: per-fold differences ``a - b`` and two tests.

    Returns
    -------
    dict
        ``mean difference``, ``sd difference``, ``paired t``, ``t-test p`` (two-sided) and
        ``Wilcoxon p`` (exact, two-sided; with 5 folds it cannot go below 0.0625), plus
        ``folds a better``. With so few folds, read the differences, not only the p-values.
    """
    if len(a.folds) != len(b.folds) or any(
        not np.array_equal(fa.test_index, fb.test_index)
        for fa, fb in zip(a.folds, b.folds, strict=True)
    ):
        raise ValueError(f"{a.name} and {b.name} were not evaluated on the same folds")
    score_a = np.array([f.metrics[metric] for f in a.folds])
    score_b = np.array([f.metrics[metric] for f in b.folds])
    diff = score_a - score_b
    out = {
        "mean difference": float(diff.mean()),
        "sd difference": float(diff.std(ddof=1)) if diff.size > 1 else 0.0,
        "folds a better": int((diff > 0).sum()),
        "folds": int(diff.size),
    }
    if diff.size > 1 and diff.std() > 0:
        t = stats.ttest_rel(score_a, score_b)
        out["paired t"], out["t-test p"] = float(t.statistic), float(t.pvalue)
        out["Wilcoxon p"] = float(stats.wilcoxon(diff).pvalue)
    else:
        out["paired t"] = out["t-test p"] = out["Wilcoxon p"] = float("nan")
    return out


def comparison_table(
    results: Mapping[str, CVResult], reference: str, metric: str = "ROC AUC"
) -> pd.DataFrame:
    """:func:`paired_comparison` of every model against ``reference``, one row per model."""
    if reference not in results:
        raise KeyError(f"reference model {reference!r} not among {list(results)}")
    rows = {
        name: paired_comparison(result, results[reference], metric)
        for name, result in results.items()
        if name != reference
    }
    return pd.DataFrame(rows).T.rename_axis(f"model minus {reference} ({metric})")


class IndexedDataset(Dataset):
    """Rows of pre-encoded inputs (a tensor or a dict of tensors) and float labels."""

    def __init__(self, inputs: Inputs, labels: np.ndarray, index: np.ndarray) -> None:
        self.inputs = inputs
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.float32)
        self.index = torch.as_tensor(np.asarray(index), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        row = self.index[i]
        if isinstance(self.inputs, Mapping):
            x = {k: v[row] for k, v in self.inputs.items()}
        else:
            x = self.inputs[row]
        return x, self.labels[row]


def make_loader(
    inputs: Inputs,
    labels: np.ndarray,
    index: np.ndarray,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
) -> DataLoader:
    """A ``DataLoader`` over ``index`` rows yielding ``(inputs, label)`` batches."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        IndexedDataset(inputs, labels, index),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator if shuffle else None,
    )


def auc_score(y_true: np.ndarray, logits: np.ndarray) -> float:
    """ROC AUC of logits (a ``val_score`` for :func:`course_lib.training.fit`)."""
    return float(roc_auc_score(np.asarray(y_true).ravel(), np.asarray(logits).ravel()))


def neural_fold_trainer(
    model_factory: Callable[[], nn.Module],
    inputs: Inputs,
    labels: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    device: str = "auto",
    forward: Forward = default_forward,
    optimizer_factory: Callable[[nn.Module, int], tuple[torch.optim.Optimizer, Any]] | None = None,
    patience: int | None = None,
    grad_clip: float | None = None,
    seed: int = 0,
    show_progress: bool = True,
    name: str = "model",
    prepare: Callable[[nn.Module, np.ndarray, int], dict[str, Any]] | None = None,
) -> Callable[[np.ndarray, np.ndarray, int], TrainedFold]:
    """A ``train_fold`` for :func:`cross_validate` that trains a fresh PyTorch model per fold.

    ``model_factory()`` returns a new, untrained model per fold whose ``forward(model,
    inputs)`` gives ``[n]`` logits; ``inputs`` is the whole data set, pre-encoded (a tensor
    ``[n, ...]`` or a dict of tensors). ``epochs, batch_size, lr, patience, grad_clip`` go to
    :func:`course_lib.training.fit`; the epoch kept is the one with the best validation ROC
    AUC (``info``: ``best_val_auc``, its standard error ``best_val_auc_se``).
    ``optimizer_factory(model, total_steps) -> (optimizer, per-batch scheduler or None)``
    replaces the default Adam(lr). ``prepare(model, fit_index, fold) -> info`` runs before
    fine-tuning (e.g. masked-language-model pretraining on the fold's training rows only).
    """
    labels = np.asarray(labels)
    options = {"epochs": epochs, "lr": lr, "device": device, "forward": forward}
    options.update(patience=patience, grad_clip=grad_clip, show_progress=show_progress)
    options.update(val_score=auc_score, val_score_name="val ROC AUC")

    def train_fold(fit_index: np.ndarray, val_index: np.ndarray, fold: int) -> TrainedFold:
        seed_everything(seed + fold)
        model = model_factory()
        info = prepare(model, fit_index, fold) if prepare else {}
        train_loader = make_loader(inputs, labels, fit_index, batch_size, True, seed + fold)
        val_loader = make_loader(inputs, labels, val_index, 256, False)
        steps = epochs * len(train_loader)
        optimizer, scheduler = (optimizer_factory or default_optimizer)(model, steps)
        result = fit(
            model,
            train_loader,
            val_loader,
            loss_fn=nn.BCEWithLogitsLoss(),
            optimizer=optimizer,
            scheduler=scheduler,
            scheduler_per_batch=scheduler is not None,
            description=f"{name} fold {fold}",
            **options,
        )
        predict_rows = partial(predict_probabilities, model, inputs, labels, device, forward)
        se = auc_standard_error(labels[val_index], predict_rows(val_index))
        info.update(seconds=result.seconds, best_val_auc=result.best_value, best_val_auc_se=se)
        return TrainedFold(predict_rows, result.best_epoch, result.history, info, model)

    return train_fold


def default_optimizer(model: nn.Module, total_steps: int) -> tuple[None, None]:
    """No optimizer and no scheduler: :func:`course_lib.training.fit` then uses Adam(lr)."""
    return None, None


def predict_probabilities(
    model: nn.Module, inputs: Inputs, labels: np.ndarray, device: str, forward: Forward, index
) -> np.ndarray:
    """Sigmoid of the model's logits on the rows ``index`` of ``inputs``, shape ``[len(index)]``."""
    _, logits = predict(model, make_loader(inputs, labels, index, 256, False), device, forward)
    return special.expit(logits.ravel())
