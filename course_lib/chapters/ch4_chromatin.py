"""A synthetic chromatin task for a teacher model, and genome windows for ISM (chapter 4).

The published Beluga weights cannot be downloaded here, so ``smoke`` and ``laptop`` train a
scaled-down Beluga ("teacher") on a task with a known answer: each chromatin feature is driven
by a planted motif (a transcription-factor-like 6-mer, read on either strand), and one extra
feature needs two motifs together (a cooperative enhancer). The teacher's saturation
mutagenesis therefore has structure: breaking a motif lowers its feature, completing a near-match
raises it. The Multiplexer is then distilled on real genome windows (hg38 chr22 excerpt), with
train, validation and test windows taken from disjoint coordinate ranges (or disjoint
chromosomes on a whole genome, as in the original: validation chr8, test chr9).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import TensorDataset

from course_lib.encoding import one_hot, reverse_complement, to_codes
from course_lib.fasta import Genome


@dataclass(frozen=True)
class ChromatinTask:
    """Planted-motif rules for ``F`` chromatin features.

    Each site of a window (every offset, both strands) is bound by the factor of motif ``i``
    with probability ``exp(-penalty * mismatches)`` (1 for an exact match, ~0.08 for one
    mismatch), and feature ``i`` is the probability that at least one site is bound
    (a noisy OR). With ``cooperative = (a, b)`` a last feature is the product of features ``a``
    and ``b`` (an enhancer that needs both factors). Every window thus has a graded value and
    every near-match contributes, so saturation mutagenesis maps are dense, as for real models.
    """

    motifs: tuple[str, ...]
    cooperative: tuple[int, int] | None = None
    penalty: float = 2.5

    @property
    def n_features(self) -> int:
        return len(self.motifs) + (self.cooperative is not None)

    @property
    def feature_names(self) -> list[str]:
        names = [f"{m} motif" for m in self.motifs]
        if self.cooperative is not None:
            a, b = self.cooperative
            names.append(f"{self.motifs[a]} + {self.motifs[b]}")
        return names

    def labels(self, sequences: Sequence[str]) -> np.ndarray:
        """``[n, F]`` feature values in [0, 1] of ``sequences`` (scanned, not remembered)."""
        values = np.stack([self._occupancy(sequences, m) for m in self.motifs], axis=1)
        if self.cooperative is not None:
            a, b = self.cooperative
            values = np.concatenate([values, values[:, [a]] * values[:, [b]]], axis=1)
        return values.astype(np.float32)

    def _occupancy(self, sequences: Sequence[str], motif: str) -> np.ndarray:
        mismatches = site_mismatches(sequences, motif)  # [n, 2, sites]
        bound = np.minimum(np.exp(-self.penalty * mismatches), 1 - 1e-7)
        return 1 - np.exp(np.log1p(-bound).sum(axis=(1, 2)))


def make_task(
    n_features: int, rng: np.random.Generator, motif_length: int = 6, cooperative: bool = True
) -> ChromatinTask:
    """Random distinct, non-palindromic motifs (one per feature, the last one cooperative)."""
    n_motifs = n_features - 1 if cooperative else n_features
    if n_motifs < (2 if cooperative else 1):
        raise ValueError(f"n_features={n_features} leaves too few motifs; use at least 3")
    motifs: list[str] = []
    seen: set[str] = set()
    while len(motifs) < n_motifs:
        motif = "".join(rng.choice(list("ACGT"), motif_length))
        rc = reverse_complement(motif)
        if motif in seen or rc in seen or motif == rc:
            continue
        seen.update((motif, rc))
        motifs.append(motif)
    return ChromatinTask(tuple(motifs), (0, 1) if cooperative else None)


def site_mismatches(sequences: Sequence[str], motif: str) -> np.ndarray:
    """``[n, 2, L - k + 1]`` mismatches of ``motif`` at every offset, forward and reverse strand.

    N counts as a mismatch. Vectorized over sequences and offsets.
    """
    codes = to_codes(list(sequences)).astype(np.int16)
    windows = np.lib.stride_tricks.sliding_window_view(codes, len(motif), axis=1)
    out = []
    for strand in (motif, reverse_complement(motif)):
        target = to_codes([strand])[0].astype(np.int16)
        out.append(len(motif) - (windows == target).sum(-1))
    return np.stack(out, axis=1)


def plant_motifs(
    backgrounds: Sequence[str], task: ChromatinTask, rng: np.random.Generator, probability: float
) -> list[str]:
    """Insert each motif (random strand) into each background with ``probability``.

    The planted motifs of one window never overlap: the window is cut into one slot per motif
    and each motif lands at a random offset of its own (randomly assigned) slot.
    """
    width = max(len(m) for m in task.motifs)
    out = []
    for seq in backgrounds:
        slot = len(seq) // len(task.motifs)
        if slot < width:
            raise ValueError(
                f"a {len(seq)} bp window is too short to plant {len(task.motifs)} motifs"
            )
        chars = list(seq)
        for motif, k in zip(task.motifs, rng.permutation(len(task.motifs)), strict=True):
            if rng.random() < probability:
                site = motif if rng.random() < 0.5 else reverse_complement(motif)
                start = int(k) * slot + int(rng.integers(0, slot - len(site) + 1))
                chars[start : start + len(site)] = site
        out.append("".join(chars))
    return out


def encode_windows(sequences: Sequence[str]) -> torch.Tensor:
    """One-hot ``[n, 4, L]`` float tensor in Beluga's A, G, C, T order."""
    return torch.from_numpy(one_hot(list(sequences), alphabet="AGCT", channels_first=True))


