"""Vectorized sequence encodings: one-hot, padding, RNA/DNA conversion and k-mers.

Every function works on whole batches through numpy lookup tables: there is no Python loop
over characters. Unknown characters raise a :class:`ValueError` that names the character,
its position and the record, so a bad FASTA line is found in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from typing import Literal

import numpy as np

ACGT = "ACGT"
#: Base order used by DeepSEA Beluga and ExPecto.
AGCT = "AGCT"

Padding = Literal["right", "left"]

_UNKNOWN = 0xFE  # read as int8: -2
_PAD = 0xFF  # read as int8: -1


def _as_list(seqs: str | Sequence[str]) -> list[str]:
    return [seqs] if isinstance(seqs, str) else list(seqs)


def _record_name(names: Sequence[str] | None, index: int) -> str:
    return repr(names[index]) if names is not None else f"#{index}"


def _code_table(alphabet: str) -> bytes:
    """256-byte table for :meth:`bytes.translate`: base -> code, NUL (padding) -> -1.

    Codes are stored as bytes, read back as ``int8``: ``0..3`` bases, ``4`` N, ``0xFF`` (-1)
    padding and ``0xFE`` (-2) an unknown character.
    """
    table = bytearray([_UNKNOWN] * 256)
    for code, base in enumerate(to_dna(alphabet.upper())):
        table[ord(base)] = table[ord(base.lower())] = code
    table[ord("U")] = table[ord("u")] = table[ord("T")]
    table[ord("N")] = table[ord("n")] = 4
    table[0] = _PAD
    return bytes(table)


def to_codes(
    seqs: Sequence[str],
    alphabet: str = ACGT,
    length: int | None = None,
    padding: Padding = "right",
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """Map sequences to integer codes, padded to a common length.

    Parameters
    ----------
    seqs
        ``n`` sequences over A, C, G, T/U and N (case-insensitive).
    alphabet
        Base order: base ``alphabet[i]`` gets code ``i``. U is read as T.
    length
        Output length ``L``; default the longest sequence. Longer sequences raise.
    padding
        ``"right"`` keeps sequences at the start (pad after), ``"left"`` aligns their ends.
    names
        Optional record names used in error messages.

    Returns
    -------
    numpy.ndarray
        ``int8`` array of shape ``[n, L]``: codes ``0..3``, ``4`` for N and ``-1`` for padding.
    """
    seqs = _as_list(seqs)
    if sorted(to_dna(alphabet.upper())) != sorted(ACGT):
        raise ValueError(f"alphabet must be a permutation of ACGT, got {alphabet!r}")
    if padding not in ("right", "left"):
        raise ValueError(f"padding must be 'right' or 'left', got {padding!r}")
    n = len(seqs)
    max_len = max(map(len, seqs), default=0)
    width = max_len if length is None else int(length)
    if max_len > width:
        lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=n)
        i = int(np.argmax(lengths))
        raise ValueError(
            f"record {_record_name(names, i)} has length {lengths[i]}, longer than the requested "
            f"length {width}; trim it or raise `length`"
        )
    if n == 0 or width == 0:
        return np.full((n, width), -1, dtype=np.int8)
    if padding == "left":
        seqs_padded = [s.rjust(width, "\0") for s in seqs]
    else:
        seqs_padded = seqs
    try:
        # fixed-width bytes: C-level ASCII encoding, NUL-padded on the right to `width`
        raw = np.array(seqs_padded, dtype=f"S{width}")
    except UnicodeEncodeError:
        _raise_unknown(seqs, names)
        raise
    translated = memoryview(raw).cast("B").tobytes().translate(_code_table(alphabet))
    codes = np.frombuffer(translated, dtype=np.int8).reshape(n, width).copy()
    n_pad = n * width - sum(map(len, seqs))
    if (codes == -2).any() or np.count_nonzero(codes == -1) != n_pad:
        _raise_unknown(seqs, names)  # an unknown character, or a NUL inside a sequence
    return codes


def _raise_unknown(seqs: Sequence[str], names: Sequence[str] | None) -> None:
    allowed = set("ACGTUNacgtun")
    for i, seq in enumerate(seqs):
        for pos, char in enumerate(seq):
            if char not in allowed:
                raise ValueError(
                    f"unknown character {char!r} at position {pos} of record "
                    f"{_record_name(names, i)}; allowed are A, C, G, T, U and N "
                    "(remove or replace other IUPAC codes before encoding)"
                )


def one_hot(
    seqs: str | Sequence[str],
    alphabet: str = ACGT,
    length: int | None = None,
    padding: Padding = "right",
    names: Sequence[str] | None = None,
    channels_first: bool = False,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """One-hot encode sequences; N and padding positions are all-zero.

    Parameters
    ----------
    seqs
        One sequence or ``n`` sequences (DNA or RNA, case-insensitive).
    alphabet
        Channel order, ``"ACGT"`` (default) or ``"AGCT"`` for Beluga.
    length, padding, names
        As in :func:`to_codes`.
    channels_first
        Return ``[n, 4, L]`` (PyTorch ``Conv1d`` layout) instead of ``[n, L, 4]``.
    dtype
        Output dtype.

    Returns
    -------
    numpy.ndarray
        ``[n, L, 4]`` (or ``[n, 4, L]``); a single string input still gives ``n = 1``.
    """
    codes = to_codes(_as_list(seqs), alphabet, length, padding, names)
    if channels_first:
        out = np.empty((codes.shape[0], 4, codes.shape[1]), dtype=dtype)
        channels = np.arange(4, dtype=np.int8)[None, :, None]
        np.equal(codes[:, None, :], channels, out=out, casting="unsafe")
        return out
    # read the int8 codes as uint8 row numbers of a 256-row table: rows 0..3 are the unit
    # vectors; N (4), padding (255) and every other row are all-zero
    table = np.zeros((256, 4), dtype=dtype)
    table[np.arange(4), np.arange(4)] = 1
    return np.take(table, codes.view(np.uint8), axis=0)


def decode_one_hot(x: np.ndarray, alphabet: str = ACGT, channels_first: bool = False) -> list[str]:
    """Turn a one-hot array ``[n, L, 4]`` (or ``[n, 4, L]``) back into strings.

    All-zero positions become ``N``; use it to inspect model inputs, not on the hot path.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"expected a 3-D one-hot array, got shape {x.shape}")
    if channels_first:
        x = x.transpose(0, 2, 1)
    if x.shape[-1] != 4:
        raise ValueError(f"expected 4 channels in the last axis, got shape {x.shape}")
    letters = np.array(list(alphabet.upper()) + ["N"])
    idx = np.where(x.sum(-1) > 0, x.argmax(-1), 4)
    return ["".join(row) for row in letters[idx]]


