"""Measured wall times of the chapters at each profile, for the setup page and chapter maps.

Two sources, never typed in by hand:

- the run that builds the site (``_build/executed/run_summary.json``, written by
  :mod:`course_book.run`), for the profile the site was built with;
- ``book/chapter_times.json``, where ``python -m course_book.run --record-times`` keeps the
  wall times of full-size runs of other profiles (with the date and the machine), so that
  a ``laptop`` measurement made once is shown on every later build.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from course_lib.manifest import Chapter
from course_lib.profiles import PROFILE_NAMES

TIMES_FILE = Path("book") / "chapter_times.json"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The processor's name (``model name`` of ``cpuinfo`` on Linux), else the platform's."""
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return " ".join(value.split())
    return platform.processor() or platform.machine()


def machine_description() -> str:
    """``"<n> CPU cores of <model> (<machine>), load <l>"`` for the record of a measurement.

    The processor's name says which timings can be compared: the same chapter took 1.8-2.7x
    longer on one 2-core machine than on another. The load is the 1-minute load average when
    the run ends: above the number of cores, other work shared the machine and the time is an
    upper bound.
    """
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPU cores of {cpu_model()} ({platform.machine()}), load {load:.1f}"


def read_times(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{profile: {chapter: {"wall_time_s", "date", "machine"}}}``; empty if ``path`` is absent."""
    return json.loads(path.read_text()) if path.exists() else {}


def record_times(path: Path, profile: str, runs: Iterable[Mapping[str, Any]]) -> None:
    """Add the successful ``runs`` (``chapter``, ``ok``, ``wall_time_s``) of ``profile``."""
    recorded = read_times(path)
    stamp = {"date": time.strftime("%Y-%m-%d"), "machine": machine_description()}
    for run in runs:
        if run["ok"]:
            entry = {"wall_time_s": run["wall_time_s"], **stamp}
            recorded.setdefault(profile, {})[run["chapter"]] = entry
    path.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"13 min"`` or ``"2.5 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def chapter_times(
    chapter: str, recorded: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, str]:
    """``{profile: description}`` of one chapter's measured time at each profile.

    Parameters
    ----------
    chapter
        Notebook stem, e.g. ``"02_optimus_attention"``.
    recorded
        :func:`read_times` of ``book/chapter_times.json``.
    current
        The site build's run summary (``{chapter: {"wall_time_s", "profile", "ok", ...}}``).
    """
    out = {}
    run = current.get(chapter, {})
    for profile in PROFILE_NAMES:
        if run.get("ok") and run.get("profile") == profile and not run.get("tiny"):
            out[profile] = f"{format_duration(run['wall_time_s'])} (this build)"
        elif chapter in recorded.get(profile, {}):
            entry = recorded[profile][chapter]
            out[profile] = (
                f"{format_duration(entry['wall_time_s'])} (measured {entry['date']}, "
                f"{entry['machine']})"
            )
        else:
            out[profile] = "not measured yet"
    return out


def times_table(chapters: Iterable[Chapter], recorded: Mapping, current: Mapping) -> str:
    """A markdown table: one row per chapter (its number and title), one column per profile.

    Parameters
    ----------
    chapters
        The chapters, usually :data:`course_lib.manifest.CHAPTERS`.
    recorded
        :func:`read_times` of ``book/chapter_times.json``.
    current
        The site build's run summary (see :func:`chapter_times`).
    """
    lines = ["| chapter | " + " | ".join(PROFILE_NAMES) + " |", "|---" * 4 + "|"]
    for chapter in chapters:
        times = chapter_times(chapter.stem, recorded, current)
        cells = " | ".join(times[p] for p in PROFILE_NAMES)
        lines.append(f"| {chapter.number}. {chapter.title} | {cells} |")
    return "\n".join(lines) + "\n"
