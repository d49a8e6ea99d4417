"""Chapter 4's report, ``notebooks/04_beluga_multiplexer.ipynb``: its anchors and results file.

:data:`ANCHORS` are the Multiplexer authors' reported figures (one
:class:`~course_lib.report.Anchor` per figure); :func:`report` writes
``results/04_beluga_multiplexer.json`` through :func:`course_lib.report.chapter_report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from course_lib.chapters.ch4_config import Ch4Config
from course_lib.chapters.ch4_replicates import RunScores, seed_metrics
from course_lib.interpret.variant_mutagenesis import SELECTION_METRIC
from course_lib.models.beluga import Beluga
from course_lib.report import Anchor, Estimate, Headline, Interval, chapter_report, intervals_in
from course_lib.training import FitResult

MULTIPLEXER = "BelugaMultiplexer vs Beluga ISM (2,002 features, 2,000 bp, hg19 chr8/chr9 held out)"
REPORTED = (
    "reported by the Multiplexer authors; not found in their repository: cited as reported, "
    "not reproduced"
)
ZHOU_LAB = "Zhou lab Multiplexer (github.com/jzhoulab/Multiplexer)"

#: Published figures of the BelugaMultiplexer against Beluga saturation mutagenesis.
ANCHORS = (
    Anchor(MULTIPLEXER, 0.843, "weighted Pearson r", REPORTED, ZHOU_LAB),
    Anchor(
        MULTIPLEXER,
        67.7,
        "speed-up over Beluga on every variant",
        REPORTED,
        f"{ZHOU_LAB}; speed-up on a GPU",
    ),
)

#: What the chapter's intervals are.
BOOTSTRAP = "95 % bootstrap over windows"
PAIRED = "95 % paired bootstrap over windows (same resampled windows for both)"
OVER_RUNS = (
    "95 % Student-t interval of the mean over runs of the pipeline from different seeds "
    "(teacher and multiplexer trained again), scored on the same test windows"
)
TAYLOR = "first-order Taylor estimate (teacher gradient x (alt - ref))"


def _weighted_r(rows: Mapping[str, Mapping[str, float]]) -> Estimate:
    """The weighted Pearson r of ``map_intervals`` rows, with its bootstrap interval."""
    row = rows["weighted Pearson r"]
    return Estimate(row["estimate"], Interval.of_row(row, BOOTSTRAP))


#: The headline's name of the untrained competitor.
TAYLOR_NAME = "Taylor estimate (untrained)"


def headline(
    scores: Mapping[str, Mapping[str, float]],
    data: str,
    taylor: Mapping[str, Mapping[str, float]] | None = None,
) -> Headline:
    """The multiplexer's weighted Pearson r against the teacher's maps beside the reported one.

    ``scores`` and ``taylor`` (the Taylor estimate's, when measured) are ``map_intervals`` of
    the test windows: ``{metric: {"estimate", "ci low", "ci high", ...}}``.
    """
    found = {"BelugaMultiplexer": scores} | ({TAYLOR_NAME: taylor} if taylor else {})
    compared = {name: _weighted_r(rows) for name, rows in found.items()}
    return Headline("weighted Pearson r", data, compared, ANCHORS[0])


def _metrics(
    intervals: Mapping[str, Mapping[str, Mapping[str, float]]],
    distillation: FitResult,
    invented: pd.DataFrame,
    ism_passes: int,
    length: int,
    teacher_r: np.ndarray | None,
    speed: Mapping[str, Any],
    speed_label: str,
) -> dict[str, Any]:
    """The maps' scores with intervals, the selection, the teacher's passes and scores, speed."""
    seen = int(distillation.history["windows_seen"].iloc[-1])
    return {
        "BelugaMultiplexer vs teacher ISM (95 % ci: bootstrap over windows)": {
            split: {name: intervals_in(row, BOOTSTRAP) for name, row in scores.items()}
            for split, scores in intervals.items()
        },
        "selection": {
            "metric": SELECTION_METRIC,
            "best step": distillation.best_epoch,
            "invented-effects simulation (synthetic)": invented.to_dict("index"),
        },
        "teacher ISM passes": {
            "validation + test windows": ism_passes,
            "per window (3L + 1)": 3 * length + 1,
            "distillation windows seen": seen,
        },
        "teacher": (
            {"validation": {"mean Pearson r vs planted features": float(np.mean(teacher_r))}}
            if teacher_r is not None
            else {}
        ),
        "speed": {speed_label: speed},
    }


@dataclass(frozen=True)
class TaylorBaseline:
    """The untrained competitor, the first-order Taylor estimate, as the chapter measured it.

    Attributes
    ----------
    intervals
        ``{split: {metric: {"estimate", "ci low", "ci high", ...}}}`` of its maps against the
        teacher's ISM maps (``map_intervals``, as for the multiplexer).
    comparison
        ``{metric: {"difference", "ci low", "ci high", "excludes 0", ...}}``: the multiplexer
        minus the Taylor estimate on the test windows (``compare_maps``, paired bootstrap).
    passes, seconds
        Its forward and backward passes and its seconds on the validation and test windows.
    runs
        The chapter's run and its replicates from other seeds, each scored on the same test
        windows (:func:`~course_lib.chapters.ch4_replicates.replicate_runs`).
    """

    intervals: Mapping[str, Mapping[str, Mapping[str, float]]]
    comparison: Mapping[str, Mapping[str, Any]]
    passes: Mapping[str, int]
    seconds: float
    runs: Sequence[RunScores]

    def metrics(self) -> dict[str, Any]:
        """Its entries of the results file's ``metrics``, every interval an ``Interval``."""
        return {
            f"untrained {TAYLOR} vs teacher ISM (95 % ci: bootstrap over windows)": {
                split: {name: intervals_in(row, BOOTSTRAP) for name, row in scores.items()}
                for split, scores in self.intervals.items()
            },
            "BelugaMultiplexer minus Taylor estimate, test windows (95 % ci: paired bootstrap)": {
                name: intervals_in(row, PAIRED) for name, row in self.comparison.items()
            },
            "BelugaMultiplexer minus Taylor estimate, test windows, over training runs": (
                seed_metrics(self.runs, OVER_RUNS)
            ),
            "Taylor estimate cost (validation + test windows)": {
                **self.passes,
                "seconds": self.seconds,
            },
        }


def _models(
    settings: Ch4Config, teacher: Beluga, source: str, length: int, distillation: FitResult
) -> dict[str, Any]:
    """What the teacher and the multiplexer are."""
    return {
        "teacher": {
            "source": source,
            "sequence_length": length,
            "features": teacher.n_features,
            "parameters": sum(p.numel() for p in teacher.parameters()),
        },
        "multiplexer": {
            "channels": list(settings.multiplexer_channels),
            "dilations": list(settings.multiplexer_dilations),
            "steps": settings.steps,
            "windows_seen": int(distillation.history["windows_seen"].iloc[-1]),
            "best_step": distillation.best_epoch,
        },
    }


def _notes(provenance: str, windows: str, teacher_source: str) -> list[str]:
    """The results file's notes: the windows, the teacher, the maps' layout, the competitor."""
    return [
        f"data provenance: {provenance} genome windows ({windows})",
        f"teacher: {teacher_source}",
        "ISM maps laid out [features, 4, L] with variant v = 4 * position + base (A, G, C, T)",
        f"untrained competitor: {TAYLOR}, on the same validation and test windows",
    ]


def report(
    settings: Ch4Config,
    provenance: str,
    *,
    intervals: Mapping[str, Mapping[str, Mapping[str, float]]],
    teacher: Beluga,
    teacher_provenance: str,
    teacher_source: str,
    teacher_r: np.ndarray | None,
    distillation: FitResult,
    invented: pd.DataFrame,
    ism_passes: int,
    length: int,
    taylor: TaylorBaseline,
    speed: Mapping[str, Any],
    device: str,
    n_test: int,
    windows: str,
    wall_time_s: float,
    folder: str | Path | None = None,
) -> Path:
    """Write ``results/04_beluga_multiplexer.json`` and return its path.

    Parameters
    ----------
    settings, provenance
        The resolved configuration; the genome windows' provenance.
    intervals
        ``{split: {metric: {"estimate", "ci low", "ci high", ...}}}`` of the multiplexer's maps
        against the teacher's (``map_intervals``); the ``test`` split heads the dashboard.
    teacher, teacher_provenance, teacher_source, teacher_r
        The teacher, ``real`` or ``stand-in``, where it comes from, and its Pearson r per
        planted feature on validation windows (``None`` for published weights).
    distillation, invented, ism_passes, length
        The multiplexer's run, the invented-effects simulation, ISM passes, window length.
    taylor, speed, device, n_test, windows
        The untrained Taylor estimate, the speed comparison and its device, the test windows,
        their source.
    wall_time_s, folder
        Seconds the chapter ran; where to write (default ``results/``).
    """
    label = f"{device}, {settings.speed_windows} windows"
    data = (
        f"teacher ISM maps of {n_test} {provenance} genome test windows; teacher: {teacher_source}"
    )
    metrics = _metrics(
        intervals, distillation, invented, ism_passes, length, teacher_r, speed, label
    )
    return chapter_report(
        "04_beluga_multiplexer",
        profile=settings.profile,
        provenance={"genome windows": provenance, "teacher": teacher_provenance},
        metrics=metrics | taylor.metrics(),
        wall_time_s=wall_time_s,
        headline=headline(intervals["test"], data, taylor.intervals.get("test")),
        anchors=ANCHORS,
        models=_models(settings, teacher, teacher_source, length, distillation),
        notes=_notes(provenance, windows, teacher_source),
        folder=folder,
    )
