"""RNA secondary-structure labels from ViennaRNA, computed in parallel and cached on disk.

UTR-LM (Chu et al. 2024) pretrains on two labels that ViennaRNA computes for free: the
minimum free energy (MFE, kcal/mol) of a sequence and, per nucleotide, whether it pairs with a
partner to its right (``(``), to its left (``)``) or is unpaired (``.``) in the MFE structure.

:func:`fold_sequences` folds many sequences on several processes with a progress bar;
:func:`fold_cached` keeps the result in ``$COURSE_DATA_DIR/structure_cache/`` keyed by the set
of sequences (and the ViennaRNA version), so a chapter folds its corpus once.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import sys
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib.atomic import atomic_path
from course_lib.encoding import to_rna
from course_lib.paths import data_dir
from course_lib.progress import progress
from course_lib.training_pool import thread_budget

#: Per-nucleotide classes, in label order: paired with a partner to the right, paired with a
#: partner to the left, unpaired.
STRUCTURE_CLASSES = ("(", ")", ".")
PAIRED_LEFT, PAIRED_RIGHT, UNPAIRED = 0, 1, 2
_LABEL_TABLE = np.full(128, -1, dtype=np.int8)
for _label, _char in enumerate(STRUCTURE_CLASSES):
    _LABEL_TABLE[ord(_char)] = _label
_VALID_BASES = frozenset("ACGUN")
#: Below this many sequences folding runs in-process: starting workers costs more than it saves.
MIN_PARALLEL = 256


@dataclass(frozen=True)
class FoldedRNA:
    """MFE structures of ``n`` sequences, in input order.

    Attributes
    ----------
    sequences
        The ``n`` folded sequences (upper case, T read as U).
    structures
        ``n`` dot-bracket strings, each as long as its sequence.
    mfe
        ``[n]`` float32 minimum free energies in kcal/mol (0 or negative).
    """

    sequences: list[str]
    structures: list[str]
    mfe: np.ndarray

    def __len__(self) -> int:
        return len(self.sequences)

    def labels(self, index: int) -> np.ndarray:
        """Per-nucleotide class ids (``[len]`` int64) of sequence ``index``."""
        return structure_labels(self.structures[index])


def vienna_version() -> str:
    """The installed ViennaRNA version (part of the cache key)."""
    import RNA

    return str(RNA.__version__)


def _to_rna(seq: str, index: int) -> str:
    rna = to_rna(seq.upper())
    bad = set(rna) - _VALID_BASES
    if bad:
        raise ValueError(
            f"sequence #{index} contains {sorted(bad)}; only A, C, G, T/U and N can be folded"
        )
    if not rna:
        raise ValueError(f"sequence #{index} is empty; remove it before folding")
    return rna


def _start_method() -> str:
    """``fork`` on Linux (no re-import of ``__main__``, so scripts need no main guard; the
    workers only call ViennaRNA), else ``spawn`` (macOS and Windows)."""
    return "fork" if sys.platform.startswith("linux") else "spawn"


def fold_one(seq: str) -> tuple[str, float]:
    """MFE structure and energy of one RNA sequence: ``("((...))", -1.2)``."""
    import RNA

    structure, mfe = RNA.fold(seq)
    return structure, float(mfe)


def structure_labels(structure: str) -> np.ndarray:
    """Class ids of a dot-bracket string: ``(`` → 0, ``)`` → 1, ``.`` → 2 (``[len]`` int64).

    >>> structure_labels("((..))").tolist()
    [0, 0, 2, 2, 1, 1]
    """
    bad = sorted(set(structure) - set(STRUCTURE_CLASSES))
    if bad:
        raise ValueError(
            f"structure {structure!r} has characters {bad}; expected only '(', ')' and '.' "
            "(pseudoknot brackets are not produced by RNA.fold)"
        )
    labels = _LABEL_TABLE[np.frombuffer(structure.encode("ascii"), dtype=np.uint8)]
    return labels.astype(np.int64)


def fold_sequences(
    seqs: Sequence[str],
    processes: int = 2,
    chunksize: int = 64,
    show_progress: bool = True,
) -> FoldedRNA:
    """Fold every sequence with ViennaRNA ``RNA.fold`` on ``processes`` worker processes.

    Parameters
    ----------
    seqs
        ``n`` DNA or RNA sequences (T is read as U).
    processes
        Worker processes, at most :func:`~course_lib.training_pool.thread_budget` (this
        process's threads, which ``course_book.run --jobs`` lowers when chapters share the
        cores); ``1`` (or fewer than :data:`MIN_PARALLEL` sequences) folds in-process.
    chunksize
        Sequences handed to a worker at a time.
    show_progress
        Show a progress bar over sequences.

    Returns
    -------
    FoldedRNA
        Structures and MFEs in the order of ``seqs``.
    """
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    rna = [_to_rna(s, i) for i, s in enumerate(seqs)]
    bar_kwargs = {"total": len(rna), "desc": "ViennaRNA folding", "unit": "seq"}
    if processes == 1 or len(rna) < MIN_PARALLEL:
        folded = list(progress(map(fold_one, rna), disable=not show_progress, **bar_kwargs))
    else:
        context = mp.get_context(_start_method())
        with context.Pool(min(processes, thread_budget())) as pool:
            results = pool.imap(fold_one, rna, chunksize=chunksize)
            folded = list(progress(results, disable=not show_progress, **bar_kwargs))
    structures = [s for s, _ in folded]
    mfe = np.array([e for _, e in folded], dtype=np.float32)
    return FoldedRNA(sequences=rna, structures=structures, mfe=mfe)


def sequence_set_key(seqs: Sequence[str]) -> str:
    """Cache key of a set of sequences: sha256 over the sorted unique RNA sequences and the
    ViennaRNA version (order and duplicates do not change the key)."""
    unique = sorted({_to_rna(s, i) for i, s in enumerate(seqs)})
    digest = hashlib.sha256(f"ViennaRNA {vienna_version()}\n".encode())
    digest.update("\n".join(unique).encode())
    return digest.hexdigest()[:24]


def structure_cache_dir() -> Path:
    """``$COURSE_DATA_DIR/structure_cache`` (created if missing)."""
    folder = data_dir() / "structure_cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def fold_cached(
    seqs: Sequence[str],
    cache_dir: str | Path | None = None,
    processes: int = 2,
    show_progress: bool = True,
) -> FoldedRNA:
    """:func:`fold_sequences` with an on-disk cache keyed by the set of sequences.

    Each unique sequence is folded once; the cache file ``<key>.npz`` holds the unique
    sequences, structures and MFEs, and the result is returned in the order of ``seqs``.
    A file whose content does not match its key, or that cannot be read (truncated by a killed
    run, corrupted), is reported with a warning, refolded and replaced; a new file is written
    whole or not at all (:func:`course_lib.atomic.atomic_path`).

    Parameters
    ----------
    seqs
        ``n`` DNA or RNA sequences.
    cache_dir
        Folder for the cache files; default :func:`structure_cache_dir`.
    """
    rna = [_to_rna(s, i) for i, s in enumerate(seqs)]
    folder = Path(cache_dir) if cache_dir else structure_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sequence_set_key(rna)}.npz"
    unique = sorted(set(rna))
    cached = _read_cache(path, unique)
    if cached is None:
        cached = fold_sequences(unique, processes=processes, show_progress=show_progress)
        with atomic_path(path) as part:  # a killed run or a full disk leaves no half file
            np.savez_compressed(
                part,
                sequences=np.array(cached.sequences),
                structures=np.array(cached.structures),
                mfe=cached.mfe,
            )
    index = {s: i for i, s in enumerate(cached.sequences)}
    order = [index[s] for s in rna]
    return FoldedRNA(
        sequences=rna,
        structures=[cached.structures[i] for i in order],
        mfe=cached.mfe[order],
    )


def _read_cache(path: Path, unique: list[str]) -> FoldedRNA | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            sequences = data["sequences"].tolist()
            structures = data["structures"].tolist()
            mfe = data["mfe"].astype(np.float32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        warnings.warn(
            f"the folding cache {path} is corrupted ({type(err).__name__}: {err}); "
            "folding again and replacing it",
            stacklevel=3,
        )
        return None
    if sequences != unique or len(structures) != len(unique) or mfe.shape != (len(unique),):
        return None
    return FoldedRNA(sequences=sequences, structures=structures, mfe=mfe)
