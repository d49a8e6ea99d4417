"""Chapter 5's sample-efficiency curve, read: intervals, paired differences, sentences, plot.

- :func:`fold_mean_interval`: the mean over folds of single-fold-model R² (or of the R²
  difference of two arms on the same rows) with a 95 % percentile bootstrap over test rows,
  resampled within UTR length, the same resamples for both arms (paired);
  :func:`fold_differences`: each fold's own difference, one fine-tuning run per fold, whose
  Student-t interval (:func:`course_lib.uncertainty.spread`) shows the chance of training,
  which the bootstrap over test rows does not see;
- :func:`efficiency_table`: every arm, label count and test set, with its difference from the
  reference arm; :func:`conclusions`: one sentence per comparison, computed from the
  intervals; :func:`lesson_sentence`: whether the chapter's lesson shows at the fewest
  labels; :func:`lr_choice_sentence`: whether the learning-rate grid brackets every
  arm's choice; :func:`plot_efficiency`: R² against label count (log x) with intervals;
- :func:`reference_scores`: a published model's R² on the same test rows.

The curve itself is :mod:`course_lib.chapters.ch5_efficiency`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from course_lib.chapters.ch5_efficiency import TEST_SETS, EfficiencyCurve
from course_lib.grids import edge_sentence
from course_lib.uncertainty import agreed_direction, bootstrap_indices, spread, why_undecided
from course_lib.utr_protocol import BATCHED_METRICS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: How the curve's intervals are obtained.
METHOD = (
    "95 % percentile bootstrap over test UTRs (within length) of the mean over folds of "
    "single-fold-model R2; differences paired (same resampled rows for both arms)"
)
#: How the intervals over training runs are obtained (:func:`fold_differences`).
RUN_METHOD = (
    "95 % Student-t interval of the mean over folds of the per-fold R2 difference "
    "(one fine-tuning run per fold; NaN with one fold)"
)


def fold_mean_interval(
    truth: Sequence[tuple[np.ndarray, np.ndarray]],
    pred_a: Sequence[np.ndarray],
    pred_b: Sequence[np.ndarray] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Mean over folds of R²(a) (or R²(a) − R²(b)) with a paired bootstrap interval.

    Parameters
    ----------
    truth
        One ``(y [m_f], lengths [m_f])`` per fold: the measured MRL of that fold's test rows.
    pred_a, pred_b
        One ``[m_f]`` prediction per fold for each arm (``pred_b`` ``None``: R²(a) alone).
    n_boot, seed
        Resamples; fold ``f`` resamples its rows with ``seed`` (so folds scoring the same rows,
        such as Human7600, resample them alike).

    Returns
    -------
    dict
        ``estimate``, ``ci low``, ``ci high``, ``excludes 0`` and ``folds``.
    """
    metric = BATCHED_METRICS["R2"]
    estimate, resampled = 0.0, np.zeros(n_boot)
    for f, (y, lengths) in enumerate(truth):
        index = bootstrap_indices(len(y), n_boot, seed, strata=lengths)
        a = np.asarray(pred_a[f], dtype=float)
        b = None if pred_b is None else np.asarray(pred_b[f], dtype=float)
        full = metric(y[None], a[None])[0] - (0.0 if b is None else metric(y[None], b[None])[0])
        boot = metric(y[index], a[index]) - (0.0 if b is None else metric(y[index], b[index]))
        estimate += full / len(truth)
        resampled += boot / len(truth)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return {
        "estimate": float(estimate),
        "ci low": float(low),
        "ci high": float(high),
        "excludes 0": bool(low > 0 or high < 0),
        "folds": len(truth),
    }


def _fold_mean_r2(truth: Sequence[tuple[np.ndarray, np.ndarray]], pred: Sequence[np.ndarray]):
    """Mean over folds of R² (no interval)."""
    metric = BATCHED_METRICS["R2"]
    return float(
        np.mean([metric(y[None], p[None])[0] for (y, _), p in zip(truth, pred, strict=True)])
    )


