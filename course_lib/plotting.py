"""Plotting helpers shared by the chapters: learning curves, scatter plots, ROC curves, and
scores against training size.

Each function draws on a given (or new) matplotlib ``Axes`` and returns it, so notebooks can
compose figures and label them with the data provenance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from sklearn.metrics import roc_curve

from course_lib.metrics import pearson_r


def _axes(ax: Axes | None, figsize: tuple[float, float] = (5, 4)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_learning_curves(
    histories: pd.DataFrame | Mapping[str, pd.DataFrame],
    ax: Axes | None = None,
    title: str = "Learning curves",
    best_epochs: Mapping[str, int] | None = None,
) -> Axes:
    """Training (dashed) and validation (solid) loss per epoch, one colour per model.

    ``histories`` is one :func:`course_lib.training.fit` history or ``{label: history}``.
    ``best_epochs`` marks the epoch kept for each model.
    """
    ax = _axes(ax, (6, 4))
    if isinstance(histories, pd.DataFrame):
        histories = {"model": histories}
    for i, (label, hist) in enumerate(histories.items()):
        color = f"C{i}"
        ax.plot(hist["epoch"], hist["train_loss"], "--", color=color, label=f"{label} train")
        ax.plot(hist["epoch"], hist["val_loss"], "-", color=color, label=f"{label} validation")
        if best_epochs and label in best_epochs:
            best = hist.loc[hist["epoch"] == best_epochs[label], "val_loss"]
            ax.plot(best_epochs[label], best.iloc[0], "o", color=color)
    ax.set(xlabel="epoch", ylabel="loss", title=title)
    ax.legend(fontsize="small")
    return ax


def plot_scatter(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    ax: Axes | None = None,
    title: str = "",
    xlabel: str = "measured",
    ylabel: str = "predicted",
    max_points: int = 5000,
    seed: int = 0,
) -> Axes:
    """Predicted versus measured with the identity line and Pearson r in the legend; pairs
    with a NaN (a row no model predicted) are left out."""
    ax = _axes(ax)
    y_true, y_pred = np.asarray(y_true, float).ravel(), np.asarray(y_pred, float).ravel()
    kept = np.isfinite(y_true) & np.isfinite(y_pred)
    y_true, y_pred = y_true[kept], y_pred[kept]
    idx = np.arange(y_true.size)
    if y_true.size > max_points:
        idx = np.random.default_rng(seed).choice(idx, max_points, replace=False)
    r = pearson_r(y_true, y_pred)
    ax.scatter(y_true[idx], y_pred[idx], s=4, alpha=0.4, label=f"Pearson r = {r:.3f}")
    lo = float(min(y_true.min(), y_pred.min()))
    hi = float(max(y_true.max(), y_pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc="upper left", fontsize="small")
    return ax


def plot_roc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]] | Sequence[tuple[np.ndarray, np.ndarray]],
    ax: Axes | None = None,
    title: str = "ROC",
) -> Axes:
    """ROC curves from ``{label: (y_true, scores)}`` (or a list, labelled by index)."""
    from sklearn.metrics import roc_auc_score

    ax = _axes(ax)
    items = curves.items() if isinstance(curves, Mapping) else enumerate(curves)
    for label, (y_true, scores) in items:
        fpr, tpr, _ = roc_curve(y_true, scores)
        ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(y_true, scores):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_training_size(
    curve: pd.DataFrame,
    ax: Axes | None = None,
    title: str = "",
    reference: int | None = None,
    reference_label: str = "",
    metric: str = "R2",
) -> Axes:
    """``metric`` with its interval against training size on a log axis.

    ``curve`` is indexed by training size with columns ``metric``, ``"<metric> ci low"`` and
    ``"<metric> ci high"``. ``reference`` marks a training size with a dashed line and
    ``reference_label`` only: no value is drawn there (chapter 1: the paper's training set,
    beyond the data of the curve).
    """
    ax = _axes(ax)
    x = curve.index.to_numpy()
    err = [curve[metric] - curve[f"{metric} ci low"], curve[f"{metric} ci high"] - curve[metric]]
    ax.errorbar(x, curve[metric], yerr=err, fmt="o-", capsize=3, label="measured (95 % CI)")
    right = x.max() * 1.5
    if reference is not None:
        ax.axvline(reference, color="C3", ls="--", lw=1)
        ax.annotate(
            reference_label,
            (reference, 0.5),
            xycoords=("data", "axes fraction"),
            xytext=(-4, 0),
            textcoords="offset points",
            ha="right",
            fontsize="small",
            color="C3",
        )
        right = max(right, reference * 1.5)
    ax.set_xscale("log")
    ax.set_xlim(x.min() / 1.5, right)
    ax.set(xlabel="training examples (log scale)", ylabel=metric, title=title)
    ax.legend(loc="lower right", fontsize="small")
    return ax


def provenance_caption(provenance: str, profile: str) -> str:
    """A short caption such as ``"data: real · profile: smoke"`` for figure titles."""
    return f"data: {provenance} · profile: {profile}"


def project_2d(embeddings: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D projection ``[n, 2]`` of ``[n, H]`` embeddings by PCA or UMAP (``umap-learn``).

    Introduced in chapter 5 (what pretraining put into the embeddings).
    """
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(embeddings)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, random_state=seed, n_jobs=1).fit_transform(embeddings)
    raise ValueError(f"method must be 'pca' or 'umap', got {method!r}")
