"""Chapter 4 (``notebooks/04_beluga_multiplexer.ipynb``): scores of predicted ISM maps, with
bootstrap intervals over windows and paired comparisons of two predictors.

The chapter's three metrics (:data:`REPORTED_METRICS`, from
:func:`~course_lib.interpret.variant_mutagenesis.ism_metrics`) are Pearson correlations with
per-value weights, one per feature, averaged over features. A weighted r is a function of six
weighted sums (``w``, ``wx``, ``wy``, ``wx²``, ``wy²``, ``wxy``), and a resample of windows only
adds up those sums window by window. :func:`window_moments` computes them once per window;
every bootstrap resample is then a sum of small arrays instead of a pass over all ``n x F x 4 x
L`` values, so :func:`map_intervals` and :func:`compare_maps` hand vectorised metrics to
:func:`course_lib.uncertainty.bootstrap_ci` and :func:`course_lib.uncertainty.paired_bootstrap`
(the same resampled windows for both predictors).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from course_lib.interpret.variant_mutagenesis import SELECTION_METRIC
from course_lib.uncertainty import agreed_direction, bootstrap_ci, paired_bootstrap, why_undecided

#: Metrics of :func:`~course_lib.interpret.variant_mutagenesis.ism_metrics` that the chapter
#: reports side by side, with their history column; selection uses :data:`SELECTION_METRIC`.
REPORTED_METRICS: dict[str, str] = {
    "Pearson r": "val_pearson_r",
    "weighted Pearson r": "val_weighted_r",
    SELECTION_METRIC: "val_symmetric_r",
}
DIFFERENCE = "weighted minus plain Pearson r"
#: A weighted variance below this fraction of the weighted sum of squares counts as zero.
RELATIVE_TOLERANCE = 1e-12


def _as_maps(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two ``[n, F, 4, L]`` maps as float64 ``[n, F, 4L]``; ``ValueError`` on other shapes."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 4:
        raise ValueError(f"expected two [n, F, 4, L] arrays, got {t.shape} and {p.shape}")
    return t.reshape(*t.shape[:2], -1), p.reshape(*p.shape[:2], -1)


def window_moments(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-window weighted sums behind the :data:`REPORTED_METRICS`.

    Parameters
    ----------
    y_true, y_pred
        ``[n, F, 4, L]`` teacher and predicted maps.

    Returns
    -------
    numpy.ndarray
        ``[n, 3, F, 6]``: for each window, weighting (uniform, ``|true|``,
        ``max(|true|, |pred|)``, the order of :data:`REPORTED_METRICS`) and feature, the sums
        of ``w, w x, w y, w x², w y², w x y`` with ``x`` and ``y`` shifted by the feature's mean
        over all windows (Pearson r ignores the shift; it keeps the sums well conditioned).
    """
    t, p = _as_maps(y_true, y_pred)
    weights = (np.ones_like(t), np.abs(t), np.maximum(np.abs(t), np.abs(p)))
    x = t - t.mean(axis=(0, 2), keepdims=True)
    y = p - p.mean(axis=(0, 2), keepdims=True)
    terms = (np.ones_like(x), x, y, x * x, y * y, x * y)
    return np.stack(
        [np.stack([(w * term).sum(-1) for term in terms], -1) for w in weights], 1
    )  # [n, 3, F, 6]


