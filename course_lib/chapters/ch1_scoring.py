"""Chapter 1's scoring (``notebooks/01_utr_rnafm.ipynb``): every test set scored the same way.

Each fold trains a fresh single model. On Random7600 a fold model is scored on its own test
rows, on Human7600 on all rows; on both the headline is the **mean over the single fold
models** with their spread (sd, min, max), and a 95 % bootstrap interval over test UTRs
(resampled within length, and within fold on Random7600) of that mean
(:func:`fold_scores_table`). A published single model (Framepool, the MTtrans peer) is scored
on the same fold rows (:func:`peer_fold_sets`), so it sits beside the heads as a like.

Heads are compared by a **paired** bootstrap: both are scored on the same resampled rows; and
over the fold models, each fold training both heads again (a Student-t interval of the
per-fold differences). The sentence names a better head only where both intervals exclude
zero on the same side (:func:`paired_comparisons`, :func:`conclusion`). The mean of the fold
models' predictions on Human7600 is an **ensemble**: it is scored apart and named so
(:func:`ensemble_predictions`), to be compared only with other ensembles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from course_lib.uncertainty import agreed_direction, bootstrap_indices, spread, why_undecided
from course_lib.utr_protocol import BATCHED_METRICS

#: Metrics of :func:`fold_scores_table` (sklearn's R2 and the squared Pearson r).
METRICS = ("R2", "Pearson r^2")
#: How the intervals of this module are obtained.
METHOD = "95 % bootstrap over test UTRs (within length and fold) of the mean over fold models"


@dataclass(frozen=True)
class FoldSet:
    """One model's single-fold predictions on one test set.

    Attributes
    ----------
    rows
        Per fold, ``[m_f]`` rows of the test set's whole table that the fold's model predicted.
    predictions
        Per fold, ``[m_f]`` predicted MRL of those rows.
    """

    rows: tuple[np.ndarray, ...]
    predictions: tuple[np.ndarray, ...]


def fold_sets(fold_heads: Sequence, name: Callable[[str], str]) -> dict[str, dict[str, FoldSet]]:
    """``{model: {test set: FoldSet}}`` of :class:`~course_lib.chapters.ch1_utr_rnafm.FoldHead`
    runs, folds in order; ``name(head)`` gives the model's label."""
    grouped: dict[str, list] = {}
    for fh in sorted(fold_heads, key=lambda fh: fh.fold):
        grouped.setdefault(name(fh.name), []).append(fh)
    return {
        model: {
            test: FoldSet(
                tuple(fh.rows[test] for fh in heads), tuple(fh.predictions[test] for fh in heads)
            )
            for test in heads[0].rows
        }
        for model, heads in grouped.items()
    }


def peer_fold_sets(
    predictions: Mapping[str, Mapping[str, np.ndarray]], like: Mapping[str, FoldSet]
) -> dict[str, dict[str, FoldSet]]:
    """A single model's whole-table predictions ``{model: {test set: [n]}}`` cut into the fold
    rows of ``like`` (``{test set: FoldSet}`` of a head), so it is scored as the heads are."""
    return {
        model: {
            test: FoldSet(like[test].rows, tuple(pred[r] for r in like[test].rows))
            for test, pred in by_set.items()
            if test in like
        }
        for model, by_set in predictions.items()
    }


