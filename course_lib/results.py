"""The ``results/<chapter>.json`` files that the book's results page is built from.

:func:`results_comparison_table` (chapter 5) lays a chapter's own metrics beside other
chapters' results files and the published anchors.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from course_lib.paths import results_dir
from course_lib.profiles import check_profile

PROVENANCES = ("real", "synthetic")
REQUIRED_KEYS = ("chapter", "profile", "provenance", "metrics", "wall_time_s", "anchors")


def _clean(value: Any) -> Any:
    """Make numpy scalars and arrays, NaN and nested mappings JSON-safe (NaN becomes ``null``)."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if getattr(value, "ndim", 0) > 0 and hasattr(value, "tolist"):  # numpy arrays, tensors
        return _clean(value.tolist())
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_results(
    chapter: str,
    *,
    profile: str,
    provenance: str | Mapping[str, str],
    metrics: Mapping[str, Any],
    wall_time_s: float,
    anchors: Mapping[str, Any],
    models: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
    headline: Mapping[str, Any] | None = None,
    folder: str | Path | None = None,
) -> Path:
    """Write ``results/<chapter>.json`` and return its path.

    Parameters
    ----------
    chapter
        Notebook stem, e.g. ``"01_utr_rnafm"``.
    provenance
        ``"real"`` or ``"synthetic"``, or ``{data set: provenance}`` when a chapter mixes them
        (or records an untrained backbone, e.g. ``{"backbone": "untrained"}``).
    metrics
        ``{model: {split: {metric: value}}}`` or any nesting of named numbers.
    anchors
        The published figures this chapter compares with, with their sources.
    headline
        The chapter's headline for the results dashboard, made by :func:`make_headline`.
    """
    check_profile(profile)
    if headline is not None:
        check_headline(headline)
    values = provenance.values() if isinstance(provenance, Mapping) else [provenance]
    data_values = [v for v in values if v in PROVENANCES]
    if not data_values:
        raise ValueError(f"provenance must include 'real' or 'synthetic', got {provenance!r}")
    if not math.isfinite(wall_time_s) or wall_time_s < 0:
        raise ValueError(f"wall_time_s must be a non-negative number, got {wall_time_s!r}")
    record = {
        "chapter": chapter,
        "profile": profile,
        "provenance": provenance,
        "metrics": metrics,
        "wall_time_s": round(float(wall_time_s), 2),
        "anchors": anchors,
        "models": models or {},
        "notes": notes or [],
        "headline": headline,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }
    path = Path(folder) if folder else results_dir()
    path.mkdir(parents=True, exist_ok=True)
    out = path / f"{chapter}.json"
    out.write_text(json.dumps(_clean(record), indent=2) + "\n")
    return out


def make_headline(
    metric: str,
    data: str,
    compared: Mapping[str, tuple[float, float, float]],
    interval: str,
    anchor: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The headline of a chapter: one metric, the models compared on it, and an anchor.

    Parameters
    ----------
    metric
        Its exact name, e.g. ``"Pearson r^2"`` or ``"ROC AUC"``.
    data
        What it was measured on, with provenance, e.g. ``"real Random7600 (7,600 UTRs)"``.
    compared
        ``{model: (value, low, high)}``; the first model is the chapter's headline model.
    interval
        What ``low``..``high`` is, e.g. ``"95 % bootstrap over test rows"``.
    anchor
        ``{"name", "value", "protocol"}`` of the published figure it is set against.
    """
    headline = {
        "metric": metric,
        "data": data,
        "interval": interval,
        "compared": {
            name: {"value": float(v), "ci": [float(lo), float(hi)]}
            for name, (v, lo, hi) in compared.items()
        },
        "anchor": dict(anchor) if anchor else None,
    }
    check_headline(headline)
    return headline


def check_headline(headline: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless ``headline`` has what the dashboard shows."""
    missing = [k for k in ("metric", "data", "interval", "compared") if k not in headline]
    if missing or not headline["compared"]:
        raise ValueError(f"a headline needs metric, data, interval and compared; lacks {missing}")
    anchor = headline.get("anchor")
    if anchor and not {"name", "value", "protocol"} <= set(anchor):
        raise ValueError("an anchor needs name, value and protocol (see COURSE_DESIGN.md)")


def read_results(folder: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """All ``<chapter>.json`` files in ``folder``, keyed by chapter, checked for the schema."""
    path = Path(folder) if folder else results_dir()
    out = {}
    for file in sorted(path.glob("*.json")):
        record = json.loads(file.read_text())
        missing = [k for k in REQUIRED_KEYS if k not in record]
        if missing:
            raise ValueError(f"{file} lacks {missing}; was it written by write_results?")
        out[record["chapter"]] = record
    return out


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
    anchors: Mapping[str, Mapping[str, Any]],
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
        ``{label: {split: {metric: value}, "source": str}}`` (non-mapping entries are skipped).
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
    for label, entry in anchors.items():
        for split, values in entry.items():
            if isinstance(values, Mapping):
                add("anchor", label, split, "real", "published", values)
    table = pd.DataFrame(rows, columns=[*header, *columns])
    return table.astype({c: float for c in columns})
