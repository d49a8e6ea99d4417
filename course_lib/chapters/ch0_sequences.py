"""Chapter 0, ``notebooks/00_sequences.ipynb``: sequences as tensors.

The chapter's settings per profile; its statistics live in :mod:`course_lib.genome_stats`,
its encodings in :mod:`course_lib.encoding` and :mod:`course_lib.fasta`.
"""

from __future__ import annotations

from typing import Any

NOTEBOOK = "00_sequences.ipynb"

#: Settings per profile: how many random windows to draw and how long they are.
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {"n_windows": 200, "window_length": 1000, "gc_window": 2000},
    "laptop": {"n_windows": 2000, "window_length": 1000, "gc_window": 1000},
    "full": {"n_windows": 20000, "window_length": 1000, "gc_window": 1000},
}


#: Chapter 0 compares with no published figure.
ANCHORS: dict[str, dict[str, Any]] = {}