@dataclass
class FoldResampler:
    """The bootstrap of one test set, shared by every model scored on it (paired).

    Fold rows are either disjoint (Random7600: each row in one fold's test part, the rows
    withheld from every test left out) or identical (Human7600: every fold model predicts all
    rows). Rows are resampled within UTR length and within fold, so each fold keeps its size in
    every resample.

    Attributes
    ----------
    y
        ``[n]`` measured MRL.
    rows
        Per fold, its ``[m_f]`` rows.
    index
        ``[n_boot, n]`` resampled rows.
    columns
        Per fold, the columns of ``index`` that hold its rows.
    """

    y: np.ndarray
    rows: tuple[np.ndarray, ...]
    index: np.ndarray
    columns: tuple[np.ndarray, ...]
    cache: dict = field(default_factory=dict)

    @classmethod
    def build(
        cls, y: np.ndarray, lengths: np.ndarray, rows: Sequence[np.ndarray], n_boot: int, seed: int
    ) -> FoldResampler:
        """The resampler of a test set with measured ``y`` ``[n]`` and ``lengths`` ``[n]``."""
        y, n = np.asarray(y, dtype=float), len(y)
        member = np.zeros((len(rows), n), bool)
        for f, r in enumerate(rows):
            member[f, r] = True
        shared, disjoint = (member == member[0]).all(), (member.sum(0) <= 1).all()
        tested = np.flatnonzero(member.any(0))  # rows withheld from every fold are not scored
        if not (shared or disjoint) or not tested.size:
            raise ValueError("fold rows must be disjoint or identical, and not all empty")
        fold_of = member.argmax(0)  # the fold that holds each row (0 when shared)
        strata = fold_of * (int(np.max(lengths)) + 1) + np.asarray(lengths)
        index = tested[bootstrap_indices(tested.size, n_boot, seed, strata[tested])]
        columns = tuple(np.flatnonzero(m[index[0]]) for m in member)
        return cls(y, tuple(np.asarray(r) for r in rows), index, columns)

    def scores(self, model: str, folds: FoldSet, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """Per fold on its own rows ``[K]``, and per resample and fold ``[n_boot, K]``."""
        key = (model, metric)
        if key not in self.cache:
            score = BATCHED_METRICS[metric]
            own, boot = [], []
            for r, p, cols in zip(self.rows, folds.predictions, self.columns, strict=True):
                full = np.full(len(self.y), np.nan)
                full[r] = p
                own.append(score(self.y[r][None], np.asarray(p, float)[None])[0])
                rows = self.index[:, cols]
                boot.append(score(self.y[rows], full[rows]))
            self.cache[key] = (np.array(own), np.stack(boot, 1))
        return self.cache[key]


def resamplers(
    sets: Mapping[str, Mapping[str, FoldSet]],
    tables: Mapping[str, pd.DataFrame],
    n_boot: int,
    seed: int = 0,
) -> dict[str, FoldResampler]:
    """One :class:`FoldResampler` per test set, from the fold rows of the first model."""
    first = next(iter(sets.values()))
    return {
        test: FoldResampler.build(
            table["rl"].to_numpy(float),
            table["utr"].str.len().to_numpy(),
            first[test].rows,
            n_boot,
            seed,
        )
        for test, table in tables.items()
        if test in first
    }


def fold_scores_table(
    sets: Mapping[str, Mapping[str, FoldSet]],
    samplers: Mapping[str, FoldResampler],
    metrics: Sequence[str] = METRICS,
) -> pd.DataFrame:
    """One row per model and test set: each metric's mean over the single fold models, its 95 %
    interval (``<m> ci low``, ``<m> ci high``) and its spread (``<m> fold sd/min/max``)."""
    rows = {}
    for model, by_set in sets.items():
        for test, folds in by_set.items():
            row: dict[str, float] = {"folds": len(folds.rows)}
            for metric in metrics:
                own, boot = samplers[test].scores(model, folds, metric)
                low, high = np.nanpercentile(boot.mean(1), [2.5, 97.5])
                sd = float(own.std(ddof=1)) if len(own) > 1 else float("nan")
                row |= {
                    metric: float(own.mean()),
                    f"{metric} ci low": low,
                    f"{metric} ci high": high,
                }
                row |= {f"{metric} fold sd": sd, f"{metric} fold min": own.min()}
                row[f"{metric} fold max"] = own.max()
            rows[(model, test)] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["model", "test set"]
    return table


def _bound(x: float) -> str:
    """An interval bound with its sign: three decimals, or three significant digits where
    three decimals would round it to +0.000 or -0.000."""
    if x != 0 and abs(x) < 0.0005:
        return np.format_float_positional(x, precision=3, unique=False, fractional=False, sign=True)
    return f"{x:+.3f}"


def conclusion(
    a: str,
    b: str,
    test: str,
    diff: float,
    interval: tuple[float, float],
    over_folds: tuple[float, float],
    n_folds: int,
) -> str:
    """The sentence two intervals of ``a`` minus ``b`` on ``test`` allow: ``interval``, the
    paired bootstrap over test UTRs (the fold models held fixed), and ``over_folds``, the
    Student-t interval over the ``n_folds`` fold models' own differences (each fold trains both
    again). A model scores higher only where both lie on the same side of zero
    (:func:`course_lib.uncertainty.agreed_direction`)."""
    (low, high), (fold_low, fold_high) = interval, over_folds
    bounds = [_bound(x) for x in (low, high, fold_low, fold_high)]
    head = (
        f"{a} minus {b} on {test}: {diff:+.3f} [{bounds[0]}, {bounds[1]}] over test UTRs, "
        f"[{bounds[2]}, {bounds[3]}] over {n_folds} fold models"
    )
    direction = agreed_direction(interval, over_folds)
    if direction > 0:
        return f"{head}; both intervals lie above zero: {a} scores higher."
    if direction < 0:
        return f"{head}; both intervals lie below zero: {b} scores higher."
    if low <= 0 <= high and fold_low <= 0 <= fold_high:
        reason = "both intervals span zero"
    else:
        reason = why_undecided(interval, over_folds, run="fold model")
    return f"{head}; {reason}: nothing can be concluded about which is better."


def paired_comparisons(
    sets: Mapping[str, Mapping[str, FoldSet]],
    samplers: Mapping[str, FoldResampler],
    pairs: Sequence[tuple[str, str]],
    metric: str = "R2",
) -> pd.DataFrame:
    """Paired bootstrap of ``a`` minus ``b`` (mean over fold models of ``metric``) per pair and
    test set, and the Student-t interval over the folds' own differences
    (:func:`course_lib.uncertainty.spread`; NaN with one fold): ``a``, ``b``, ``test set``,
    ``<metric> a - b``, ``ci low``, ``ci high``, ``excludes 0`` (the bootstrap's),
    ``fold ci low``, ``fold ci high`` and the :func:`conclusion` sentence."""
    rows = []
    for a, b in pairs:
        for test, sampler in samplers.items():
            own_a, boot_a = sampler.scores(a, sets[a][test], metric)
            own_b, boot_b = sampler.scores(b, sets[b][test], metric)
            diff = float(own_a.mean() - own_b.mean())
            low, high = np.nanpercentile(boot_a.mean(1) - boot_b.mean(1), [2.5, 97.5])
            folds = spread(own_a - own_b)
            over_folds = (folds["ci low"], folds["ci high"])
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "test set": test,
                    f"{metric} a - b": diff,
                    "ci low": float(low),
                    "ci high": float(high),
                    "excludes 0": bool(low > 0 or high < 0),
                    "fold ci low": over_folds[0],
                    "fold ci high": over_folds[1],
                    "conclusion": conclusion(a, b, test, diff, (low, high), over_folds, len(own_a)),
                }
            )
    return pd.DataFrame(rows)


