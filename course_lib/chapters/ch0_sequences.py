"""Chapter 0, ``notebooks/00_sequences.ipynb``: sequences as tensors.

The recipe of its headline numbers: GC fraction and CpG
observed/expected pooled over the random windows, with a bootstrap interval over windows. Its
parameters live in :mod:`course_lib.chapters.ch0_config`, its anchors and results file in
:mod:`course_lib.chapters.ch0_report`, its exercises in
:mod:`course_lib.chapters.ch0_exercises`, its statistics in
:mod:`course_lib.chapters.ch0_genome_stats`, its encodings in :mod:`course_lib.encoding` and
:mod:`course_lib.fasta`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_lib.encoding import kmer_counts
from course_lib.uncertainty import bootstrap_ci

NOTEBOOK = "00_sequences.ipynb"


def window_counts(seqs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Base counts ``[n, 4]`` and dinucleotide counts ``[n, 16]`` (ACGT order) per window."""
    seqs = list(seqs)
    return kmer_counts(seqs, 1).astype(np.float64), kmer_counts(seqs, 2).astype(np.float64)


def pooled_gc(mono: np.ndarray) -> np.ndarray:
    """GC fraction of windows pooled: ``mono`` ``[..., n, 4]`` -> ``[...]``."""
    total = mono.sum(axis=(-2, -1))
    return mono[..., 1:3].sum(axis=(-2, -1)) / total


def pooled_cpg_obs_exp(mono: np.ndarray, di: np.ndarray) -> np.ndarray:
    """CpG observed/expected of windows pooled: ``[..., n, 4]``, ``[..., n, 16]`` -> ``[...]``.

    Observed is the CG share of all dinucleotides; expected the product of the C and G shares
    of all bases, as in :func:`course_lib.chapters.ch0_genome_stats.dinucleotide_obs_exp`.
    """
    base = mono.sum(-2)
    p = base / base.sum(-1, keepdims=True)
    pairs = di.sum(-2)
    observed = pairs[..., 6] / pairs.sum(-1)  # CG is id 1 * 4 + 2
    return observed / (p[..., 1] * p[..., 2])


def window_intervals(seqs: Sequence[str], n_boot: int, seed: int = 0) -> dict[str, dict]:
    """GC fraction and CpG obs/exp pooled over ``seqs``, each with a 95 % bootstrap interval.

    Windows are resampled with replacement (the same resamples for both statistics).

    Returns
    -------
    dict
        ``{"GC fraction": ..., "CpG obs/exp": ...}``, each as
        :func:`course_lib.uncertainty.bootstrap_ci` returns it.
    """
    mono, di = window_counts(seqs)
    return {
        "GC fraction": bootstrap_ci(pooled_gc, mono, n_boot=n_boot, seed=seed, batched=True),
        "CpG obs/exp": bootstrap_ci(
            pooled_cpg_obs_exp, mono, di, n_boot=n_boot, seed=seed, batched=True
        ),
    }
