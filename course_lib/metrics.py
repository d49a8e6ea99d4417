"""Evaluation metrics with exact names.

sklearn's coefficient of determination (``R2``) and the squared Pearson correlation
(``Pearson r^2``) are different numbers: the first punishes bias and scale errors, the second
does not. Papers often write "r²" for the second; this module never mixes them.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn import metrics as skm
from sklearn.model_selection import KFold, cross_val_score

from course_lib.ridge import ridge_model

REGRESSION_METRICS = ("MSE", "MAE", "R2", "Pearson r", "Pearson r^2", "Spearman rho")
CLASSIFICATION_METRICS = ("ROC AUC", "accuracy", "F1", "MCC")


def _check_pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} values but y_pred has {y_pred.size}")
    if y_true.size < 2:
        raise ValueError("need at least two values to compute metrics")
    if not (np.isfinite(y_true).all() and np.isfinite(y_pred).all()):
        raise ValueError("y_true or y_pred contains NaN or infinite values")
    return y_true, y_pred


def pearson_r(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Pearson correlation coefficient (``nan`` when either input is constant)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    if y_true.std() == 0 or y_pred.std() == 0:
        return float("nan")
    return float(stats.pearsonr(y_true, y_pred)[0])


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """sklearn's coefficient of determination ``R2`` of two ``[n]`` arrays (not Pearson r^2)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(skm.r2_score(y_true, y_pred))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MSE, MAE, R2 (sklearn), Pearson r, Pearson r^2 and Spearman rho of two ``[n]`` arrays."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    r = pearson_r(y_true, y_pred)
    rho = float(stats.spearmanr(y_true, y_pred)[0]) if y_pred.std() > 0 else float("nan")
    return {
        "MSE": float(skm.mean_squared_error(y_true, y_pred)),
        "MAE": float(skm.mean_absolute_error(y_true, y_pred)),
        "R2": r2(y_true, y_pred),
        "Pearson r": r,
        "Pearson r^2": r * r,
        "Spearman rho": rho,
    }


def auc_standard_error(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Standard error of the ROC AUC of ``scores`` for binary ``y_true`` (both ``[n]``), by
    DeLong, DeLong and Clarke-Pearson (1988, Biometrics 44: 837-845): the AUC is a mean over
    (positive, negative) pairs; its variance is read off each row's share of it (midranks,
    ties count one half).

    Used by chapter 3's one-standard-error rule (:func:`course_lib.chapters.ch3_models.
    tuned_trainer`); ``tests/test_metrics.py`` checks it against a bootstrap of sklearn's
    ``roc_auc_score``.
    """
    y = np.asarray(y_true).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} rows but scores has {s.size}")
    positive, negative = s[y == 1], s[y == 0]
    if positive.size < 2 or negative.size < 2:
        raise ValueError(
            f"a ROC AUC's standard error needs two rows of each class, got {positive.size} "
            f"positive and {negative.size} negative"
        )
    ranks = stats.rankdata(np.r_[positive, negative])
    above = ranks[: positive.size] - stats.rankdata(positive)  # negatives below each positive
    below = positive.size - (ranks[positive.size :] - stats.rankdata(negative))
    v10, v01 = above / negative.size, below / positive.size
    variance = v10.var(ddof=1) / positive.size + v01.var(ddof=1) / negative.size
    return float(np.sqrt(variance))


def classification_metrics(
    y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """ROC AUC (from scores), accuracy, F1 and MCC (at ``threshold``) for binary labels.

    Parameters
    ----------
    y_true
        ``[n]`` labels in {0, 1}.
    scores
        ``[n]`` probabilities (use ``threshold=0`` for logits).
    """
    y_true, scores = _check_pair(y_true, scores)
    labels = set(np.unique(y_true).tolist())
    if not labels <= {0.0, 1.0}:
        raise ValueError(f"binary labels must be 0 or 1, found {sorted(labels)}")
    if len(labels) < 2:
        raise ValueError("ROC AUC needs both classes in y_true")
    predicted = (scores >= threshold).astype(int)
    return {
        "ROC AUC": float(skm.roc_auc_score(y_true, scores)),
        "accuracy": float(skm.accuracy_score(y_true, predicted)),
        "F1": float(skm.f1_score(y_true, predicted, zero_division=0)),
        "MCC": float(skm.matthews_corrcoef(y_true, predicted)),
    }


def summarize_folds(per_fold: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (ddof=1) of each metric over folds."""
    if not per_fold:
        raise ValueError("no folds to summarize")
    names = per_fold[0].keys()
    out = {}
    for name in names:
        values = np.array([fold[name] for fold in per_fold], dtype=float)
        out[name] = {
            "mean": float(values.mean()),
            "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        }
    return out


def linear_probe_r2(embeddings: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated R² of a ridge regression from frozen embeddings ``[n, H]`` to ``y``.

    A *linear probe*: how much of ``y`` a backbone's embedding exposes without fine-tuning
    (introduced in chapter 5).
    """
    if len(embeddings) != len(y) or len(y) < 2 * folds:
        raise ValueError(f"need matching embeddings and labels, at least {2 * folds} rows")
    probe = ridge_model(tuple(np.logspace(-2, 3, 11)))
    split = KFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(probe, embeddings, np.asarray(y), cv=split, scoring="r2").mean())
