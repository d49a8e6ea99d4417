"""Intervals around headline numbers and tests of differences between models.

- :func:`bootstrap_ci`: percentile bootstrap interval of any metric over test rows (or
  windows: every array is resampled along its first axis), optionally stratified by class,
  with a loop over resamples or one call of a ``batched`` metric (e.g. :func:`batched_roc_auc`);
- :func:`paired_bootstrap`: interval of the difference between two models scored on the same
  resampled rows, and whether it excludes 0;
- :func:`spread`: mean, sd and t-interval of a metric over folds or seeds;
- :func:`agreed_direction` and :func:`why_undecided`: what a bootstrap interval and an
  interval over training runs of the same difference allow one to say together;
- :func:`corrected_resampled_ttest`: Nadeau and Bengio's (2003) correction of the paired t-test
  for k-fold or repeated train/test splits, whose training sets overlap;
  :func:`fold_comparison` reports it beside the naive paired t-test and the Wilcoxon test.

All are seeded (``seed``) and draw every resample index at once with numpy. Used from
chapter 1 on; the fold tests are introduced in chapter 3.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

Metric = Callable[..., float]


def bootstrap_indices(
    n: int, n_boot: int = 1000, seed: int = 0, strata: np.ndarray | None = None
) -> np.ndarray:
    """``[n_boot, n]`` row indices drawn with replacement.

    With ``strata`` (``[n]`` labels), each resample keeps the count of every stratum (so a
    ROC AUC always sees both classes).
    """
    if n < 1 or n_boot < 1:
        raise ValueError(f"need at least one row and one resample, got n={n}, n_boot={n_boot}")
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.integers(0, n, size=(n_boot, n))
    strata = np.asarray(strata).ravel()
    if strata.size != n:
        raise ValueError(f"strata has {strata.size} labels for {n} rows")
    out = np.empty((n_boot, n), dtype=np.int64)
    start = 0
    for value in np.unique(strata):
        rows = np.flatnonzero(strata == value)
        out[:, start : start + rows.size] = rows[rng.integers(0, rows.size, (n_boot, rows.size))]
        start += rows.size
    return out


def _check_rows(arrays: tuple[np.ndarray, ...]) -> int:
    if not arrays:
        raise ValueError("pass at least one array to resample")
    sizes = {len(a) for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"arrays have different numbers of rows: {sorted(sizes)}")
    return sizes.pop()


def _scores(
    metric: Metric, arrays: tuple[np.ndarray, ...], index: np.ndarray, batched: bool
) -> np.ndarray:
    """``[n_boot]`` metric on each resample (``index`` ``[n_boot, n]``)."""
    if batched:
        return np.asarray(metric(*(a[index] for a in arrays)), dtype=np.float64).reshape(-1)
    return np.array([metric(*(a[rows] for a in arrays)) for rows in index], dtype=np.float64)


def _full(metric: Metric, arrays: tuple[np.ndarray, ...], batched: bool) -> float:
    """The metric on all rows (a batch of one resample when ``batched``)."""
    if batched:
        return float(np.asarray(metric(*(a[None] for a in arrays))).reshape(-1)[0])
    return float(metric(*arrays))


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    tail = 100 * (1 - level) / 2
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(
    metric: Metric,
    *arrays: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    strata: np.ndarray | None = None,
    batched: bool = False,
) -> dict[str, float]:
    """Percentile bootstrap interval of ``metric(*arrays)`` over rows.

    Parameters
    ----------
    metric
        ``metric(*arrays) -> float``, e.g. ``sklearn.metrics.roc_auc_score`` with arrays
        ``(y_true, scores)``.
    arrays
        Arrays with the same first dimension ``n`` (rows, sequences or windows), e.g.
        ``[n]`` labels and ``[n]`` scores, or ``[n, F, 4, L]`` ISM maps.
    n_boot, level, seed
        Resamples, coverage of the interval, seed.
    strata
        ``[n]`` labels to resample within (keeps class counts).
    batched
        ``metric`` is vectorised: it takes arrays with a leading resample axis
        (``[n_boot, n, ...]``) and returns ``[n_boot]`` scores, e.g.
        ``lambda hit: hit.mean(-1)``; one call instead of ``n_boot``.

    Returns
    -------
    dict
        ``estimate`` (on all rows), ``ci low``, ``ci high``, ``se`` (sd over resamples),
        ``n``, ``n_boot`` and ``level``. Resamples where the metric is undefined (NaN) are
        left out.
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    n = _check_rows(arrays)
    scores = _scores(metric, arrays, bootstrap_indices(n, n_boot, seed, strata), batched)
    low, high = _percentiles(scores, level)
    return {
        "estimate": _full(metric, arrays, batched),
        "ci low": low,
        "ci high": high,
        "se": float(np.nanstd(scores, ddof=1)),
        "n": n,
        "n_boot": n_boot,
        "level": level,
    }


