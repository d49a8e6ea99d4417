"""One report type: every chapter's ``results/<stem>.json`` is built from typed values.

- :class:`Interval`: the low and high end of an interval and the method that gave them;
- :class:`Estimate`: a number with its interval (a model's headline score);
- :class:`Anchor`: a published figure the chapter compares with, in one shape for every
  chapter (name, value, metric, protocol, source; one anchor per figure and test set);
- :class:`Headline`: the chapter's row of the results dashboard;
- :func:`chapter_report`: validates these and writes the record in one schema.

The record holds ``chapter``, ``title`` (from :mod:`course_lib.manifest`), ``profile``,
``provenance``, ``models``, ``metrics`` (every interval as ``{low, high, method}``),
``uncertainty`` (the interval methods the record uses), ``headline``, ``anchors`` (a list of
``{name, value, metric, protocol, source}``), ``notes``, ``wall_time_s``, ``written_at`` and
``python``. :func:`course_lib.results.read_results` reads it back.
"""

from __future__ import annotations

import json
import math
import numbers
import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from course_lib.atomic import write_text_atomic
from course_lib.manifest import CHAPTERS
from course_lib.paths import results_dir
from course_lib.profiles import check_profile

PROVENANCES = ("real", "synthetic", "stand-in")


def _number(value: Any, where: str, fix: str) -> float:
    """``value`` as a float; ``ValueError`` naming ``where`` and ``fix`` unless it is a number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where} must be a number, got {value!r}; {fix}")
    return float(value)


def _text(value: Any, where: str, fix: str) -> str:
    """``value`` unless it is an empty or non-string value (``ValueError`` naming the fix)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where} must be a non-empty string, got {value!r}; {fix}")
    return value


@dataclass(frozen=True)
class Interval:
    """An interval around a number, with the method that gave it.

    Attributes
    ----------
    low, high : float
        Its ends, ``low <= high`` (NaN where the method could not give one, written ``null``).
    method : str
        How it was obtained, e.g. ``"95 % bootstrap over test UTRs"``.
    """

    low: float
    high: float
    method: str

    def __post_init__(self) -> None:
        fix = "pass the interval's ends as numbers"
        object.__setattr__(self, "low", _number(self.low, "Interval.low", fix))
        object.__setattr__(self, "high", _number(self.high, "Interval.high", fix))
        _text(self.method, "Interval.method", "say how the interval was obtained")
        if self.low > self.high:
            raise ValueError(
                f"Interval.low {self.low!r} exceeds Interval.high {self.high!r} "
                f"({self.method}); pass the ends in order"
            )

    @classmethod
    def of_row(cls, row: Mapping[str, Any], method: str, prefix: str = "") -> Interval:
        """The interval in a table row's ``"<prefix>ci low"`` and ``"<prefix>ci high"`` entries.

        ``row`` is a mapping or a ``pandas`` row, e.g. of a paired-bootstrap table.
        """
        return cls(row[f"{prefix}ci low"], row[f"{prefix}ci high"], method)

    def to_json(self) -> dict[str, Any]:
        """``{"low", "high", "method"}``."""
        return {"low": self.low, "high": self.high, "method": self.method}


@dataclass(frozen=True)
class Estimate:
    """A number with its interval, e.g. a model's R2 on a test set."""

    value: float
    interval: Interval

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "value", _number(self.value, "Estimate.value", "pass the estimate")
        )
        if not isinstance(self.interval, Interval):
            raise ValueError(f"Estimate.interval must be an Interval, got {self.interval!r}")

    def to_json(self) -> dict[str, Any]:
        """``{"value", "interval": {"low", "high", "method"}}``."""
        return {"value": self.value, "interval": self.interval.to_json()}


@dataclass(frozen=True)
class Anchor:
    """A published figure a chapter sets its own numbers against.

    Attributes
    ----------
    name : str
        The model and, where a source gives one figure per test set, the test set, e.g.
        ``"Optimus 5-Prime (Sample et al. 2019), Human7600"``.
    value : float
        The figure.
    metric : str
        Its exact name, e.g. ``"Pearson r^2"`` (not ``"R2"``, a different number).
    protocol : str
        How it was obtained, e.g. ``"paper"`` or ``"one split, test-selected"``.
    source : str
        Where it is published.
    """

    name: str
    value: float
    metric: str
    protocol: str
    source: str

    def __post_init__(self) -> None:
        label = f"Anchor {self.name!r}"
        _text(self.name, "Anchor.name", "name the published model")
        value = _number(self.value, f"{label}: value", "give the published figure")
        if not math.isfinite(value):
            raise ValueError(f"{label}: value must be finite, got {value!r}")
        object.__setattr__(self, "value", value)
        _text(self.metric, f"{label}: metric", "name the metric exactly (e.g. 'Pearson r^2')")
        _text(
            self.protocol,
            f"{label}: protocol",
            "say how it was obtained (e.g. 'paper', 'one split, test-selected')",
        )
        _text(self.source, f"{label}: source", "cite where the figure is published")

    def to_json(self) -> dict[str, Any]:
        """``{"name", "value", "metric", "protocol", "source"}``."""
        return {
            "name": self.name,
            "value": self.value,
            "metric": self.metric,
            "protocol": self.protocol,
            "source": self.source,
        }


