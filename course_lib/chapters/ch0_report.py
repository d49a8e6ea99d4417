"""Chapter 0's report, ``notebooks/00_sequences.ipynb``: its anchors and its results file.

:data:`ANCHORS` are the genome-wide figures of the human genome the excerpt's statistics are
set against; :func:`report` writes ``results/00_sequences.json`` through
:func:`course_lib.report.chapter_report`, with the headline :func:`headline`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.chapters.ch0_config import Ch0Config
from course_lib.report import Anchor, Estimate, Headline, Interval, chapter_report

#: The protocol of both anchors: one figure for the whole genome, not for this excerpt.
GENOME_WIDE = "genome-wide estimate (IHGSC 2001)"

#: Published genome-wide figures; each anchor's metric is a key of ``window_intervals``.
ANCHORS = (
    Anchor(
        "human genome GC fraction",
        0.41,
        "GC fraction",
        GENOME_WIDE,
        "IHGSC, Nature 409, 860 (2001): 41 % GC over the sequenced genome",
    ),
    Anchor(
        "human CpG observed/expected",
        0.2,
        "CpG obs/exp",
        GENOME_WIDE,
        "IHGSC, Nature 409, 860 (2001): CpG at about one fifth of its expected frequency",
    ),
)


def anchor_for(metric: str) -> Anchor:
    """The anchor of ``metric`` (``"GC fraction"`` or ``"CpG obs/exp"``)."""
    return next(a for a in ANCHORS if a.metric == metric)


def interval_method(n_windows: int) -> str:
    """What the chapter's intervals are: a bootstrap over the excerpt's random windows."""
    return (
        f"95 % bootstrap over the {n_windows} windows (spread within this excerpt, not between "
        "regions of the genome)"
    )


def headline(
    intervals: Mapping[str, Mapping[str, float]], provenance: str, n_windows: int, length: int
) -> Headline:
    """The results-dashboard headline: CpG obs/exp of the windows beside the genome-wide one."""
    cpg = intervals["CpG obs/exp"]
    interval = Interval.of_row(cpg, interval_method(n_windows))
    return Headline(
        "CpG observed/expected",
        f"{provenance} hg38 chr22 excerpt (300 kb), {n_windows} random {length}-bp windows",
        {"random windows, pooled": Estimate(cpg["estimate"], interval)},
        anchor_for("CpG obs/exp"),
    )


def report(
    settings: Ch0Config,
    provenance: str,
    *,
    track: pd.DataFrame,
    obs_exp: Mapping[str, float],
    n_windows: int,
    intervals: Mapping[str, Mapping[str, float]],
    wall_time_s: float,
    folder: str | Path | None = None,
) -> Path:
    """Write ``results/00_sequences.json`` and return its path.

    Parameters
    ----------
    settings, provenance
        The chapter's resolved configuration; the genome excerpt's provenance.
    track, obs_exp
        The excerpt's GC track (column ``gc``) and dinucleotide observed/expected (``"CG"``).
    n_windows, intervals
        How many random windows were drawn, and ``{statistic: {"estimate", "ci low",
        "ci high", "n_boot"}}`` over them from ``ch0_sequences.window_intervals``.
    wall_time_s, folder
        Seconds the chapter ran; where to write (default ``results/``).
    """
    method = interval_method(n_windows)
    metrics = {
        "genome excerpt": {
            "GC fraction (GC track mean)": float(np.nanmean(track["gc"])),
            "CpG obs/exp (whole excerpt)": float(obs_exp["CG"]),
            "windows drawn": n_windows,
        },
        **{
            f"random windows: {name}": {
                "estimate": ci["estimate"],
                "interval": Interval.of_row(ci, method),
                "n_boot": ci["n_boot"],
            }
            for name, ci in intervals.items()
        },
    }
    return chapter_report(
        "00_sequences",
        profile=settings.profile,
        provenance=provenance,
        metrics=metrics,
        wall_time_s=wall_time_s,
        anchors=ANCHORS,
        headline=headline(intervals, provenance, n_windows, settings.window_length),
        notes=[f"genome excerpt provenance: {provenance}"],
        folder=folder,
    )
