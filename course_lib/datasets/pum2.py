"""PUM2 PAR-CLIP binding sites (RNAProt test set) and any positives/negatives FASTA pair.

Real: 3,000 positive and 3,000 negative 81-nt sites (Uhl et al., GigaScience 2021; MIT).
Synthetic: the same layout; positives carry the PUM2 motif UGUAHAUA (H = A, C or U) at a
random position, negatives are drawn from the same background and carry none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib.fasta import read_fasta, write_fasta
from course_lib.registry import DataSet, RemoteFile, register
from course_lib.text import as_text

_COMMIT = "6091c9882d0355e3457607f12ee43ddf82cbb11b"
_BASE = f"https://raw.githubusercontent.com/BackofenLab/RNAProt/{_COMMIT}/test"
POSITIVES = "PUM2_PARCLIP.positives.fa"
NEGATIVES = "PUM2_PARCLIP.negatives.fa"
#: PUM2 recognition element; H is A, C or U.
PUM2_MOTIF = "UGUAHAUA"
PUM2_MOTIF_REGEX = "TGTA[ACT]ATA"


@dataclass(frozen=True)
class BindingSites:
    """A labelled binding-site set read from a positives/negatives FASTA pair.

    Attributes
    ----------
    sequences
        ``n`` DNA-alphabet, upper-case sequences (U read as T).
    labels
        ``int64`` array ``[n]``, 1 for positives.
    names
        Record names, prefixed ``pos:`` or ``neg:`` so they stay unique across files.
    n_skipped_with_n
        ``{"positives": k, "negatives": m}`` records dropped for containing N.
    in_both
        Sequences present in both files (kept, reported so a student can decide).
    """

    sequences: list[str]
    labels: np.ndarray
    names: list[str]
    n_skipped_with_n: dict[str, int]
    in_both: list[str]

    def __len__(self) -> int:
        return len(self.sequences)

    def summary(self) -> str:
        pos = int(self.labels.sum())
        return (
            f"{pos:,} positives, {len(self) - pos:,} negatives; skipped for N: "
            f"{as_text(self.n_skipped_with_n)}; sequences in both files: {len(self.in_both)}"
        )


def load_binding_sites(positives: str | Path, negatives: str | Path) -> BindingSites:
    """Read a positives/negatives FASTA pair (multi-line, U->T, upper case, N records skipped).

    Raises
    ------
    course_lib.fasta.FastaFormatError
        A file is empty or repeats a header.
    """
    pos = read_fasta(positives, skip_n=True, to_dna=True)
    neg = read_fasta(negatives, skip_n=True, to_dna=True)
    shared = sorted(set(pos.sequences) & set(neg.sequences))
    sequences = pos.sequences + neg.sequences
    labels = np.r_[np.ones(len(pos), np.int64), np.zeros(len(neg), np.int64)]
    names = [f"pos:{n}" for n in pos.names] + [f"neg:{n}" for n in neg.names]
    skipped = {"positives": pos.n_skipped_with_n, "negatives": neg.n_skipped_with_n}
    return BindingSites(sequences, labels, names, skipped, shared)


def _load(folder: Path) -> BindingSites:
    return load_binding_sites(folder / POSITIVES, folder / NEGATIVES)


def synthesize_pum2(folder: Path, seed: int, n_per_class: int = 3000, length: int = 81) -> None:
    """Write a synthetic positives/negatives pair in the RNAProt layout (RNA alphabet).

    Backgrounds are drawn with a mildly U-rich composition; each positive gets one motif
    UGUAHAUA at a uniformly random position; each negative is a background with any
    accidental motif destroyed, so the motif is the signal a model must find.
    """
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACGU"))
    probs = [0.24, 0.22, 0.24, 0.30]

    def backgrounds(n: int) -> np.ndarray:
        return rng.choice(4, size=(n, length), p=probs)

    pos = backgrounds(n_per_class)
    motif_codes = np.array([3, 2, 3, 0, 0, 0, 3, 0])  # U G U A H A U A (H filled below)
    starts = rng.integers(0, length - len(motif_codes) + 1, n_per_class)
    h = rng.choice([0, 1, 3], size=n_per_class)  # A, C or U
    for offset, code in enumerate(motif_codes):
        pos[np.arange(n_per_class), starts + offset] = code
    pos[np.arange(n_per_class), starts + 4] = h
    neg = backgrounds(n_per_class)
    pos_seqs = ["".join(row) for row in letters[pos]]
    neg_seqs = [_destroy_motifs("".join(row)) for row in letters[neg]]
    write_fasta(folder / POSITIVES, [f"synthetic_pos_{i}" for i in range(n_per_class)], pos_seqs)
    write_fasta(folder / NEGATIVES, [f"synthetic_neg_{i}" for i in range(n_per_class)], neg_seqs)


_MOTIF_RNA = re.compile("UGUA[ACU]AUA")


def _destroy_motifs(seq: str) -> str:
    """Turn every UGUAHAUA into UGUGHAUA, repeating until none is left.

    One pass is not enough: rewriting ``UGUAUAUAUA`` gives ``UGUGUAUAUA``, which holds a new
    motif two bases later. Each pass turns an A into a G, so the loop ends.
    """
    while _MOTIF_RNA.search(seq):
        seq = _MOTIF_RNA.sub(lambda m: "UGUG" + m.group(0)[4:], seq)
    return seq


PUM2 = register(
    DataSet(
        name="pum2",
        description="PUM2 PAR-CLIP binding sites, 81 nt, 3,000 positives and 3,000 negatives",
        files=(
            RemoteFile(
                POSITIVES,
                (f"{_BASE}/{POSITIVES}",),
                "19e09a6825d3b3ad9ab0e91e413f56b60bbd9c8250a78c7c16c3db4fd0f24e31",
            ),
            RemoteFile(
                NEGATIVES,
                (f"{_BASE}/{NEGATIVES}",),
                "c7d41c259e6c17b287bed348e6db89001327c8479d86993d143de567a597e5ca",
            ),
        ),
        licence="MIT (RNAProt)",
        redistributable=True,
        citation=(
            "Uhl M, Tran VD, Heyl F, Backofen R. RNAProt: an efficient and feature-rich RNA "
            "binding protein binding site predictor. GigaScience 10(8), giab054 (2021)."
        ),
        schema="two FASTA files, 3000 records each, 81 nt, RNA alphabet",
        synthesize=synthesize_pum2,
        loader=_load,
        shared_subdir="pum2",
        homepage="https://github.com/BackofenLab/RNAProt",
    )
)
