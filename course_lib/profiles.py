"""Run profiles: ``smoke`` (CI), ``laptop`` (a student's CPU) and ``full`` (paper scale, GPU).

A chapter keeps its own table of settings per profile and resolves it with
:func:`chapter_settings`; papermill parameters that are not ``None`` override the table::

    CH1 = {"smoke": {"epochs": 2, "n_train": 2000}, "laptop": {...}, "full": {...}}
    settings = chapter_settings(CH1, profile, epochs=epochs)   # epochs=None keeps the table's

**This profile, tiny.** ``laptop`` and ``full`` take code paths that ``smoke`` does not (bigger
model kinds, projections, checkpoint folders, optional steps). To run those paths in CI, a
table may hold a ``"tiny"`` entry: sizes only (examples, epochs, widths), never the kind of a
model or whether a step runs. With ``COURSE_TINY=1`` (``python -m course_lib.run --profile
laptop --tiny``), :func:`chapter_settings` lays the ``"tiny"`` sizes over ``laptop`` or
``full``; ``smoke`` is unchanged. The resolved settings say so (``settings.tiny``).
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
TINY_ENV = "COURSE_TINY"
TINY = "tiny"


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


class Settings(dict):
    """A chapter's resolved settings; items are also attributes (``settings.epochs``)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError as err:
            raise AttributeError(f"no setting {key!r}; have {sorted(self)}") from err


def tiny_requested() -> bool:
    """Whether ``$COURSE_TINY`` asks for the tiny sizes of ``laptop`` / ``full``."""
    return os.environ.get(TINY_ENV, "").strip().lower() in ("1", "true", "yes")


def chapter_settings(
    table: Mapping[str, Mapping[str, Any]], profile: str, **overrides: Any
) -> Settings:
    """Resolve a chapter's settings for ``profile``, applying non-``None`` overrides.

    Parameters
    ----------
    table
        ``{profile_name: {setting: value}}`` with an entry for every profile, and optionally
        ``"tiny"``: sizes laid over ``laptop`` / ``full`` when ``$COURSE_TINY`` is set.
    profile
        One of :data:`PROFILE_NAMES`.
    overrides
        Values from the notebook's parameters cell; ``None`` means "the profile's value".
        Unknown names raise, so a typo in ``papermill -p`` cannot pass silently.

    Returns
    -------
    Settings
        The profile's values with ``profile`` and ``tiny`` (whether tiny sizes were applied).
    """
    check_profile(profile)
    missing = [p for p in PROFILE_NAMES if p not in table]
    if missing:
        raise ValueError(f"settings table has no entry for profile(s) {missing}")
    settings = Settings(table[profile])
    tiny = tiny_requested() and profile != "smoke"
    if tiny:
        sizes = table.get(TINY)
        if sizes is None:
            raise ValueError(
                f"{TINY_ENV} is set but this chapter's settings table has no {TINY!r} entry; "
                f"unset {TINY_ENV} to run profile {profile!r} at its real size"
            )
        unknown = sorted(set(sizes) - set(settings))
        if unknown:
            raise ValueError(f"tiny sizes {unknown} are not settings of profile {profile!r}")
        settings.update(sizes)
    settings["profile"] = profile
    settings["tiny"] = tiny
    for key, value in overrides.items():
        if key not in settings:
            raise ValueError(f"unknown setting {key!r}; the chapter knows {sorted(settings)}")
        if value is not None:
            settings[key] = value
    return settings


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