def scores_from_moments(moments: np.ndarray) -> np.ndarray:
    """The :data:`REPORTED_METRICS` from summed moments, each averaged over defined features.

    Parameters
    ----------
    moments
        ``[..., 3, F, 6]`` sums of :func:`window_moments` over the windows of one set (or of
        each resample).

    Returns
    -------
    numpy.ndarray
        ``[..., 3]``: plain, weighted and symmetric weighted r; a feature whose weighted
        variance is zero is left out of the mean, ``nan`` when no feature is defined.
    """
    s, sx, sy, sxx, syy, sxy = np.moveaxis(np.asarray(moments, dtype=np.float64), -1, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        var_x, var_y = sxx - sx * sx / s, syy - sy * sy / s
        defined = (s > 0) & (var_x > RELATIVE_TOLERANCE * sxx) & (var_y > RELATIVE_TOLERANCE * syy)
        r = np.where(defined, (sxy - sx * sy / s) / np.sqrt(var_x * var_y), 0.0)
        count = defined.sum(-1)
        return np.where(count > 0, r.sum(-1) / count, np.nan)


def _resampled(column: Callable[[np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    """A batched metric for :mod:`course_lib.uncertainty`: its last argument holds resampled
    moments ``[n_boot, n, 3, F, 6]``; ``column`` picks ``[n_boot]`` from the ``[n_boot, 3]``
    scores."""

    def metric(*arrays: np.ndarray) -> np.ndarray:
        return column(scores_from_moments(arrays[-1].sum(axis=1)))

    return metric


def _metric_column(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """Column ``name`` of ``[..., 3]`` scores (weighted minus plain for :data:`DIFFERENCE`)."""
    if name == DIFFERENCE:
        return lambda scores: scores[..., 1] - scores[..., 0]
    index = list(REPORTED_METRICS).index(name)
    return lambda scores: scores[..., index]


def map_intervals(
    y_true: np.ndarray, y_pred: np.ndarray, n_boot: int = 500, seed: int = 0, level: float = 0.95
) -> dict[str, dict[str, float]]:
    """Bootstrap over windows of the :data:`REPORTED_METRICS` and of weighted minus plain r.

    Parameters
    ----------
    y_true, y_pred
        ``[n, F, 4, L]`` teacher and predicted maps; the ``n`` windows are resampled.
    n_boot, seed, level
        Resamples, their seed (the same seed draws the same windows for any predictor) and the
        coverage of the intervals.

    Returns
    -------
    dict
        ``{metric: {"estimate", "ci low", "ci high", "n windows"}}`` for each reported metric,
        plus ``"weighted minus plain Pearson r"`` with ``"excludes 0"``.
    """
    moments = window_moments(y_true, y_pred)
    out = {}
    for name in [*REPORTED_METRICS, DIFFERENCE]:
        ci = bootstrap_ci(
            _resampled(_metric_column(name)),
            moments,
            n_boot=n_boot,
            level=level,
            seed=seed,
            batched=True,
        )
        out[name] = {"estimate": ci["estimate"], "ci low": ci["ci low"], "ci high": ci["ci high"]}
        out[name]["n windows"] = len(moments)
    difference = out[DIFFERENCE]
    difference["excludes 0"] = bool(difference["ci low"] > 0 or difference["ci high"] < 0)
    return out


def compare_maps(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    n_boot: int = 500,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Paired bootstrap over windows of ``a`` minus ``b`` in each of the :data:`REPORTED_METRICS`.

    Both predictors are scored on the same resampled windows
    (:func:`course_lib.uncertainty.paired_bootstrap`), so the interval is that of the
    difference, narrower than the two separate intervals suggest.

    Parameters
    ----------
    y_true, pred_a, pred_b
        ``[n, F, 4, L]`` teacher maps and two predictions of them.

    Returns
    -------
    dict
        ``{metric: {"difference", "ci low", "ci high", "excludes 0",
        "a better in resamples", "n"}}``.
    """
    moments_a, moments_b = window_moments(y_true, pred_a), window_moments(y_true, pred_b)
    windows = np.arange(len(moments_a))  # the truth is inside the moments
    return {
        name: paired_bootstrap(
            _resampled(_metric_column(name)),
            windows,
            moments_a,
            moments_b,
            n_boot=n_boot,
            level=level,
            seed=seed,
            batched=True,
        )
        for name in REPORTED_METRICS
    }


def comparison_sentence(
    difference: Mapping[str, float],
    over_runs: Mapping[str, float],
    a: str,
    b: str,
    metric: str,
) -> str:
    """One sentence saying what ``a`` minus ``b`` in ``metric`` shows, from two intervals.

    ``difference``: the paired bootstrap over test windows (:func:`compare_maps`, the trained
    models held fixed); ``over_runs``: the interval over training runs
    (:func:`course_lib.chapters.ch4_replicates.seed_intervals`: ``"mean"``, ``"ci low"``,
    ``"ci high"``, ``"n"``). ``a`` beats ``b`` when both intervals lie above 0, ``b`` beats
    ``a`` when both lie below (:func:`course_lib.uncertainty.agreed_direction`); otherwise
    nothing can be concluded.
    """
    span = (
        f"{metric}, {a} minus {b}: {difference['difference']:+.3f} "
        f"[{difference['ci low']:+.3f}, {difference['ci high']:+.3f}] over test windows; "
        f"{over_runs['mean']:+.3f} [{over_runs['ci low']:+.3f}, {over_runs['ci high']:+.3f}] "
        f"over {over_runs['n']} training runs"
    )
    interval = (difference["ci low"], difference["ci high"])
    runs = (over_runs["ci low"], over_runs["ci high"])
    direction = agreed_direction(interval, runs)
    if direction > 0:
        return f"{span}: both intervals lie above 0, so {a} beats {b} on this metric."
    if direction < 0:
        return f"{span}: both intervals lie below 0, so {b} beats {a} on this metric."
    return f"{span}: {why_undecided(interval, runs)}, so nothing can be concluded."


def comparison_table(
    scores_a: Mapping[str, Mapping[str, float]],
    scores_b: Mapping[str, Mapping[str, float]],
    comparison: Mapping[str, Mapping[str, float]],
    a: str,
    b: str,
) -> pd.DataFrame:
    """Side by side: each predictor's score with its interval and the paired difference.

    Parameters
    ----------
    scores_a, scores_b
        :func:`map_intervals` of the two predictors on the same windows.
    comparison
        :func:`compare_maps` of ``a`` minus ``b`` on those windows.
    a, b
        Their names, used in the column labels.

    Returns
    -------
    pandas.DataFrame
        One row per metric of :data:`REPORTED_METRICS`; columns ``a``, ``a low``, ``a high``
        (its 95 % interval), the same for ``b``, ``a - b``, ``paired low``, ``paired high``.
    """
    rows = {}
    for name in REPORTED_METRICS:
        row = {}
        for label, v in ((a, scores_a[name]), (b, scores_b[name])):
            row.update({label: v["estimate"], f"{label} low": v["ci low"]})
            row[f"{label} high"] = v["ci high"]
        paired = comparison[name]
        row[f"{a} - {b}"] = paired["difference"]
        row.update({"paired low": paired["ci low"], "paired high": paired["ci high"]})
        rows[name] = row
    return pd.DataFrame(rows).T


def overlap(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    """Whether two intervals (``"ci low"``/``"ci high"``) overlap."""
    return a["ci low"] <= b["ci high"] and b["ci low"] <= a["ci high"]