def ensemble_predictions(
    sets: Mapping[str, Mapping[str, FoldSet]], test: str = "Human7600"
) -> dict[str, dict[str, np.ndarray]]:
    """``{"<model> (ensemble of K fold models)": {test: [n]}}``: the mean of the fold models'
    predictions, for the test set every fold model predicts whole."""
    out = {}
    for model, by_set in sets.items():
        folds = by_set.get(test)
        if folds is None or len(folds.rows) < 2:
            continue
        if not all(np.array_equal(r, folds.rows[0]) for r in folds.rows):
            raise ValueError(f"{model}: the fold models of {test} predicted different rows")
        mean = np.empty(len(folds.rows[0]))
        mean[folds.rows[0]] = np.mean(folds.predictions, axis=0)
        out[f"{model} (ensemble of {len(folds.rows)} fold models)"] = {test: mean}
    return out


def ensemble_table(
    sets: Mapping[str, Mapping[str, FoldSet]],
    tables: Mapping[str, pd.DataFrame],
    n_boot: int,
    seed: int = 0,
    test: str = "Human7600",
) -> pd.DataFrame:
    """:data:`METRICS` of :func:`ensemble_predictions` on ``test`` with 95 % bootstrap
    intervals over its UTRs within length (empty when no model has two or more fold models)."""
    predictions = ensemble_predictions(sets, test)
    if not predictions:
        return pd.DataFrame()
    rows = np.arange(len(tables[test]))
    whole = {m: {test: FoldSet((rows,), (p[test],))} for m, p in predictions.items()}
    sampler = resamplers(whole, {test: tables[test]}, n_boot, seed)
    table = fold_scores_table(whole, sampler)
    return table[[c for c in table.columns if "fold" not in c]]