def paired_bootstrap(
    metric: Metric,
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    strata: np.ndarray | None = None,
    batched: bool = False,
) -> dict[str, float]:
    """Interval of ``metric(y_true, pred_a) - metric(y_true, pred_b)`` on the same resamples.

    Both models are scored on each resampled set of rows, so the interval reflects the
    difference, not the (larger) spread of each score.

    Parameters
    ----------
    metric
        ``metric(y_true, pred) -> float``.
    y_true, pred_a, pred_b
        Arrays with the same first dimension ``n`` (e.g. ``[n]``, or ``[n, F, 4, L]`` maps).
    n_boot, level, seed, strata, batched
        As in :func:`bootstrap_ci`.

    Returns
    -------
    dict
        ``difference`` (a - b on all rows), ``ci low``, ``ci high``, ``excludes 0`` (the
        interval lies entirely above or below 0), ``a better in resamples`` (fraction) and
        ``n``.
    """
    arrays = tuple(np.asarray(a) for a in (y_true, pred_a, pred_b))
    n = _check_rows(arrays)
    index = bootstrap_indices(n, n_boot, seed, strata)
    truth, a, b = arrays
    diffs = _scores(metric, (truth, a), index, batched) - _scores(
        metric, (truth, b), index, batched
    )
    low, high = _percentiles(diffs, level)
    return {
        "difference": _full(metric, (truth, a), batched) - _full(metric, (truth, b), batched),
        "ci low": low,
        "ci high": high,
        "excludes 0": bool(low > 0 or high < 0),
        "a better in resamples": float(np.nanmean(diffs > 0)),
        "n": n,
    }


