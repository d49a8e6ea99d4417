"""Chapter 1's protocol on the real Random7600 and Human7600: index splits, not training loops.

The 76,319 training UTRs of Sample et al. are on GEO only, so at ``smoke`` and ``laptop``
chapter 1 trains its heads *within* Random7600 (100 real UTRs per length 25..100, measured
mean ribosome load) and keeps Human7600 whole as an external test:

1. :func:`length_stratified_folds`: ``n_folds`` test folds of Random7600, each holding the same
   share of every UTR length; inside the other folds an inner validation split (also
   stratified by length) is kept for model selection (epochs, hyper-parameters).
2. :func:`fold_tables`: the rows of one fold and a label scaler fitted on its training rows
   only (never on validation, test or Human7600 rows).
3. :func:`learning_curve_sizes` and :func:`learning_curve_subsets`: nested, length-stratified
   subsets of a fold's training rows, from a few hundred UTRs to all of them; validation and
   test rows stay fixed, so the points differ only in training size.
   :data:`PAPER_TRAINING_SIZE` is where the paper's training set would sit on that axis.
4. :func:`scores_with_intervals`: R², squared Pearson r and Spearman rho of a test set with
   percentile bootstrap intervals (:func:`course_lib.uncertainty.bootstrap_ci`), resampled
   within UTR length so every resample keeps the test set's design of 100 UTRs per length.
5. :func:`combine_predictions`: out-of-fold predictions over all of Random7600 and the mean
   of the fold models on Human7600; :func:`fold_spread` the spread of per-fold scores;
   :func:`scores_table` every model on every test set with intervals, :func:`comparisons`
   whether two models' intervals overlap (:func:`intervals_overlap`).

:func:`real_utr_protocol` builds all of it from the varying-length test table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from course_lib.datasets.utr import REAL_FILTERED_COUNTS, fit_label_scaler
from course_lib.datasets.utr_testsets import VARYING_SETS, read_varying_table
from course_lib.uncertainty import bootstrap_ci

#: Training UTRs of the original protocol: random-set rows with >= 10 reads minus Random7600.
PAPER_TRAINING_SIZE = REAL_FILTERED_COUNTS["random"] - 7600
#: ``set`` values of the varying-length test table, and the published names.
TEST_SET_NAMES = VARYING_SETS
#: Metrics :func:`scores_with_intervals` reports (names of :mod:`course_lib.metrics`).
INTERVAL_METRICS = ("R2", "Pearson r^2", "Spearman rho")


@dataclass(frozen=True)
class FoldSplit:
    """Row indices (into the Random7600 table) of one cross-validation fold.

    Attributes
    ----------
    fold
        Fold number, from 0.
    fit, val, test
        Sorted ``int64`` arrays: training rows, the inner validation rows (model selection)
        and the held-out fold. The three are disjoint and together cover every row, less the
        rows :meth:`RealUTRProtocol.withholding` leaves out of the test rows.
    """

    fold: int
    fit: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict[str, int]:
        """Rows per part."""
        return {"fit": len(self.fit), "val": len(self.val), "test": len(self.test)}


def length_strata(lengths: np.ndarray, min_per_stratum: int) -> np.ndarray:
    """Stratum id ``[n]`` per row: single lengths, neighbouring lengths merged until each
    stratum holds at least ``min_per_stratum`` rows (on Random7600, 100 per length, every
    length is its own stratum)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size < min_per_stratum:
        raise ValueError(f"{lengths.size} rows cannot fill a stratum of {min_per_stratum}")
    values, counts = np.unique(lengths, return_counts=True)
    stratum_of, current, filled = {}, 0, 0
    for value, count in zip(values, counts, strict=True):
        stratum_of[value], filled = current, filled + count
        if filled >= min_per_stratum:
            current, filled = current + 1, 0
    if filled:  # a short last stratum joins the one before it
        last = current - 1 if current else 0
        stratum_of = {v: min(s, last) for v, s in stratum_of.items()}
    return np.array([stratum_of[x] for x in lengths], dtype=np.int64)


