"""Sequence logos from attributions: aligned windows, frequency and information matrices.

Introduced in chapter 3. :func:`aligned_windows`, :func:`frequency_matrix`,
:func:`information_matrix` and :func:`draw_logo` turn the strongest site of each sequence into
a sequence logo; :func:`consensus` reads the motif off it and :func:`motif_frequency` counts a
motif per class.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from course_lib.encoding import ACGT, to_codes, to_dna

RNA_BASES = "ACGU"


def strongest_window(importance: np.ndarray, width: int) -> np.ndarray:
    """Start of the ``width``-long window with the largest summed importance, ``[n]``."""
    importance = np.asarray(importance, dtype=float)
    if importance.shape[1] < width:
        raise ValueError(f"window width {width} exceeds the sequence length {importance.shape[1]}")
    sums = np.lib.stride_tricks.sliding_window_view(importance, width, axis=1).sum(-1)
    return sums.argmax(1)


def aligned_windows(
    seqs: Sequence[str], importance: np.ndarray, width: int = 8, flank: int = 2
) -> list[str]:
    """The strongest ``width`` window of each sequence with ``flank`` bases each side.

    Windows that run off a sequence end are padded with N (ignored by :func:`frequency_matrix`).
    """
    starts = strongest_window(importance, width)
    out = []
    for seq, start in zip(seqs, starts, strict=True):
        padded = "N" * flank + seq + "N" * flank
        out.append(padded[start : start + width + 2 * flank])
    return out


def frequency_matrix(windows: Sequence[str], rna: bool = True) -> pd.DataFrame:
    """Base probabilities per position of equal-length windows, ``[width, 4]`` DataFrame.

    Columns are ``A C G U`` (``rna=True``) or ``A C G T``; N is not counted.
    """
    codes = to_codes([w.upper() for w in windows])
    if len({len(w) for w in windows}) > 1:
        raise ValueError("frequency_matrix needs windows of equal length")
    counts = np.stack([(codes == b).sum(0) for b in range(4)], axis=1).astype(float)
    totals = counts.sum(1, keepdims=True)
    probs = np.divide(counts, totals, out=np.full_like(counts, 0.25), where=totals > 0)
    return pd.DataFrame(probs, columns=list(RNA_BASES if rna else ACGT))


def information_matrix(frequencies: pd.DataFrame) -> pd.DataFrame:
    """Information content (bits) per base and position, for a classic sequence logo."""
    import logomaker

    return logomaker.transform_matrix(frequencies, from_type="probability", to_type="information")


def attribution_matrix(seq: str, position_scores: np.ndarray, rna: bool = True) -> pd.DataFrame:
    """A saliency-logo matrix ``[L, 4]``: each position's score on its reference base."""
    codes = to_codes([seq])[0]
    matrix = np.zeros((len(seq), 4))
    called = codes < 4
    matrix[np.flatnonzero(called), codes[called]] = np.asarray(position_scores)[called]
    return pd.DataFrame(matrix, columns=list(RNA_BASES if rna else ACGT))


def consensus(frequencies: pd.DataFrame, min_probability: float = 0.5) -> str:
    """Most frequent base per position, ``.`` where it has less than ``min_probability``."""
    best = frequencies.to_numpy().argmax(1)
    top = frequencies.to_numpy().max(1)
    letters = np.array(list(frequencies.columns))
    return "".join(np.where(top >= min_probability, letters[best], "."))


def motif_in(text: str, motif_regex: str) -> bool:
    """Whether ``motif_regex`` (DNA letters, e.g. ``TGTA.ATA``) occurs in ``text`` (U read as T)."""
    return re.search(motif_regex, to_dna(text.upper())) is not None


def motif_frequency(seqs: Sequence[str], labels: np.ndarray, motif_regex: str) -> pd.DataFrame:
    """How many positives and negatives contain ``motif_regex``; one row per class."""
    labels = np.asarray(labels)
    pattern = re.compile(motif_regex)
    hits = np.array([pattern.search(to_dna(s.upper())) is not None for s in seqs])
    rows = []
    for name, value in (("positives", 1), ("negatives", 0)):
        chosen = labels == value
        rows.append(
            {
                "class": name,
                "sequences": int(chosen.sum()),
                "with motif": int(hits[chosen].sum()),
                "fraction": float(hits[chosen].mean()) if chosen.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows).set_index("class")


def draw_logo(matrix: pd.DataFrame, ax=None, title: str = "", ylabel: str = "bits"):
    """Draw ``matrix`` ``[L, 4]`` with logomaker on ``ax``; returns the ``logomaker.Logo``."""
    import logomaker

    logo = logomaker.Logo(matrix, ax=ax, color_scheme="classic")
    logo.ax.set(title=title, ylabel=ylabel, xlabel="position in window")
    return logo