@dataclass(frozen=True)
class Headline:
    """A chapter's row of the results dashboard.

    Attributes
    ----------
    metric : str
        Its exact name, e.g. ``"Pearson r^2"`` or ``"ROC AUC"``.
    data : str
        What it was measured on, with provenance, e.g. ``"real Random7600 (7,600 UTRs)"``.
    compared : Mapping[str, Estimate]
        ``{model: estimate}``; the first model is the chapter's headline model.
    anchor : Anchor or None
        The published figure it is set against.
    """

    metric: str
    data: str
    compared: Mapping[str, Estimate]
    anchor: Anchor | None = None

    def __post_init__(self) -> None:
        _text(self.metric, "Headline.metric", "name the metric exactly")
        _text(self.data, "Headline.data", "say what it was measured on")
        if not self.compared:
            raise ValueError("Headline.compared is empty; give {model: Estimate(...)}")
        for model, estimate in self.compared.items():
            if not isinstance(estimate, Estimate):
                raise ValueError(
                    f"Headline.compared[{model!r}] must be an Estimate, got {estimate!r}"
                )
        if self.anchor is not None and not isinstance(self.anchor, Anchor):
            raise ValueError(f"Headline.anchor must be an Anchor, got {self.anchor!r}")

    def to_json(self) -> dict[str, Any]:
        """``{"metric", "data", "compared": {model: estimate}, "anchor"}``."""
        return {
            "metric": self.metric,
            "data": self.data,
            "compared": {m: e.to_json() for m, e in self.compared.items()},
            "anchor": self.anchor.to_json() if self.anchor else None,
        }


def intervals_in(
    row: Mapping[str, Any], method: str, ends: tuple[str, str] = ("ci low", "ci high")
) -> dict[str, Any]:
    """``row`` with each ``"<m> ci low"``/``"<m> ci high"`` pair as one ``"<m> interval"``.

    Parameters
    ----------
    row
        A flat mapping, e.g. a table row ``{"R2": 0.5, "R2 ci low": 0.4, "R2 ci high": 0.6}``.
    method
        How the intervals were obtained.
    ends
        The key suffixes of the low and high ends (a bare ``"ci low"`` becomes ``"interval"``).

    Returns
    -------
    dict
        The same keys in the same order, each pair replaced where its low end stood.
    """
    low_end, high_end = ends
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key.endswith(high_end) and key[: -len(high_end)] + low_end in row:
            continue
        if key.endswith(low_end):
            prefix = key[: -len(low_end)]
            if prefix + high_end in row:
                out[f"{prefix}interval"] = Interval(value, row[prefix + high_end], method)
                continue
        out[key] = value
    return out