def length_stratified_folds(
    lengths: np.ndarray, n_folds: int = 5, val_fraction: float = 0.1, seed: int = 0
) -> list[FoldSplit]:
    """Cross-validation folds stratified by UTR length, each with an inner validation split.

    Parameters
    ----------
    lengths
        ``[n]`` UTR lengths of the table the indices refer to.
    n_folds
        Test folds; every row is tested exactly once.
    val_fraction
        Share of each fold's training rows kept for model selection.

    Returns
    -------
    list of FoldSplit
        One per fold.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    # a stratum needs a row in every test fold and in every validation split, and there can
    # be no more strata than validation rows
    per_fold = int(np.ceil(n_folds / (1 - val_fraction))) + n_folds
    per_val = int(np.ceil(1 / ((1 - 1 / n_folds) * val_fraction))) + 1
    strata = length_strata(lengths, max(per_fold, per_val))
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = []
    for fold, (train, test) in enumerate(splitter.split(np.zeros(len(strata)), strata)):
        fit, val = train_test_split(
            train, test_size=val_fraction, stratify=strata[train], random_state=seed + fold
        )
        folds.append(FoldSplit(fold, np.sort(fit), np.sort(val), np.sort(test)))
    return folds


@dataclass(frozen=True)
class FoldTables:
    """The rows of one fold and the label scaler fitted on its training rows only."""

    fit: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    scaler: StandardScaler


def fold_tables(
    table: pd.DataFrame, split: FoldSplit, fit_index: np.ndarray | None = None, column: str = "rl"
) -> FoldTables:
    """Rows of ``split`` and a :class:`~sklearn.preprocessing.StandardScaler` of ``column``
    fitted on the training rows alone.

    ``fit_index`` replaces ``split.fit`` (a learning-curve subset of it); it must lie inside
    ``split.fit``, so a scaler never sees a validation or test row.
    """
    fit_index = split.fit if fit_index is None else np.asarray(fit_index)
    outside = np.setdiff1d(fit_index, split.fit)
    if outside.size:
        raise ValueError(
            f"fold {split.fold}: {outside.size} training rows are not among the fold's "
            "training rows (validation or test rows must not be trained on)"
        )
    fit = table.iloc[fit_index].reset_index(drop=True)
    return FoldTables(
        fit,
        table.iloc[split.val].reset_index(drop=True),
        table.iloc[split.test].reset_index(drop=True),
        fit_label_scaler(fit, column),
    )


def learning_curve_sizes(n_max: int, smallest: int = 200, n_points: int = 6) -> list[int]:
    """Geometrically spaced training sizes from ``smallest`` to ``n_max`` (both included)."""
    if not 1 <= smallest <= n_max:
        raise ValueError(f"need 1 <= smallest ({smallest}) <= n_max ({n_max})")
    if n_points < 2:
        raise ValueError(f"n_points must be at least 2, got {n_points}")
    sizes = np.unique(np.round(np.geomspace(smallest, n_max, n_points)).astype(int))
    return [int(s) for s in sizes]


def nested_stratified_order(index: np.ndarray, strata: np.ndarray, seed: int = 0) -> np.ndarray:
    """``index`` reordered so that every prefix holds each stratum in proportion (to within
    one row): the first ``m`` rows are a length-stratified subset of size ``m``, and a smaller
    subset is always inside a larger one."""
    index, strata = np.asarray(index), np.asarray(strata)
    if len(index) != len(strata):
        raise ValueError(f"{len(index)} rows but {len(strata)} strata")
    rng = np.random.default_rng(seed)
    keys = np.empty(len(index))
    for stratum in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == stratum))
        keys[members] = (np.arange(len(members)) + rng.random()) / len(members)
    return index[np.argsort(keys, kind="stable")]


def learning_curve_subsets(
    split: FoldSplit, lengths: np.ndarray, sizes: list[int], seed: int = 0
) -> dict[int, np.ndarray]:
    """``{size: sorted training rows}``: nested length-stratified subsets of ``split.fit``.

    Validation and test rows of the fold are the same for every size.
    """
    if max(sizes) > len(split.fit):
        raise ValueError(f"largest size {max(sizes)} exceeds the fold's {len(split.fit)} rows")
    strata = length_strata(np.asarray(lengths)[split.fit], 1)
    order = nested_stratified_order(split.fit, strata, seed + split.fold)
    return {int(n): np.sort(order[:n]) for n in sizes}


@dataclass(frozen=True)
class RealUTRProtocol:
    """Chapter 1's real-data protocol.

    Attributes
    ----------
    random, human
        Random7600 and Human7600 (``utr``, ``rl``, ``len``), fresh indices.
    folds
        :func:`length_stratified_folds` of ``random``.
    sizes
        Learning-curve training sizes (:func:`learning_curve_sizes`).
    """

    random: pd.DataFrame
    human: pd.DataFrame
    folds: list[FoldSplit]
    sizes: list[int]
    withheld: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def withholding(self, rows: Iterable[int]) -> RealUTRProtocol:
        """The protocol with Random7600 ``rows`` left out of every fold's test rows.

        A choice made once and reused by every fold (chapter 5's learning rates, chosen on
        fold 0's validation rows; chapter 1's layer, chosen on every fold's) has looked at
        those rows, and a fold that tests them would score a model on rows that chose it.
        Training and validation rows are unchanged; ``withheld`` is the union of every call's
        ``rows`` (sorted ``int64``).
        """
        withheld = np.union1d(self.withheld, np.asarray(list(rows), dtype=np.int64))
        folds = [replace(f, test=np.setdiff1d(f.test, withheld)) for f in self.folds]
        return replace(self, folds=folds, withheld=withheld)

    def check_withheld(self, rows: np.ndarray, choice: str) -> None:
        """Raise ``ValueError`` where a fold's test rows hold any of ``rows``, the rows on
        which ``choice`` (e.g. "the learning rate, chosen on fold 0's validation rows,") is
        made once for every fold (:func:`course_lib.cross_validation.check_withheld`)."""
        from course_lib.cross_validation import check_withheld

        folds = [(np.concatenate([f.fit, f.val]), f.test) for f in self.folds]
        check_withheld(folds, rows, choice, "protocol.withholding(rows)")

    def learning_curve(self, fold: int, seed: int = 0) -> dict[int, np.ndarray]:
        """Training rows per size for one fold (:func:`learning_curve_subsets`)."""
        return learning_curve_subsets(self.folds[fold], self.random["len"], self.sizes, seed)

    def summary(self) -> pd.DataFrame:
        """One row per fold: fit, val and test sizes, the test rows withheld
        (:meth:`withholding`) and the external test's size."""
        rows = [
            {
                "fold": f.fold,
                **f.sizes(),
                "withheld": np.setdiff1d(self.withheld, np.concatenate([f.fit, f.val])).size,
                "Human7600": len(self.human),
            }
            for f in self.folds
        ]
        return pd.DataFrame(rows).set_index("fold")

    def fold_sizes(self) -> dict[str, dict[str, int]]:
        """``{"fold 0": {"fit": ..., "val": ..., "test": ..., "Human7600": ...}, ...}``: the rows
        of :meth:`summary` named for a sentence (``course_lib.text.as_text``)."""
        return {f"fold {k}": v for k, v in self.summary().to_dict(orient="index").items()}


def read_varying_testsets(path: str | Path, verbose: bool = True) -> pd.DataFrame:
    """Random7600 and Human7600 from ``utr_testsets/stride11133m_MPA_V_pred.csv``.

    Returns ``utr`` (DNA alphabet), ``rl`` (measured MRL), ``set`` and ``len``; the table's
    other columns (MTtrans's predictions) are left out and reported.
    """
    table = read_varying_table(path, verbose=verbose)
    return table.assign(len=table["utr"].str.len())


def real_utr_protocol(
    table: pd.DataFrame,
    n_folds: int = 5,
    val_fraction: float = 0.1,
    seed: int = 0,
    smallest: int = 200,
    n_points: int = 6,
) -> RealUTRProtocol:
    """Folds within Random7600, Human7600 as external test, and learning-curve sizes.

    Parameters
    ----------
    table
        From :func:`read_varying_testsets` (``utr``, ``rl``, ``set``, ``len``).
    smallest, n_points
        Learning-curve sizes run from ``smallest`` training UTRs to a whole fold's training
        rows in ``n_points`` geometric steps.

    Raises
    ------
    ValueError
        A set is missing, or a UTR is in both sets (the external test would not be external).
    """
    parts = {s: table[table["set"] == s].reset_index(drop=True) for s in TEST_SET_NAMES}
    empty = [TEST_SET_NAMES[s] for s, part in parts.items() if part.empty]
    if empty:
        raise ValueError(f"the table holds no rows of {empty}; pass the varying-length test table")
    shared = set(parts["random"]["utr"]) & set(parts["human"]["utr"])
    if shared:
        raise ValueError(f"{len(shared)} UTRs are in both Random7600 and Human7600")
    folds = length_stratified_folds(parts["random"]["len"], n_folds, val_fraction, seed)
    n_fit = min(len(f.fit) for f in folds)
    sizes = learning_curve_sizes(n_fit, min(smallest, n_fit), n_points)
    return RealUTRProtocol(parts["random"], parts["human"], folds, sizes)


def _batched_pearson(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    y = y - y.mean(-1, keepdims=True)
    p = p - p.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (y * p).sum(-1) / np.sqrt((y * y).sum(-1) * (p * p).sum(-1))


def _batched_r2(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    total = ((y - y.mean(-1, keepdims=True)) ** 2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - ((y - p) ** 2).sum(-1) / total


#: Vectorised metrics over ``[n_boot, n]`` resamples, named as in :mod:`course_lib.metrics`
#: (sklearn's R2; the squared Pearson r; Spearman rho, the Pearson r of average ranks).
BATCHED_METRICS = {
    "R2": _batched_r2,
    "Pearson r^2": lambda y, p: _batched_pearson(y, p) ** 2,
    "Spearman rho": lambda y, p: _batched_pearson(
        stats.rankdata(y, axis=-1), stats.rankdata(p, axis=-1)
    ),
}


def scores_with_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    lengths: np.ndarray | None = None,
    *,
    metrics: tuple[str, ...] = INTERVAL_METRICS,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Test-set metrics with 95 % percentile bootstrap intervals over UTRs.

    Parameters
    ----------
    y_true, y_pred
        ``[n]`` measured and predicted MRL.
    lengths
        ``[n]`` UTR lengths: resample within each length (the test sets' design); ``None``
        resamples all rows freely.
    metrics
        Keys of :data:`BATCHED_METRICS` (all resamples scored in one vectorised call).

    Returns
    -------
    dict
        ``{metric: {"estimate", "ci low", "ci high", "se", "n", "n_boot", "level"}}``; the
        estimates equal :func:`course_lib.metrics.regression_metrics` on all rows.
    """
    unknown = sorted(set(metrics) - set(BATCHED_METRICS))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {list(BATCHED_METRICS)}")
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    strata = None if lengths is None else np.asarray(lengths)
    return {
        name: bootstrap_ci(
            BATCHED_METRICS[name],
            y_true,
            y_pred,
            n_boot=n_boot,
            seed=seed,
            strata=strata,
            batched=True,
        )
        for name in metrics
    }


#: Column suffixes of an estimate and its interval, and the keys of
#: :func:`course_lib.utr_protocol.scores_with_intervals` they hold.
INTERVAL_COLUMNS = (("", "estimate"), (" ci low", "ci low"), (" ci high", "ci high"))


def scores_table(
    predictions: Mapping[str, Mapping[str, np.ndarray]],
    test_sets: Mapping[str, pd.DataFrame],
    n_boot: int,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per model and test set: R2, Pearson r^2, Spearman rho with 95 % intervals.

    Intervals are percentile bootstraps over UTRs within each length
    (:func:`course_lib.utr_protocol.scores_with_intervals`); columns ``<metric>``,
    ``<metric> ci low``, ``<metric> ci high``.
    """
    rows = {}
    for model, by_set in predictions.items():
        for name, pred in by_set.items():
            table = test_sets[name]
            lengths = table["utr"].str.len().to_numpy()
            scores = scores_with_intervals(table["rl"], pred, lengths, n_boot=n_boot, seed=seed)
            rows[(model, name)] = {
                f"{metric}{suffix}": value[key]
                for metric, value in scores.items()
                for suffix, key in INTERVAL_COLUMNS
            }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["model", "test set"]
    return table


def table_metrics(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """``{"<model> <test set>": {column: value}}`` of :func:`scores_table`, for the results
    file (e.g. ``"seq head (CV) Random7600": {"R2": ..., "R2 ci low": ..., ...}``)."""
    return {
        f"{model} {name}": {k: float(v) for k, v in row.items()}
        for (model, name), row in table.iterrows()
    }


def intervals_overlap(table: pd.DataFrame, a: str, b: str, test_set: str, metric: str) -> bool:
    """Whether the 95 % intervals of models ``a`` and ``b`` on ``test_set`` overlap."""
    low = table[f"{metric} ci low"]
    high = table[f"{metric} ci high"]
    return bool(
        low[(a, test_set)] <= high[(b, test_set)] and low[(b, test_set)] <= high[(a, test_set)]
    )


def comparisons(
    table: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    metric: str = "R2",
    test_sets: Sequence[str] = ("Random7600", "Human7600"),
) -> pd.DataFrame:
    """For each pair ``(a, b)`` of models of :func:`scores_table` and each test set: ``a``
    minus ``b`` in ``metric`` and whether their 95 % intervals overlap.

    Separate intervals are a conservative check: a difference whose intervals do not overlap
    exceeds the uncertainty; one whose intervals overlap is not shown to be real.
    """
    rows = []
    for a, b in pairs:
        for name in test_sets:
            overlap = intervals_overlap(table, a, b, name, metric)
            diff = table.loc[(a, name), metric] - table.loc[(b, name), metric]
            higher = "a" if diff > 0 else "b"
            verdict = "not beyond the intervals" if overlap else f"{higher} higher, intervals apart"
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "test set": name,
                    f"{metric} a - b": diff,
                    "intervals overlap": overlap,
                    "verdict": verdict,
                }
            )
    return pd.DataFrame(rows)


def combine_predictions(
    fold_predictions: Iterable[tuple[str, Mapping[str, np.ndarray], Mapping[str, np.ndarray]]],
    sizes: Mapping[str, int],
    withheld: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """``{model: {test set: [n]}}``: each row's predictions averaged over the folds that
    predicted it (out of fold on Random7600: one each; Human7600: the mean of the fold models).

    Parameters
    ----------
    fold_predictions
        ``(model, rows, predictions)`` per model and fold: ``rows[test set]`` ``[m]`` indices
        into that test set's whole table and ``predictions[test set]`` ``[m]`` values.
    sizes
        ``{test set: n rows}``.
    withheld
        ``{test set: rows}`` withheld from every fold's test (:meth:`RealUTRProtocol.withholding`):
        NaN where no fold predicted them.

    Raises
    ------
    ValueError
        A row of a test set, not withheld, was never predicted by a model.
    """
    sums: dict[tuple[str, str], np.ndarray] = {}
    counts: dict[tuple[str, str], np.ndarray] = {}
    for model, rows, predictions in fold_predictions:
        for name, pred in predictions.items():
            key = (model, name)
            sums.setdefault(key, np.zeros(sizes[name]))
            counts.setdefault(key, np.zeros(sizes[name]))
            np.add.at(sums[key], rows[name], pred)
            np.add.at(counts[key], rows[name], 1)
    out: dict[str, dict[str, np.ndarray]] = {}
    for (model, name), total in sums.items():
        unseen = counts[(model, name)] == 0
        missing = int(np.delete(unseen, (withheld or {}).get(name, [])).sum())
        if missing:
            raise ValueError(f"{model}: {missing} rows of {name} were never predicted")
        with np.errstate(invalid="ignore", divide="ignore"):
            out.setdefault(model, {})[name] = total / counts[(model, name)]
    return out


def fold_spread(per_fold: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over folds of :func:`fold_scores`, per head and test set
    (columns ``"<metric> fold mean"``, ``"<metric> fold sd"``)."""
    grouped = per_fold.groupby(["head", "test set"], sort=False)[list(INTERVAL_METRICS)]
    mean, sd = grouped.mean().add_suffix(" fold mean"), grouped.std().add_suffix(" fold sd")
    return pd.concat([mean, sd], axis=1)
