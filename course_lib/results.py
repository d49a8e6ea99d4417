"""The ``results/<chapter>.json`` files that the book's results page is built from."""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
