"""Chapter 0's configuration (``notebooks/00_sequences.ipynb``): its parameters per profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from course_lib.config import ChapterConfig, parameter


@dataclass(frozen=True)
class Ch0Config(ChapterConfig):
    """Chapter 0's parameters; field defaults are ``laptop``, other profiles differ by ``PROFILES``.

    Attributes
    ----------
    n_windows
        Random genome windows drawn from the chr22 excerpt (count, >= 1).
    window_length
        Length of each random window (bp, >= 1).
    gc_window
        Window of the GC track along the excerpt (bp, >= 1).
    n_boot
        Bootstrap resamples of the headline interval (count, >= 1).
    """

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"n_windows": 200, "gc_window": 2000, "n_boot": 200},
        "full": {"n_windows": 20000, "n_boot": 2000},
    }
    TINY: ClassVar[dict[str, Any]] = {"n_windows": 100, "n_boot": 100}

    n_windows: int = parameter(2000, "random genome windows to draw", minimum=1)
    window_length: int = parameter(1000, "bp per random window", minimum=1)
    gc_window: int = parameter(1000, "bp per window of the GC track", minimum=1)
    n_boot: int = parameter(1000, "bootstrap resamples of the headline interval", minimum=1)
