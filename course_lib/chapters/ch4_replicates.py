"""Chapter 4 (``notebooks/04_beluga_multiplexer.ipynb``): the pipeline again from other seeds.

A bootstrap over test windows (:func:`~course_lib.chapters.ch4_map_scores.compare_maps`) holds
the trained teacher and the trained multiplexer fixed; trained again from another seed, either
can move the scores by more than that interval is wide. :func:`replicate` runs the chapter's
pipeline once more from another seed (a stand-in teacher: a new synthetic task, teacher and
multiplexer; the published Beluga: the same teacher, a new multiplexer) and scores the
multiplexer and the Taylor estimate on the chapter's own test windows; :func:`seed_intervals`
gives the Student-t interval over runs of their difference, which
:func:`~course_lib.chapters.ch4_map_scores.comparison_sentence` reads beside the bootstrap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from course_lib.chapters.ch4_beluga_multiplexer import chapter_teacher, distil
from course_lib.chapters.ch4_config import Ch4Config
from course_lib.chapters.ch4_map_scores import REPORTED_METRICS, scores_from_moments, window_moments
from course_lib.fasta import Genome
from course_lib.interpret.taylor import taylor_effects
from course_lib.interpret.variant_mutagenesis import ism_log_odds
from course_lib.models.multiplexer import BelugaMultiplexer, predict_maps
from course_lib.progress import progress
from course_lib.report import Interval
from course_lib.training import seed_everything
from course_lib.uncertainty import spread


@dataclass(frozen=True)
class RunScores:
    """One run of the chapter's pipeline, scored on the chapter's test windows.

    Attributes
    ----------
    seed
        The seed of the run.
    multiplexer, taylor
        ``{metric: r}`` of the multiplexer's and of the Taylor estimate's maps against that
        run's teacher ISM maps, for each of the :data:`REPORTED_METRICS`.
    """

    seed: int
    multiplexer: dict[str, float]
    taylor: dict[str, float]

    def difference(self, metric: str) -> float:
        """The multiplexer's ``metric`` minus the Taylor estimate's."""
        return self.multiplexer[metric] - self.taylor[metric]


def map_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The :data:`REPORTED_METRICS` of ``y_pred`` against ``y_true`` (both ``[n, F, 4, L]``) on
    all ``n`` windows together, without an interval (what :func:`map_intervals
    <course_lib.chapters.ch4_map_scores.map_intervals>` calls the estimate)."""
    values = scores_from_moments(window_moments(y_true, y_pred).sum(axis=0))
    return {name: float(v) for name, v in zip(REPORTED_METRICS, values, strict=True)}


def run_scores(
    seed: int, test_y: torch.Tensor, test_pred: torch.Tensor, test_taylor: torch.Tensor
) -> RunScores:
    """A run's :class:`RunScores` from its teacher maps, multiplexer maps and Taylor maps
    (``[n, F, 4, L]`` each, on any device)."""
    truth = test_y.cpu().numpy()
    return RunScores(
        seed,
        map_scores(truth, test_pred.cpu().numpy()),
        map_scores(truth, test_taylor.cpu().numpy()),
    )


@dataclass(frozen=True)
class PipelineInputs:
    """What every run of the chapter's pipeline shares: only the seed differs between runs.

    Attributes
    ----------
    settings
        The chapter's resolved settings.
    genome, regions
        The genome and its ``"train"``/``"validation"``/``"test"`` regions.
    val_x, test_x
        The chapter's validation and test windows, ``[m, 4, L]`` and ``[n, 4, L]``.
    device
        Where to train.
    checkpoint
        The published Beluga's path, or ``None`` for the stand-in teacher.
    """

    settings: Ch4Config
    genome: Genome
    regions: dict[str, Any]
    val_x: torch.Tensor
    test_x: torch.Tensor
    device: torch.device
    checkpoint: str | None = None


