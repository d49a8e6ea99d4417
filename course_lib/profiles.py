"""Run profiles: ``smoke`` (CI), ``laptop`` (a student's CPU) and ``full`` (paper scale, GPU).

A chapter keeps its own table of settings per profile and resolves it with
:func:`chapter_settings`; papermill parameters that are not ``None`` override the table::

    CH1 = {"smoke": {"epochs": 2, "n_train": 2000}, "laptop": {...}, "full": {...}}
    settings = chapter_settings(CH1, profile, epochs=epochs)   # epochs=None keeps the table's
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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


class Settings(dict):
    """A chapter's resolved settings; items are also attributes (``settings.epochs``)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError as err:
            raise AttributeError(f"no setting {key!r}; have {sorted(self)}") from err


def chapter_settings(
    table: Mapping[str, Mapping[str, Any]], profile: str, **overrides: Any
) -> Settings:
    """Resolve a chapter's settings for ``profile``, applying non-``None`` overrides.

    Parameters
    ----------
    table
        ``{profile_name: {setting: value}}`` with an entry for every profile.
    profile
        One of :data:`PROFILE_NAMES`.
    overrides
        Values from the notebook's parameters cell; ``None`` means "the profile's value".
        Unknown names raise, so a typo in ``papermill -p`` cannot pass silently.
    """
    check_profile(profile)
    missing = [p for p in PROFILE_NAMES if p not in table]
    if missing:
        raise ValueError(f"settings table has no entry for profile(s) {missing}")
    settings = Settings(table[profile])
    settings["profile"] = profile
    for key, value in overrides.items():
        if key not in settings:
            raise ValueError(f"unknown setting {key!r}; the chapter knows {sorted(settings)}")
        if value is not None:
            settings[key] = value
    return settings
