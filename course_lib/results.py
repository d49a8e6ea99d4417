"""Reading the ``results/<chapter>.json`` files that the book's results page is built from.

:func:`course_lib.report.chapter_report` writes them; :func:`read_results` reads them back;
:func:`results_comparison_table` (chapter 5) lays a chapter's own metrics beside other
chapters' results files and the published anchors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from course_lib.paths import results_dir
from course_lib.report import Anchor

REQUIRED_KEYS = (
    "chapter",
    "title",
    "profile",
    "provenance",
    "metrics",
    "uncertainty",
    "wall_time_s",
    "anchors",
)


def read_results(folder: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """All ``<chapter>.json`` files in ``folder``, keyed by chapter, checked for the schema."""
    path = Path(folder) if folder else results_dir()
    out = {}
    for file in sorted(path.glob("*.json")):
        record = json.loads(file.read_text())
        missing = [k for k in REQUIRED_KEYS if k not in record]
        if missing:
            raise ValueError(
                f"{file} lacks {missing}: not written by course_lib.report.chapter_report "
                "(or before its schema); run the chapter again"
            )
        out[record["chapter"]] = record
    return out


def earlier_results(chapters: tuple[str, ...]) -> tuple[dict[str, dict[str, Any]], str]:
    """The results files of ``chapters`` found in the results folder (:func:`read_results`),
    and a line per absent one saying to run that chapter first (``""`` when none is absent)."""
    records = read_results()
    found = {chapter: records[chapter] for chapter in chapters if chapter in records}
    missing = [
        f"results/{chapter}.json is absent: run that chapter first to see its models here"
        for chapter in chapters
        if chapter not in found
    ]
    return found, "\n".join(missing)


class Stopwatch:
    """Wall time since construction, for the results file: ``watch.seconds``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def metric_rows(
    metrics: Mapping[str, Any], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], dict]]:
    """Every dict holding an ``"R2"`` in a nested metrics mapping, with its key path."""
    if not isinstance(metrics, Mapping):
        return []
    if "R2" in metrics:
        return [(path, dict(metrics))]
    rows = []
    for key, value in metrics.items():
        rows.extend(metric_rows(value, (*path, str(key))))
    return rows


def results_comparison_table(
    own: Mapping[str, Mapping[str, Mapping[str, float]]],
    records: Mapping[str, Mapping[str, Any]],
    anchors: Sequence[Anchor],
    provenance: str,
    profile: str,
    columns: Sequence[str] = ("R2", "Pearson r", "Pearson r^2", "Spearman rho"),
    skip: Sequence[str] = ("scaled", "val"),
) -> pd.DataFrame:
    """One table: this chapter's models, other chapters' results files, and the anchors.

    Parameters
    ----------
    own
        ``{model: {split: metrics}}`` of this chapter.
    records
        ``{chapter: results record}`` as from :func:`course_lib.results.read_results`; every
        metrics dict with an ``R2`` is listed, labelled by its key path, unless a key of the
        path is in ``skip`` (scaled-unit duplicates and validation scores by default).
    anchors
        The published figures, one row each (``model`` is the anchor's name, ``split`` empty).
    provenance, profile
        This chapter's data provenance and profile.

    Returns
    -------
    pandas.DataFrame
        Columns ``source, model, split, data, profile`` and ``columns`` (missing values NaN:
        e.g. the Optimus anchor reports only the squared Pearson r).
    """
    header = ["source", "model", "split", "data", "profile"]
    rows = []

    def add(source: str, model: str, split: str, data: str, prof: str, values: Mapping) -> None:
        rows.append([source, model, split, data, prof, *(values.get(c) for c in columns)])

    for model, splits in own.items():
        for split, values in splits.items():
            add("this chapter", model, split, provenance, profile, values)
    for chapter, record in records.items():
        data = record.get("provenance", "")
        if isinstance(data, Mapping):
            data = ", ".join(f"{k}: {v}" for k, v in data.items())
        for path, values in metric_rows(record.get("metrics", {})):
            if set(path) & set(skip):
                continue
            model = path[0] if path else ""
            add(chapter, model, " / ".join(path[1:]), data, record.get("profile", ""), values)
    for anchor in anchors:
        add("anchor", anchor.name, "", "real", "published", {anchor.metric: anchor.value})
    table = pd.DataFrame(rows, columns=[*header, *columns])
    return table.astype({c: float for c in columns})