def spread(values: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Mean, sd and Student-t interval of a metric over ``k`` folds, seeds or training runs.

    Parameters
    ----------
    values
        ``[k]`` scores, one per fold, seed or training run (``k >= 1``).

    Returns
    -------
    dict
        ``mean``, ``sd`` (ddof 1), ``ci low``, ``ci high`` (``mean ± t_{k-1} sd / sqrt(k)``)
        and ``n``. With ``k = 1`` the sd and both bounds are NaN: one run cannot show how much
        runs differ. With folds of one data set the interval is too narrow, since the folds
        share training rows (see :func:`corrected_resampled_ttest`).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("no values for a spread: give one score per fold, seed or run")
    mean = float(x.mean())
    if x.size == 1:
        return {"mean": mean, "sd": np.nan, "ci low": np.nan, "ci high": np.nan, "n": 1}
    sd = float(x.std(ddof=1))
    half = stats.t.ppf((1 + level) / 2, x.size - 1) * sd / np.sqrt(x.size)
    return {"mean": mean, "sd": sd, "ci low": mean - half, "ci high": mean + half, "n": x.size}


def agreed_direction(interval: tuple[float, float], over_runs: tuple[float, float]) -> int:
    """Which way a difference ``a - b`` points where two intervals of it agree.

    Introduced in chapter 5, used by chapters 1, 4 and 5: a paired bootstrap over test rows
    holds the trained models fixed, so a second training run can move the difference by more
    than that interval is wide; a direction is claimed only where the interval over training
    runs (:func:`spread` of the per-run differences) lies on the same side of zero.

    Parameters
    ----------
    interval
        ``(low, high)`` of the paired bootstrap over test rows.
    over_runs
        ``(low, high)`` over training runs (folds or seeds); NaN with one run.

    Returns
    -------
    int
        ``+1`` when both lie above zero, ``-1`` when both lie below, ``0`` otherwise
        (:func:`why_undecided` says why).
    """
    (low, high), (run_low, run_high) = interval, over_runs
    if low > 0 and run_low > 0:
        return 1
    if high < 0 and run_high < 0:
        return -1
    return 0


def why_undecided(
    interval: tuple[float, float], over_runs: tuple[float, float], run: str = "training run"
) -> str:
    """Why :func:`agreed_direction` of the same two intervals is 0, in words; ``run`` names
    what the interval over runs is over (e.g. ``"fold model"``).

    Raises
    ------
    ValueError
        When the two intervals agree on a direction.
    """
    (low, high), (run_low, run_high) = interval, over_runs
    if low <= 0 <= high:
        return "the interval over test rows spans zero"
    if np.isnan(run_low) or np.isnan(run_high):
        return f"a single {run} cannot show how much {run}s differ"
    if run_low <= 0 <= run_high:
        return f"the interval over {run}s spans zero"
    if (run_low > 0) != (low > 0):
        return "the two intervals point in opposite directions"
    raise ValueError(f"the intervals {interval} and {over_runs} agree: nothing is undecided")


def corrected_resampled_ttest(
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    n_train: int,
    n_test: int,
    level: float = 0.95,
) -> dict[str, float]:
    """Nadeau-Bengio corrected resampled t-test of paired per-fold scores.

    The variance of the mean difference over ``J`` splits is ``(1/J + n_test/n_train) s^2``
    instead of ``s^2 / J``, because training sets overlap and the fold scores correlate
    (Nadeau & Bengio 2003, Machine Learning 52:239). The ``J`` splits may be the folds of
    ``r`` repetitions of k-fold cross-validation, ``J = r k`` (Bouckaert & Frank 2004, PAKDD:
    the corrected repeated k-fold test).

    Parameters
    ----------
    scores_a, scores_b
        ``[J]`` scores of two models on the same splits.
    n_train, n_test
        Rows used to train and to test in one split (e.g. 4/5 and 1/5 of the data in 5-fold
        cross-validation).

    Returns
    -------
    dict
        ``mean difference`` (a - b), ``corrected t``, ``corrected p`` (two-sided, ``J - 1``
        degrees of freedom), ``ci low`` and ``ci high`` of the mean difference.
    """
    a, b = (np.asarray(s, dtype=np.float64).ravel() for s in (scores_a, scores_b))
    if a.shape != b.shape or a.size < 2:
        raise ValueError(
            f"need two equal-length score arrays of >= 2 splits, got {a.size}, {b.size}"
        )
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be positive, got {n_train}, {n_test}")
    diff = a - b
    k = diff.size
    se = np.sqrt((1 / k + n_test / n_train) * diff.var(ddof=1))
    mean = float(diff.mean())
    if se == 0:
        t, p = (0.0, 1.0) if mean == 0 else (float(np.sign(mean) * np.inf), 0.0)
    else:
        t = mean / se
        p = float(2 * stats.t.sf(abs(t), k - 1))
    half = stats.t.ppf((1 + level) / 2, k - 1) * se
    return {
        "mean difference": mean,
        "corrected t": float(t),
        "corrected p": p,
        "ci low": mean - half,
        "ci high": mean + half,
    }


def fold_comparison(
    scores_a: np.ndarray, scores_b: np.ndarray, n_train: int, n_test: int
) -> dict[str, float]:
    """Three tests of paired fold scores side by side (chapter 3).

    Returns
    -------
    dict
        The keys of :func:`corrected_resampled_ttest`, plus ``naive t-test p`` (paired t-test,
        too optimistic across folds), ``Wilcoxon p`` (exact, two-sided; with 5 folds it cannot
        go below 0.0625) and ``folds a better``.
    """
    out = corrected_resampled_ttest(scores_a, scores_b, n_train, n_test)
    a, b = (np.asarray(s, dtype=np.float64).ravel() for s in (scores_a, scores_b))
    diff = a - b
    varies = diff.std() > 0
    out["naive t-test p"] = float(stats.ttest_rel(a, b).pvalue) if varies else float("nan")
    out["Wilcoxon p"] = float(stats.wilcoxon(diff).pvalue) if np.any(diff) else float("nan")
    out["folds a better"] = int((diff > 0).sum())
    return out


def batched_roc_auc(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each row, ``[..., n]`` -> ``[...]``: a ``batched`` metric for the bootstrap.

    Mann-Whitney form with average ranks for ties (equal to ``sklearn.metrics.roc_auc_score``
    row by row); ``nan`` for a row with one class only.
    """
    y = np.asarray(y_true).astype(bool)
    ranks = stats.rankdata(np.asarray(scores, dtype=np.float64), axis=-1)
    n_pos = y.sum(-1)
    n_neg = y.shape[-1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * y).sum(-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def format_interval(estimate: float, low: float, high: float, digits: int = 3) -> str:
    """``"0.912 [0.897, 0.925]"``, for tables and glued sentences."""
    return f"{estimate:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
