"""Chapter 3's sample-efficiency curve (``notebooks/03_pum2_dnabert_lstm.ipynb``).

What masked k-mer pretraining adds is clearest with few labels: at each labelled-site count
of ``settings.efficiency_counts``, every arm (the BERT pretrained on genome windows, the same
BERT from random weights, the same BERT pretrained identically on random sequence, the
BiLSTM) is trained on the same class-balanced draw of that many of fold 0's fitting rows, its
learning rate and epoch chosen on fold 0's validation rows (the same rows at every count:
those where cross-validation makes its once-for-every-fold choices, withheld from every test
fold), and scored on fold 0's full test fold. The pretrained arm is set against every other
with a paired bootstrap of the ROC AUC difference over the test rows
(:func:`efficiency_comparisons`), and the conclusions are sentences computed from those
intervals (:func:`efficiency_sentences`).

Why one shared validation set rather than a validation part of each labelled draw: with 100
sites a quarter held out is 25 sequences, and a choice made on 25 sequences measures their
noise (at ``laptop`` a validation ROC AUC of 0.81 went with a test ROC AUC of 0.55). The
shared rows make the arms' choices comparable; they also make every arm look better than a
reader holding only ``count`` labels could make it, and the chapter says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from course_lib.cross_validation import TrainedFold, inner_split, stratified_subset
from course_lib.training_pool import TrainingPool
from course_lib.uncertainty import batched_roc_auc, bootstrap_ci, paired_bootstrap

#: ``make_trainers(n_fit) -> {arm: train_fold}`` for ``n_fit`` fitting rows.
TrainerFactory = Callable[[int], Mapping[str, Callable[[np.ndarray, np.ndarray, int], TrainedFold]]]


def epochs_for_steps(steps: int, n_fit: int, batch_size: int) -> int:
    """Epochs that give at least ``steps`` optimizer steps over ``n_fit`` rows."""
    return max(1, math.ceil(steps / math.ceil(n_fit / batch_size)))


def labelled_rows(
    fit_rows: np.ndarray, labels: np.ndarray, count: int, seed: int = 0
) -> np.ndarray:
    """A class-balanced draw of ``count`` of ``fit_rows`` (sorted ``[count]``), the rows an
    arm is fitted on at one point of the curve."""
    if count > len(fit_rows):
        raise ValueError(
            f"efficiency count {count} exceeds the {len(fit_rows)} fitting rows of the first "
            "fold; lower efficiency_counts"
        )
    return np.sort(fit_rows[stratified_subset(np.asarray(labels)[fit_rows], count, seed)])


@dataclass
class EfficiencyResult:
    """The sample-efficiency curve of one fold.

    Attributes
    ----------
    table
        One row per ``(count, arm)``: ``ROC AUC`` on the test rows with its bootstrap
        ``ci low`` / ``ci high``, the chosen ``lr``, ``val ROC AUC``, ``fit rows``.
    scores
        ``{count: {arm: [n_test] probabilities}}`` on ``test_index``.
    y_test, test_index
        ``[n_test]`` labels and rows of the test fold.
    """

    table: pd.DataFrame
    scores: dict[int, dict[str, np.ndarray]]
    y_test: np.ndarray
    test_index: np.ndarray


def sample_efficiency(
    make_trainers: TrainerFactory,
    labels: np.ndarray,
    fold: tuple[np.ndarray, np.ndarray],
    counts: Sequence[int],
    val_fraction: float,
    seed: int = 0,
    n_boot: int = 1000,
    pool: TrainingPool | None = None,
) -> EfficiencyResult:
    """Train every arm at every labelled-site count of ``counts`` and score the test fold.

    Parameters
    ----------
    make_trainers
        ``make_trainers(n_fit)`` gives ``{arm: train_fold}`` sized for ``n_fit`` rows.
    labels
        ``[n]`` binary labels.
    fold
        ``(train_index, test_index)`` of the first fold: its training rows are split as
        cross-validation splits them (``inner_split(train_index, labels, val_fraction,
        seed)``, the rows of :func:`~course_lib.cross_validation.first_validation_rows`);
        every count draws its fitting rows from the fitting part, and every arm at every
        count chooses its learning rate and epoch on the validation part.
    counts
        Labelled sites per point of the curve: the rows an arm is fitted on.
    val_fraction
        Share of the training rows held out for validation (the chapter's ``val_fraction``).
    seed, n_boot
        Seed of the split, the draws and the bootstrap; resamples of each interval.
    pool
        Where the ``len(counts) x arms`` trainings run (default: this process, in order);
        each is independent, so a pool with workers runs them side by side.
    """
    labels = np.asarray(labels)
    train_index, test_index = fold
    candidates, val = inner_split(train_index, labels, val_fraction, seed)
    draws = {count: labelled_rows(candidates, labels, count, seed) for count in counts}
    tasks = [
        (count, arm, train)
        for count, fit in draws.items()
        for arm, train in make_trainers(len(fit)).items()
    ]
    point = partial(
        curve_point,
        labels=labels,
        draws=draws,
        val=val,
        test_index=test_index,
        seed=seed,
        n_boot=n_boot,
    )
    sizes = [count for count, _, _ in tasks]  # more labelled sites, more steps
    points = (pool or TrainingPool()).map(point, tasks, "sample-efficiency curve", sizes)
    rows, scores = [], {count: {} for count in counts}
    for (count, arm, _), (arm_scores, row) in zip(tasks, points, strict=True):
        scores[count][arm] = arm_scores
        rows.append({"labelled sites": count, "arm": arm, **row, "fit rows": len(draws[count])})
    return EfficiencyResult(pd.DataFrame(rows), scores, labels[test_index], np.asarray(test_index))


def curve_point(
    task: tuple[int, str, Callable[[np.ndarray, np.ndarray, int], TrainedFold]],
    labels: np.ndarray,
    draws: Mapping[int, np.ndarray],
    val: np.ndarray,
    test_index: np.ndarray,
    seed: int,
    n_boot: int,
) -> tuple[np.ndarray, dict[str, float]]:
    """Train one arm at one count (``task``: ``(count, arm, train_fold)``) on ``draws[count]``,
    choosing on ``val``, and score ``test_index``: its ``[n_test]`` probabilities and its
    :func:`curve_row` (one task of :func:`sample_efficiency`, run wherever its pool puts it)."""
    count, _, train = task
    trained = train(draws[count], val, 0)
    scores = np.asarray(trained.predict(test_index), dtype=float).ravel()
    return scores, curve_row(trained, scores, labels[test_index], seed, n_boot)


def curve_row(
    trained: TrainedFold, scores: np.ndarray, y_test: np.ndarray, seed: int, n_boot: int
) -> dict[str, float]:
    """One arm's point of the curve: test ``ROC AUC`` of ``scores`` ``[n_test]`` against
    ``y_test`` with its bootstrap ``ci low`` / ``ci high`` (resampling within each class), the
    chosen ``lr``, the ``val ROC AUC`` it was chosen with and the ``best lr`` on validation
    (:func:`~course_lib.chapters.ch3_models.tuned_trainer`; ``None`` for an untuned arm)."""
    ci = bootstrap_ci(
        batched_roc_auc, y_test, scores, n_boot=n_boot, seed=seed, strata=y_test, batched=True
    )
    return {
        "ROC AUC": ci["estimate"],
        "ci low": ci["ci low"],
        "ci high": ci["ci high"],
        "lr": trained.info.get("lr"),
        "val ROC AUC": trained.info.get("best_val_auc"),
        "best lr": trained.info.get("best lr"),
    }


def efficiency_comparisons(
    result: EfficiencyResult, reference: str, seed: int = 0, n_boot: int = 1000
) -> pd.DataFrame:
    """``reference`` minus every other arm at every count: paired bootstrap of the ROC AUC.

    Returns one row per ``(labelled sites, other arm)`` with ``difference``, ``ci low``,
    ``ci high`` (95 %, resampling test rows within each class) and ``excludes 0``.
    """
    rows = {}
    for count, by_arm in result.scores.items():
        for other, scores in by_arm.items():
            if other == reference:
                continue
            paired = paired_bootstrap(
                batched_roc_auc,
                result.y_test,
                by_arm[reference],
                scores,
                n_boot=n_boot,
                seed=seed,
                strata=result.y_test,
                batched=True,
            )
            keep = ("difference", "ci low", "ci high", "excludes 0")
            rows[(count, other)] = {key: paired[key] for key in keep}
    return pd.DataFrame(rows).T.rename_axis(["labelled sites", f"{reference} minus"])


def efficiency_sentences(comparisons: pd.DataFrame, reference: str, provenance: str) -> list[str]:
    """One sentence per comparison, its verdict read off the interval (never typed)."""
    lines = []
    for (count, other), row in comparisons.iterrows():
        low, high = float(row["ci low"]), float(row["ci high"])
        if low > 0:
            verdict = f"{reference} is better"
        elif high < 0:
            verdict = f"{other} is better"
        else:
            verdict = "nothing can be concluded (the interval spans 0)"
        lines.append(
            f"At {count:,} labelled sites ({provenance} data), {reference} minus {other}: ROC "
            f"AUC {float(row['difference']):+.3f} [{low:+.3f}, {high:+.3f}]: {verdict}."
        )
    return lines


def plot_efficiency(table: pd.DataFrame, ax: Axes, title: str) -> None:
    """ROC AUC against labelled sites (log x), one line per arm with its 95 % intervals."""
    for arm, part in table.groupby("arm", sort=False):
        x = part["labelled sites"].to_numpy(dtype=float)
        y = part["ROC AUC"].to_numpy(dtype=float)
        error = np.vstack([y - part["ci low"].to_numpy(float), part["ci high"].to_numpy(float) - y])
        ax.errorbar(x, y, yerr=error, marker="o", capsize=3, label=arm)
    ax.axhline(0.5, color="k", lw=0.5, ls=":", label="no learning (0.5)")
    ax.set_xscale("log")
    ax.set(xlabel="labelled sites (log scale)", ylabel="test ROC AUC, 95 % interval", title=title)
    ax.legend(fontsize="small")