def chromatin_dataset(
    backgrounds: Sequence[str],
    task: ChromatinTask,
    rng: np.random.Generator,
    probability: float = 0.5,
) -> TensorDataset:
    """Planted sequences as ``(x [n, 4, L], y [n, F])`` for training the teacher."""
    sequences = plant_motifs(backgrounds, task, rng, probability)
    return TensorDataset(encode_windows(sequences), torch.from_numpy(task.labels(sequences)))


_MAIN_CHROMOSOME = re.compile(r"^chr([0-9]+|X|Y)$")
SPLITS = ("train", "validation", "test")


def split_regions(
    chromosomes: dict[str, int],
    validation_chromosomes: Sequence[str] = ("chr8",),
    test_chromosomes: Sequence[str] = ("chr9",),
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> dict[str, dict[str, tuple[int, int]]]:
    """Disjoint train / validation / test regions ``{split: {chrom: (start, end)}}``.

    A whole genome that has the held-out chromosomes is split by chromosome (train: the other
    main chromosomes chr1-22, X, Y). Otherwise (e.g. the one-record chr22 excerpt) every
    chromosome is cut into three consecutive coordinate ranges in ``fractions``; windows are
    sampled inside a range, so windows of different splits never overlap.
    """
    held = set(validation_chromosomes) | set(test_chromosomes)
    if held and held <= set(chromosomes):
        train = {
            c: (0, n) for c, n in chromosomes.items() if _MAIN_CHROMOSOME.match(c) and c not in held
        }
        if train:
            return {
                "train": train,
                "validation": {c: (0, chromosomes[c]) for c in validation_chromosomes},
                "test": {c: (0, chromosomes[c]) for c in test_chromosomes},
            }
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions}")
    out: dict[str, dict[str, tuple[int, int]]] = {s: {} for s in SPLITS}
    for chrom, size in chromosomes.items():
        cuts = np.round(np.cumsum((0,) + tuple(fractions)) * size).astype(int)
        for split, start, end in zip(SPLITS, cuts[:-1], cuts[1:], strict=True):
            out[split][chrom] = (int(start), int(end))
    return out


def regions_text(regions: dict[str, dict[str, tuple[int, int]]]) -> str:
    """:func:`split_regions`' output as a sentence: ``"train chr22:0-210,000; validation
    chr22:210,000-255,000; test chr22:255,000-300,000"``."""
    return "; ".join(
        f"{split} " + ", ".join(f"{chrom}:{start:,}-{end:,}" for chrom, (start, end) in r.items())
        for split, r in regions.items()
    )


def window_sampler(
    genome: Genome, regions: dict[str, tuple[int, int]], length: int, max_n: int = 10
) -> Callable[[int, np.random.Generator], torch.Tensor]:
    """``sample(n, rng) -> [n, 4, L]`` one-hot genome windows from ``regions``.

    Windows are drawn in proportion to region length; those with more than ``max_n`` N are
    redrawn (N positions are all-zero in the encoding).
    """

    def sample(n: int, rng: np.random.Generator) -> torch.Tensor:
        windows = genome.sample_windows(n, length, rng, chromosomes=regions, max_n=max_n)
        return encode_windows([seq for _, _, seq in windows])

    return sample


def sample_sequences(
    genome: Genome,
    regions: dict[str, tuple[int, int]],
    n: int,
    length: int,
    rng: np.random.Generator,
) -> list[str]:
    """``n`` window sequences from ``regions``, N replaced by random bases (teacher backgrounds)."""
    windows = genome.sample_windows(n, length, rng, chromosomes=regions)
    out = []
    for _, _, seq in windows:
        if "N" in seq:
            seq = "".join(rng.choice(list("ACGT")) if c == "N" else c for c in seq)
        out.append(seq)
    return out
