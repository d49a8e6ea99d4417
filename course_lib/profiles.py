"""Run profiles: ``smoke`` (CI), ``laptop`` (a student's CPU) and ``full`` (paper scale, GPU).

What each profile promises (:data:`PROFILES`), the check of a profile's name
(:func:`check_profile`) and the stop before a step of hours on a CPU (:func:`check_long_run`).
A chapter's values per profile are its configuration, a :class:`course_lib.config.ChapterConfig`
written as differences from one base; ``tiny`` (``laptop`` or ``full`` on their own code paths
at tiny sizes, for CI) is an argument of its ``resolve``, which the notebooks pass on from
their papermill parameter ``tiny``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

PROFILE_NAMES = ("smoke", "laptop", "full")
DEFAULT_PROFILE = "laptop"


@dataclass(frozen=True)
class Profile:
    """What a profile promises: its purpose and time budget per chapter."""

    name: str
    meant_for: str
    budget: str
    real_weights: bool


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "smoke": Profile(
            "smoke",
            "CI and the book build: tiny models, small samples",
            "< 3 min on 2 CPU cores",
            False,
        ),
        "laptop": Profile("laptop", "a student on a CPU", "< 30 min on a CPU", False),
        "full": Profile(
            "full", "paper scale on one GPU with real data and weights", "hours on a GPU", True
        ),
    }
)


def check_profile(name: str) -> str:
    """Return ``name`` if it is a known profile, else raise a ``ValueError`` listing them."""
    if name not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)} "
            "(papermill: -p profile smoke, or COURSE_PROFILE=smoke)"
        )
    return name


def get_profile(name: str | None = None) -> Profile:
    """The :class:`Profile` called ``name``; default ``$COURSE_PROFILE`` or ``laptop``."""
    return PROFILES[check_profile(name or default_profile_name())]


def default_profile_name() -> str:
    """``$COURSE_PROFILE`` when set, else ``laptop`` (validated)."""
    return check_profile(os.environ.get("COURSE_PROFILE", DEFAULT_PROFILE))


ALLOW_CPU_FULL_ENV = "COURSE_ALLOW_CPU_FULL"


class LongCPURunError(RuntimeError):
    """``full`` was about to start a step of hours on a CPU without being asked to."""


def estimate_seconds(step: Callable[[], object], n_steps: int, probe: int = 2) -> float:
    """Seconds that ``n_steps`` calls of ``step`` would take, timed from ``probe`` calls here.

    The first call is a warm-up and is not counted (``probe + 1`` calls in all).
    """
    step()
    start = time.perf_counter()
    for _ in range(probe):
        step()
    return (time.perf_counter() - start) / probe * n_steps


def check_long_run(settings: Mapping[str, Any], device: Any, seconds: float, what: str) -> None:
    """Stop ``full`` before a long step on a CPU; say how long it would take and what to do.

    Parameters
    ----------
    settings
        Resolved chapter settings (``profile`` and ``tiny`` are read).
    device
        The device the step would run on (``torch.device`` or its name).
    seconds
        Estimated duration of the step on ``device`` (see :func:`estimate_seconds`).
    what
        The step, for the message ("fine-tuning 50 epochs on 260,000 UTRs").

    Raises
    ------
    LongCPURunError
        ``profile == "full"`` on a CPU, the step would take over 10 minutes, the run is not
        tiny and ``$COURSE_ALLOW_CPU_FULL`` is not set.
    """
    if settings.get("profile") != "full" or str(device).split(":")[0] != "cpu":
        return
    hours = seconds / 3600
    message = (
        f"profile 'full' is paper scale for a GPU; on this CPU {what} would take about "
        f"{hours:.1f} h ({seconds / 60:.0f} min, timed from a few steps here). Choose a smaller "
        "profile (papermill -p profile laptop, or COURSE_PROFILE=laptop), run on a GPU, or set "
        f"{ALLOW_CPU_FULL_ENV}=1 to run it on the CPU anyway."
    )
    print(message, flush=True)
    allowed = os.environ.get(ALLOW_CPU_FULL_ENV, "").strip().lower() in ("1", "true", "yes")
    if seconds > 600 and not settings.get("tiny") and not allowed:
        raise LongCPURunError(message)