def _arm_predictions(curve: EfficiencyCurve, arm: str, n: int, test: str) -> list[np.ndarray]:
    return [curve.predictions[(arm, n, f, test)] for f in curve.folds]


def efficiency_table(
    curve: EfficiencyCurve, reference: str, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """One row per arm, label count and test set: fold-mean R² with its interval, the fold
    spread, ``reference`` minus the arm with its paired interval and the number of folds
    whose own difference has the same sign, with its interval over training runs
    (:func:`course_lib.uncertainty.spread` of :func:`fold_differences`; ``NaN`` for the
    reference itself and with one fold); a positive difference means the
    reference arm is better."""
    rows = []
    for test in TEST_SETS:
        truth = [curve.truth[(f, test)][:2] for f in curve.folds]
        for n in curve.counts:
            ref = _arm_predictions(curve, reference, n, test)
            for arm in curve.arms:
                pred = _arm_predictions(curve, arm, n, test)
                score = fold_mean_interval(truth, pred, None, n_boot, seed)
                per_fold = curve.runs.query("arm == @arm and labels == @n")[f"{test} R2"]
                row = {"arm": arm, "labels": n, "test set": test, "folds": len(curve.folds)}
                row |= {"R2": score["estimate"], "reference R2": _fold_mean_r2(truth, ref)}
                row |= {"R2 ci low": score["ci low"], "R2 ci high": score["ci high"]}
                row |= {"R2 fold sd": float(per_fold.std()) if len(per_fold) > 1 else np.nan}
                diff = dict.fromkeys(("estimate", "ci low", "ci high"), np.nan)
                runs = dict.fromkeys(("ci low", "ci high"), np.nan)
                agree = np.nan
                if arm != reference:
                    diff = fold_mean_interval(truth, ref, pred, n_boot, seed)
                    per_run = fold_differences(curve, reference, arm, n, test)
                    agree = int(np.sum(np.sign(per_run) == np.sign(diff["estimate"])))
                    runs = spread(per_run)
                row["folds agreeing"] = agree
                row |= {
                    "reference - arm": diff["estimate"],
                    "reference - arm ci low": diff["ci low"],
                    "reference - arm ci high": diff["ci high"],
                    "reference - arm run ci low": runs["ci low"],
                    "reference - arm run ci high": runs["ci high"],
                }
                rows.append(row)
    return pd.DataFrame(rows)


def fold_differences(
    curve: EfficiencyCurve, reference: str, arm: str, n: int, test: str
) -> np.ndarray:
    """``[folds]``: each fold's own R² of ``reference`` minus that of ``arm`` on ``test`` at
    ``n`` labels (two fine-tuning runs on the same training rows)."""
    runs = curve.runs[curve.runs["labels"] == n].set_index(["arm", "fold"])[f"{test} R2"]
    return np.array([runs[(reference, f)] - runs[(arm, f)] for f in curve.folds], dtype=float)


def verdict(
    low: float,
    high: float,
    better: str,
    worse: str,
    runs: tuple[float, float],
    learned: bool = True,
) -> str:
    """What an interval of ``better`` minus ``worse`` allows one to say.

    ``low``, ``high``: the paired bootstrap interval over test rows. The bootstrap does not see
    how much a fine-tuned model changes from one training run to the next, so the interval
    over training runs (``runs``: :func:`course_lib.uncertainty.spread` of
    :func:`fold_differences`; ``NaN`` with one fold) has to exclude zero on the same side too
    (:func:`course_lib.uncertainty.agreed_direction`); and a difference between two models
    that both do no better than predicting the mean MRL (``learned`` false: both R² at most 0)
    says nothing about what either learned.
    """
    direction = agreed_direction((low, high), runs)
    if direction and not learned:
        return "nothing can be concluded (neither model beats predicting the mean, R2 <= 0)"
    if direction:
        return f"{better} is better" if direction > 0 else f"{worse} is better"
    return f"nothing can be concluded ({why_undecided((low, high), runs)})"


def _row_verdict(row: pd.Series, better: str, worse: str) -> tuple[str, str]:
    """A table row's paired intervals as text (``"+0.120 [+0.080, +0.160] over test UTRs,
    [+0.010, +0.230] over 3 training runs"``) and its :func:`verdict` (``better``/``worse``:
    what to call the reference and the arm)."""
    low, high = row["reference - arm ci low"], row["reference - arm ci high"]
    runs = row["reference - arm run ci low"], row["reference - arm run ci high"]
    interval = (
        f"{row['reference - arm']:+.3f} [{low:+.3f}, {high:+.3f}] over test UTRs, "
        f"[{runs[0]:+.3f}, {runs[1]:+.3f}] over {row['folds']:.0f} training runs"
    )
    return interval, verdict(low, high, better, worse, runs, _learned(row))


def conclusions(table: pd.DataFrame, reference: str, provenance: str, profile: str) -> list[str]:
    """One sentence per arm compared with ``reference``, label count and test set, e.g.
    ``"(b) vs scratch, 250 labels, Human7600: +0.120 [0.080, 0.160] R2: (b) is better"``."""
    out = []
    for _, row in table[table["arm"] != reference].iterrows():
        interval, word = _row_verdict(row, reference, row["arm"])
        out.append(
            f"{reference} minus {row['arm']}, {row['labels']:,} labels, {row['test set']} "
            f"({provenance} data, {profile} profile): R2 {interval}, same sign in "
            f"{row['folds agreeing']:.0f} of {row['folds']:.0f} folds: {word}"
        )
    return out


def _learned(row: pd.Series) -> bool:
    """Whether the arm or the reference of a table row beats predicting the mean (R² > 0)."""
    return bool(row["R2"] > 0 or row["reference R2"] > 0)


def lesson_sentence(
    table: pd.DataFrame, reference: str, rivals: Sequence[str], provenance: str, profile: str
) -> str:
    """Whether ``reference`` beats every arm of ``rivals`` at the fewest labels, in one sentence.

    The lesson "pretraining helps when labels are few" shows only where the reference arm is
    better than each rival on both test sets at the smallest label count of ``table``
    (:func:`efficiency_table`): paired 95 % intervals above zero over test rows and over
    training runs, one of the two models beating the mean (:func:`verdict`). The sentence says
    whether it shows and names each comparison that falls short, with its intervals.
    """
    fewest = int(table["labels"].min())
    rows = table[(table["labels"] == fewest) & table["arm"].isin(rivals)]
    if rows.empty:
        raise ValueError(f"no rival arm {list(rivals)} in the table at {fewest} labels")
    short = []
    for _, row in rows.iterrows():
        interval, word = _row_verdict(row, reference, row["arm"])
        if word != f"{reference} is better":
            short.append(f"against {row['arm']} on {row['test set']} {interval}: {word}")
    where = f"At the fewest labels ({fewest:,}; {provenance} data, {profile} profile)"
    against = f"{' and '.join(rivals)} on both test sets"
    if not short:
        return (
            f"{where}, {reference} beats {against} (every paired 95 % interval above zero): "
            "the lesson shows."
        )
    return (
        f"{where}, {reference} does not beat {against}: the lesson does not show in this run "
        f"({len(short)} of {len(rows)} comparisons fall short: {'; '.join(short)})."
    )


def lr_choice_sentence(lr_grid: pd.DataFrame) -> str:
    """Whether the learning-rate grid brackets every arm's choice, in one sentence
    (:func:`course_lib.grids.edge_sentence`: each choice at the grid's edge is named).

    Parameters
    ----------
    lr_grid
        :attr:`EfficiencyCurve.lr_grid`: one row per arm, label count and learning rate tried
        (``arm``, ``labels``, ``lr``, ``val R2``), in the order tried; the first best on
        validation is the one chosen, as in the curve.
    """
    if lr_grid.empty:
        return edge_sentence({}, ())
    best = lr_grid.loc[lr_grid.groupby(["arm", "labels"], sort=False)["val R2"].idxmax()]
    chosen = {f"{arm} at {n:,} labels": lr for arm, n, lr in best[["arm", "labels", "lr"]].values}
    return edge_sentence(chosen, lr_grid["lr"].unique(), parameter="lr_grid")


def summary_sentence(table: pd.DataFrame, reference: str, arm: str, test: str) -> str:
    """Where ``reference`` beats ``arm`` on ``test`` over the label counts, in one sentence."""
    rows = table[(table["arm"] == arm) & (table["test set"] == test)].sort_values("labels")
    parts = []
    for _, row in rows.iterrows():
        interval, word = _row_verdict(row, "helps", "hurts")
        parts.append(f"at {row['labels']:,} labels {interval} ({word.replace(' is better', '')})")
    return f"{reference} against {arm} on {test}: " + "; ".join(parts)


def plot_efficiency(axes: Sequence[Axes], table: pd.DataFrame, caption: str) -> None:
    """One panel per test set: fold-mean R² against label count (log x), 95 % intervals."""
    for ax, test in zip(axes, TEST_SETS, strict=True):
        part = table[table["test set"] == test]
        for i, (arm, rows) in enumerate(part.groupby("arm", sort=False)):
            rows = rows.sort_values("labels")
            error = [rows["R2"] - rows["R2 ci low"], rows["R2 ci high"] - rows["R2"]]
            shift = 1 + 0.03 * (i - 2)  # spread the markers a little
            ax.errorbar(
                rows["labels"] * shift, rows["R2"], yerr=error, marker="o", capsize=3, label=arm
            )
        ax.set_xscale("log")
        ax.set(xlabel="training UTRs (labels)", ylabel="R2 (mean of fold models)")
        ax.set_title(f"{test}\n{caption}")
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend(fontsize="x-small")


def reference_scores(
    predict_mrl: Callable[[Sequence[str]], np.ndarray],
    curve: EfficiencyCurve,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """A published model's fold-mean R² with intervals on the curve's test rows, by test set
    (``predict_mrl(utrs) -> [n]`` MRL; nothing is trained)."""
    out = {}
    for test in TEST_SETS:
        truth = [curve.truth[(f, test)] for f in curve.folds]
        pred = [predict_mrl(utrs) for _, _, utrs in truth]
        out[test] = fold_mean_interval([t[:2] for t in truth], pred, None, n_boot, seed)
    return out


def fold_metrics(curve: EfficiencyCurve, labels: int, fold: int = 0) -> dict[str, dict[str, float]]:
    """``{arm: {test label: metrics}}`` of fold ``fold``'s models trained on ``labels`` UTRs
    (:func:`course_lib.metrics.regression_metrics` in MRL units), for the results table; the
    test labels name the fold (``"Random7600 fold 0"``, ``"Human7600"``)."""
    from course_lib.metrics import regression_metrics

    names = {"Random7600 fold": f"Random7600 fold {fold}", "Human7600": "Human7600"}
    return {
        arm: {
            names[test]: regression_metrics(
                curve.truth[(fold, test)][0], curve.predictions[(arm, labels, fold, test)]
            )
            for test in TEST_SETS
        }
        for arm in curve.arms
    }


def published_sentence(name: str, scores: dict[str, dict[str, float]]) -> str:
    """One line per test set of :func:`reference_scores`: ``name``'s R² and its interval."""
    return "\n".join(
        f"{name} (published) on the curve's {test} rows: R2 {score['estimate']:.3f} "
        f"[{score['ci low']:.3f}, {score['ci high']:.3f}]"
        for test, score in scores.items()
    )
