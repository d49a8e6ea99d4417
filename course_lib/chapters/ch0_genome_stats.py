"""Chapter 0's genome statistics: GC content along a sequence, dinucleotide enrichment."""

from __future__ import annotations

import numpy as np
import pandas as pd

from course_lib.encoding import kmer_counts, kmer_vocabulary, to_codes


def gc_track(sequence: str, window: int, step: int | None = None) -> pd.DataFrame:
    """GC fraction in sliding windows along one sequence.

    Parameters
    ----------
    sequence
        DNA sequence of length ``L``.
    window
        Window size in bp.
    step
        Distance between window starts (default: ``window``, i.e. tiling windows).

    Returns
    -------
    pandas.DataFrame
        One row per window: ``start``, ``end``, ``gc`` (fraction of G/C among called bases;
        NaN for an all-N window).
    """
    if window < 1:
        raise ValueError(f"window must be positive, got {window}")
    step = step or window
    codes = to_codes([sequence])[0].astype(np.int64)
    if codes.size < window:
        raise ValueError(f"sequence of length {codes.size} is shorter than the window {window}")
    gc = np.r_[0, np.cumsum((codes == 1) | (codes == 2))]
    called = np.r_[0, np.cumsum((codes >= 0) & (codes < 4))]
    starts = np.arange(0, codes.size - window + 1, step)
    ends = starts + window
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = (gc[ends] - gc[starts]) / (called[ends] - called[starts])
    return pd.DataFrame({"start": starts, "end": ends, "gc": fraction})


def dinucleotide_obs_exp(sequence: str) -> pd.Series:
    """Observed / expected frequency of each of the 16 dinucleotides.

    Expected is the product of the two mononucleotide frequencies. In the human genome CpG is
    strongly depleted (obs/exp about 0.2-0.25) because methylated cytosines in CpG mutate to T.

    Returns
    -------
    pandas.Series
        Indexed by dinucleotide (``AA`` .. ``TT``).
    """
    mono = kmer_counts([sequence], 1)[0].astype(float)
    di = kmer_counts([sequence], 2)[0].astype(float)
    if mono.sum() == 0 or di.sum() == 0:
        raise ValueError("sequence has no called bases")
    p = mono / mono.sum()
    expected = np.outer(p, p).ravel()
    return pd.Series(di / di.sum() / expected, index=kmer_vocabulary(2), name="obs/exp")