def pad(seqs: Sequence[str], length: int, padding: Padding = "right", fill: str = "N") -> list[str]:
    """Pad (never trim) strings to ``length`` with ``fill`` on the chosen side."""
    too_long = [i for i, s in enumerate(seqs) if len(s) > length]
    if too_long:
        raise ValueError(
            f"{len(too_long)} sequences are longer than {length} (first: #{too_long[0]})"
        )
    if padding == "right":
        return [s.ljust(length, fill) for s in seqs]
    if padding == "left":
        return [s.rjust(length, fill) for s in seqs]
    raise ValueError(f"padding must be 'right' or 'left', got {padding!r}")


_TO_RNA = str.maketrans("Tt", "Uu")
_TO_DNA = str.maketrans("Uu", "Tt")
_COMPLEMENT = str.maketrans("ACGTUNacgtun", "TGCAANtgcaan")


def to_rna(seq: str) -> str:
    """Replace T by U (case kept)."""
    return seq.translate(_TO_RNA)


def to_dna(seq: str) -> str:
    """Replace U by T (case kept)."""
    return seq.translate(_TO_DNA)


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA sequence (U is complemented to A, output is DNA)."""
    return seq.translate(_COMPLEMENT)[::-1]


def gc_content(seqs: Sequence[str]) -> np.ndarray:
    """Fraction of G or C among the non-N bases of each sequence, shape ``[n]``."""
    codes = to_codes(_as_list(seqs))
    called = (codes >= 0) & (codes < 4)
    gc = (codes == 1) | (codes == 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return gc.sum(1) / called.sum(1)


def kmer_vocabulary(k: int, alphabet: str = ACGT) -> list[str]:
    """All ``4**k`` k-mers in lexicographic order of ``alphabet`` (``AAA, AAC, ...``)."""
    _check_k(k)
    return ["".join(p) for p in product(alphabet, repeat=k)]


def _check_k(k: int) -> None:
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def kmers(seq: str, k: int) -> list[str]:
    """Overlapping k-mers of one sequence as strings (``len(seq) - k + 1`` of them)."""
    _check_k(k)
    if len(seq) < k:
        raise ValueError(f"sequence of length {len(seq)} is shorter than k={k}")
    return [seq[i : i + k] for i in range(len(seq) - k + 1)]


def kmer_ids(
    seqs: str | Sequence[str], k: int, names: Sequence[str] | None = None, offset: int = 0
) -> np.ndarray:
    """Overlapping k-mers as integer ids, vectorized.

    The id of a k-mer is its rank in :func:`kmer_vocabulary` (base-4 number in ACGT order)
    plus ``offset``. k-mers containing N get ``-1``; so do positions past a short sequence.

    Parameters
    ----------
    seqs
        ``n`` sequences of length up to ``L``.
    k
        k-mer size.
    offset
        Added to every valid id (e.g. the number of special tokens of a vocabulary).

    Returns
    -------
    numpy.ndarray
        ``int64`` array ``[n, L - k + 1]``.
    """
    _check_k(k)
    codes = to_codes(_as_list(seqs), ACGT, names=names)
    n, width = codes.shape
    if width < k:
        raise ValueError(f"sequences of length {width} are shorter than k={k}")
    n_windows = width - k + 1
    valid = (codes >= 0) & (codes < 4)
    ids = np.zeros((n, n_windows), dtype=np.int64)
    window_valid = np.ones((n, n_windows), dtype=bool)
    for j in range(k):  # Horner's rule over the k positions of every window at once
        ids *= 4
        ids += codes[:, j : j + n_windows]
        window_valid &= valid[:, j : j + n_windows]
    ids += offset
    ids[~window_valid] = -1
    return ids


def kmer_counts(seqs: Sequence[str], k: int) -> np.ndarray:
    """Counts of every k-mer per sequence, ``[n, 4**k]`` (k-mers with N are not counted)."""
    ids = kmer_ids(seqs, k)
    n = ids.shape[0]
    rows = np.repeat(np.arange(n), ids.shape[1])
    flat = ids.ravel()
    keep = flat >= 0
    counts = np.zeros((n, 4**k), dtype=np.int32)
    np.add.at(counts, (rows[keep], flat[keep]), 1)
    return counts
