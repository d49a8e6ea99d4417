"""Chapter 4's data: a synthetic chromatin task for the teacher, and genome windows for ISM.

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
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.encoding import one_hot, reverse_complement, to_codes
from course_lib.fasta import Genome
from course_lib.metrics import pearson_r
from course_lib.models.beluga import Beluga
from course_lib.training import FitResult, fit

#: Chapter 4 settings per profile (resolve with ``profiles.chapter_settings``).
CHAPTER4 = {
    "smoke": {
        "sequence_length": 320,
        "n_features": 4,
        "teacher_channels": (8, 8, 16),
        "teacher_hidden": 16,
        "teacher_dropout": (0.0, 0.0, 0.1),
        "n_teacher_train": 1500,
        "n_teacher_val": 300,
        "teacher_epochs": 4,
        "teacher_batch_size": 32,
        "teacher_lr": 3e-3,
        "multiplexer_channels": (16, 32),
        "multiplexer_dilations": (2, 4, 8),
        "steps": 120,
        "fresh_windows": 1,
        "batch_windows": 4,
        "pool_size": 32,
        "eval_every": 20,
        "n_val_windows": 4,
        "n_test_windows": 6,
        "ism_batch_size": 640,
        "lr": 5e-3,
        "speed_windows": 2,
    },
    "laptop": {
        "sequence_length": 400,
        "n_features": 6,
        "teacher_channels": (16, 16, 32),
        "teacher_hidden": 32,
        "teacher_dropout": (0.0, 0.0, 0.1),
        "n_teacher_train": 6000,
        "n_teacher_val": 600,
        "teacher_epochs": 6,
        "teacher_batch_size": 32,
        "teacher_lr": 2e-3,
        "multiplexer_channels": (32, 64),
        "multiplexer_dilations": (4, 8, 32),
        "steps": 1200,
        "fresh_windows": 1,
        "batch_windows": 8,
        "pool_size": 256,
        "eval_every": 100,
        "n_val_windows": 16,
        "n_test_windows": 32,
        "ism_batch_size": 800,
        "lr": 2e-3,
        "speed_windows": 4,
    },
    "full": {
        "sequence_length": 2000,
        "n_features": 32,
        "teacher_channels": (320, 480, 640),
        "teacher_hidden": 2003,
        "teacher_dropout": (0.2, 0.2, 0.5),
        "n_teacher_train": 50000,
        "n_teacher_val": 5000,
        "teacher_epochs": 10,
        "teacher_batch_size": 128,
        "teacher_lr": 1e-3,
        "multiplexer_channels": (640, 1280),
        "multiplexer_dilations": (4, 16, 64),
        "steps": 10000,
        "fresh_windows": 16,
        "batch_windows": 16,
        "pool_size": 16,
        "eval_every": 200,
        "n_val_windows": 8,
        "n_test_windows": 32,
        "ism_batch_size": 1000,
        "lr": 1e-4,
        "speed_windows": 16,
    },
}


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


def seed_first_layer(teacher: Beluga, motifs: Sequence[str], scale: float = 2.0) -> int:
    """Initialise first-layer filters of ``teacher`` with the motifs (both strands).

    Filter ``2i`` (``2i + 1``) gets ``scale * (one_hot - 1/4)`` of motif ``i`` (its reverse
    complement), centred in the 8-wide kernel, and a bias that makes it fire for at most one
    mismatch. This is the DanQ-JASPAR trick (Quang & Xie 2016): a deep convolutional net without
    batch norm, like Beluga, otherwise needs far more than a minute of CPU training to leave its
    plateau. The other filters keep their random initialisation.

    Returns
    -------
    int
        Number of seeded filters.
    """
    conv = teacher.model[0][0]
    n_needed = 2 * len(motifs)
    if conv.out_channels < n_needed:
        raise ValueError(
            f"the first layer has {conv.out_channels} filters but {len(motifs)} motifs need "
            f"{n_needed} (both strands); widen teacher_channels[0]"
        )
    width = conv.kernel_size[1]
    with torch.no_grad():
        for i, site in enumerate(s for m in motifs for s in (m, reverse_complement(m))):
            if len(site) > width:
                raise ValueError(f"motif {site} is longer than the {width}-wide filters")
            pwm = torch.from_numpy(one_hot(site, alphabet="AGCT", channels_first=True)[0])
            offset = (width - len(site)) // 2
            conv.weight[i].zero_()
            conv.weight[i, :, 0, offset : offset + len(site)] = scale * (pwm - 0.25)
            conv.bias[i] = -scale * 0.75 * (len(site) - 2)
    return n_needed


def pretrain_teacher(
    teacher: nn.Module,
    train: TensorDataset,
    validation: TensorDataset,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 2e-3,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> FitResult:
    """Train the teacher on the chromatin task (binary cross-entropy, Adam), with a progress bar.

    The teacher is left in its best-on-validation state, in eval mode.
    """
    generator = torch.Generator().manual_seed(seed)
    return fit(
        teacher,
        DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator),
        DataLoader(validation, batch_size=256),
        loss_fn=nn.BCELoss(),
        epochs=epochs,
        lr=lr,
        device=device,
        description="teacher",
    )


@torch.no_grad()
def teacher_pearson(teacher: nn.Module, data: TensorDataset, batch_size: int = 256) -> list[float]:
    """Pearson r between the teacher's predictions and the planted occupancies, per feature."""
    teacher.eval()
    device = next(teacher.parameters()).device
    inputs, labels = data.tensors
    scores = torch.cat(
        [
            teacher(inputs[i : i + batch_size].to(device)).cpu()
            for i in range(0, len(inputs), batch_size)
        ]
    )
    return [pearson_r(labels[:, f].numpy(), scores[:, f].numpy()) for f in range(labels.shape[1])]


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