def _json(value: Any, where: str) -> Any:
    """``value`` as JSON: typed values by ``to_json``, numpy scalars and arrays, NaN -> null."""
    if isinstance(value, Interval | Estimate | Anchor | Headline):
        return _json(value.to_json(), where)
    if isinstance(value, Mapping):
        return {str(k): _json(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if getattr(value, "ndim", 0) > 0 and hasattr(value, "tolist"):  # numpy arrays, tensors
        return _json(value.tolist(), where)
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float):
        return value
    raise ValueError(
        f"{where} is of type {type(value).__name__}; give numbers, strings, mappings, lists or "
        "Interval/Estimate values (e.g. a DataFrame's .to_dict('index'))"
    )


def _interval_keys(value: Any, where: str) -> None:
    """Refuse ``"ci low"``/``"ci high"`` keys: intervals travel as :class:`Interval`."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if str(key).endswith(("ci low", "ci high")):
                raise ValueError(
                    f"{where}[{key!r}]: write intervals as Interval(low, high, method) "
                    "(course_lib.report.intervals_in converts a row)"
                )
            _interval_keys(item, f"{where}[{key!r}]")


def _methods(value: Any) -> list[str]:
    """The interval methods in ``value`` (nested), in order of first appearance."""
    if isinstance(value, Interval):
        return [value.method]
    if isinstance(value, Estimate):
        return [value.interval.method]
    if isinstance(value, Headline):
        value = list(value.compared.values())
    if isinstance(value, Mapping):
        value = list(value.values())
    if not isinstance(value, list | tuple):
        return []
    return list(dict.fromkeys(m for item in value for m in _methods(item)))


def _check_provenance(provenance: str | Mapping[str, str]) -> None:
    """Raise ``ValueError`` naming the entry unless every provenance is in :data:`PROVENANCES`."""
    entries = provenance.items() if isinstance(provenance, Mapping) else [("", provenance)]
    if not entries:
        raise ValueError("provenance is empty; give 'real', 'synthetic' or 'stand-in'")
    for name, value in entries:
        if value not in PROVENANCES:
            field = f"provenance[{name!r}]" if name else "provenance"
            raise ValueError(
                f"{field} is {value!r}; it must be one of {', '.join(PROVENANCES)} "
                "(describe the data or weights in models or notes)"
            )


def _check_anchors(anchors: Sequence[Anchor]) -> None:
    """Raise ``ValueError`` unless ``anchors`` are distinct :class:`Anchor` values."""
    seen = set()
    for i, anchor in enumerate(anchors):
        if not isinstance(anchor, Anchor):
            raise ValueError(
                f"anchors[{i}] is {anchor!r}; build it as "
                "Anchor(name, value, metric, protocol, source)"
            )
        if (anchor.name, anchor.metric) in seen:
            raise ValueError(f"anchors[{i}]: {anchor.name!r} ({anchor.metric}) is listed twice")
        seen.add((anchor.name, anchor.metric))


#: A Python dict or set literal in a sentence: ``{'fit': 3420}``, ``{0: ...}``, ``{"a": 1}``.
_PYTHON_LITERAL = re.compile(r"\{\s*['\"\d(]")


def _check_notes(notes: Sequence[str]) -> None:
    """Refuse a note that is not a string or that prints a Python dict: the results file is
    read by people (and the site shows its notes as they are)."""
    for i, note in enumerate(notes):
        if not isinstance(note, str):
            raise ValueError(f"notes[{i}] is a {type(note).__name__}; give sentences (str)")
        if match := _PYTHON_LITERAL.search(note):
            raise ValueError(
                f"notes[{i}] prints a Python dict ({note[match.start() : match.start() + 40]!r}"
                "...): write mappings as text with course_lib.text.as_text"
            )


def _check(
    chapter: str,
    profile: str,
    provenance: str | Mapping[str, str],
    metrics: Mapping[str, Any],
    anchors: Sequence[Anchor],
    headline: Headline | None,
    wall_time_s: float,
) -> str:
    """Return the chapter's title; raise ``ValueError`` naming the field and the fix.

    Refused: an unknown chapter or profile, a provenance outside :data:`PROVENANCES`, a
    malformed anchor or headline, a ``"ci low"`` key, a negative or non-finite wall time.
    """
    titles = {c.stem: c.title for c in CHAPTERS}
    if chapter not in titles:
        raise ValueError(f"no chapter {chapter!r} in course_lib/manifest.py; one of {list(titles)}")
    check_profile(profile)
    _check_provenance(provenance)
    _check_anchors(anchors)
    if headline is not None and not isinstance(headline, Headline):
        raise ValueError(f"headline must be a Headline, got {type(headline).__name__}")
    _interval_keys(metrics, "metrics")
    if not math.isfinite(wall_time_s) or wall_time_s < 0:
        raise ValueError(f"wall_time_s must be a non-negative number, got {wall_time_s!r}")
    return titles[chapter]


def chapter_report(
    chapter: str,
    *,
    profile: str,
    provenance: str | Mapping[str, str],
    metrics: Mapping[str, Any],
    wall_time_s: float,
    anchors: Sequence[Anchor],
    headline: Headline | None = None,
    models: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    folder: str | Path | None = None,
) -> Path:
    """Validate a chapter's typed values, write ``results/<chapter>.json``, return its path.

    Parameters
    ----------
    chapter
        The chapter's stem in :data:`course_lib.manifest.CHAPTERS`, e.g. ``"01_utr_rnafm"``.
    profile, wall_time_s
        The profile it ran at and the seconds it took (written rounded to 0.01 s).
    provenance
        ``"real"``, ``"synthetic"`` or ``"stand-in"``, or ``{data set or weights: provenance}``.
    metrics
        Named numbers, nested in mappings; intervals as :class:`Interval`.
    anchors, headline
        The published figures the chapter compares with; its dashboard row.
    models, notes
        What was trained or loaded, and sentences the results page lists.
    folder
        Where to write (default :func:`course_lib.paths.results_dir`).

    Raises
    ------
    ValueError
        Naming the field and the fix (see :func:`_check`); nothing is written then.
    """
    title = _check(chapter, profile, provenance, metrics, anchors, headline, wall_time_s)
    _check_notes(notes)
    record = {
        "chapter": chapter,
        "title": title,
        "profile": profile,
        "provenance": _json(provenance, "provenance"),
        "models": _json(models or {}, "models"),
        "metrics": _json(metrics, "metrics"),
        "uncertainty": _methods([headline, metrics]),
        "headline": headline.to_json() if headline else None,
        "anchors": [a.to_json() for a in anchors],
        "notes": _json(list(notes), "notes"),
        "wall_time_s": round(float(wall_time_s), 2),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
    }
    path = Path(folder) if folder else results_dir()
    path.mkdir(parents=True, exist_ok=True)
    out = path / f"{chapter}.json"
    write_text_atomic(out, json.dumps(_json(record, "record"), indent=2) + "\n")
    return out