def replicate(seed: int, inputs: PipelineInputs) -> RunScores:
    """Run the chapter's pipeline from ``seed`` and score it on the chapter's windows.

    In the notebook's order: :func:`~course_lib.training.seed_everything`, the teacher
    (:func:`~course_lib.chapters.ch4_beluga_multiplexer.chapter_teacher` with a generator of
    ``seed``), its ISM maps of ``inputs.val_x`` and ``inputs.test_x`` (the chapter's own
    windows, so that only training differs), the Taylor estimate of ``test_x``, a fresh
    multiplexer distilled with the chapter's settings
    (:func:`~course_lib.chapters.ch4_beluga_multiplexer.distil`), and its maps of ``test_x``
    (no progress bars).
    """
    settings = inputs.settings
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    teacher = chapter_teacher(
        inputs.checkpoint,
        settings,
        inputs.genome,
        inputs.regions,
        rng,
        inputs.device,
        seed,
        show_progress=False,
    ).model
    val_y = ism_log_odds(teacher, inputs.val_x, settings.ism_batch_size)
    test_y = ism_log_odds(teacher, inputs.test_x, settings.ism_batch_size)
    taylor = taylor_effects(teacher, inputs.test_x)
    multiplexer = BelugaMultiplexer(
        teacher.sequence_length,
        teacher.n_features,
        settings.multiplexer_channels,
        settings.multiplexer_dilations,
    )
    distil(
        multiplexer,
        teacher,
        inputs.genome,
        inputs.regions["train"],
        inputs.val_x,
        val_y,
        settings,
        seed,
        inputs.device,
        show_progress=False,
    )
    return run_scores(seed, test_y, predict_maps(multiplexer, inputs.test_x), taylor)


def replicate_runs(first: RunScores, n_more: int, inputs: PipelineInputs) -> list[RunScores]:
    """``first`` (the chapter's own run) and ``n_more`` :func:`replicate` runs from seeds
    ``first.seed + 1`` to ``first.seed + n_more``, with a progress bar."""
    seeds = range(first.seed + 1, first.seed + 1 + n_more)
    more = [replicate(s, inputs) for s in progress(seeds, desc="runs from other seeds", unit="run")]
    return [first, *more]


def seed_table(runs: Sequence[RunScores]) -> pd.DataFrame:
    """One row per run and metric: ``seed``, ``metric``, ``multiplexer``, ``Taylor`` and
    ``multiplexer - Taylor``."""
    return pd.DataFrame(
        [
            {
                "seed": run.seed,
                "metric": metric,
                "multiplexer": run.multiplexer[metric],
                "Taylor": run.taylor[metric],
                "multiplexer - Taylor": run.difference(metric),
            }
            for run in runs
            for metric in REPORTED_METRICS
        ]
    )


def seed_intervals(runs: Sequence[RunScores]) -> dict[str, dict[str, float]]:
    """``{metric: {"mean", "sd", "ci low", "ci high", "n"}}``: the multiplexer minus the Taylor
    estimate over ``runs`` (at least two), a 95 % Student-t interval of the mean
    (:func:`course_lib.uncertainty.spread`)."""
    if len(runs) < 2:
        raise ValueError(f"need at least two runs for an interval over runs, got {len(runs)}")
    seeds = [run.seed for run in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"runs must come from different seeds, got seeds {seeds}")
    return {m: spread(np.array([run.difference(m) for run in runs])) for m in REPORTED_METRICS}


def seed_metrics(runs: Sequence[RunScores], method: str) -> dict[str, Any]:
    """The results file's entry: each run's scores and, per metric, the interval over runs."""
    over_runs: Mapping[str, Mapping[str, float]] = seed_intervals(runs)
    return {
        "runs": {
            f"seed {run.seed}": {"multiplexer": run.multiplexer, "Taylor": run.taylor}
            for run in runs
        },
        "multiplexer minus Taylor, mean over runs": {
            metric: {"estimate": v["mean"], "interval": Interval.of_row(v, method)}
            for metric, v in over_runs.items()
        },
    }
