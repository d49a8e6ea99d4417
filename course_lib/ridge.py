"""The course's shallow reference: a ridge regression, on k-mer frequencies or on any features.

Introduced in chapter 1 (the linear probe of each backbone layer, and the k-mer probe every
layer must beat) and reused by chapter 5 (the k-mer ridge arm of its sample-efficiency curve):

- :func:`kmer_features`: k-mer frequencies for k = 1 .. ``k_max`` and the length;
- :func:`ridge_model`: features standardised on the training rows, the penalty chosen among
  :data:`ALPHAS` by leave-one-out on the training rows (scikit-learn's ``RidgeCV``), so that
  validation and test rows are only ever scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from course_lib.encoding import kmer_counts

#: Ridge penalties :func:`ridge_model` chooses from, by leave-one-out on the training rows.
ALPHAS = tuple(np.logspace(-2, 4, 7))


def kmer_features(sequences: Sequence[str], k_max: int = 3) -> np.ndarray:
    """k-mer frequencies for k = 1 .. ``k_max`` and the length: ``[n, 4 + 16 + ... + 1]``."""
    lengths = np.array([len(s) for s in sequences], dtype=np.float64)[:, None]
    freqs = [
        kmer_counts(sequences, k) / np.maximum(lengths - k + 1, 1) for k in range(1, k_max + 1)
    ]
    return np.hstack([*freqs, lengths])


def ridge_model(alphas: Sequence[float] = ALPHAS) -> Pipeline:
    """An unfitted ``StandardScaler`` + ``RidgeCV(alphas=alphas)`` pipeline (``[n, F]`` in,
    ``[n]`` out); after ``fit``, ``model[-1].alpha_`` is the penalty chosen."""
    return make_pipeline(StandardScaler(), RidgeCV(alphas=alphas))
