"""A real human genome excerpt: 300 kb of hg38 chr22 from position 32,000,000 (kipoiseq tests).

Synthetic stand-in: one ``>chr22`` record of the same length with a realistic mix of
GC-poor and GC-rich stretches (isochore-like blocks) and a few repeated elements.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from course_lib.fasta import Genome, write_fasta
from course_lib.registry import DataSet, RemoteFile, register

_COMMIT = "147eba74493bc0b11c9d920a4d4a8a746876c367"
GENOME_FILE = "hg38_chr22_32000000_32300000.fa"
#: Where the excerpt sits on hg38 chr22 (0-based start).
EXCERPT_OFFSET = 32_000_000
EXCERPT_LENGTH = 300_000


def synthesize_genome(folder: Path, seed: int, length: int = EXCERPT_LENGTH) -> None:
    """Write a synthetic ``>chr22`` FASTA with blocks of varying GC content and repeats."""
    rng = np.random.default_rng(seed)
    block = 5_000
    pieces = []
    for _ in range(int(np.ceil(length / block))):
        gc = float(np.clip(rng.normal(0.42, 0.07), 0.3, 0.65))
        p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
        pieces.append(rng.choice(4, size=block, p=p))
    codes = np.concatenate(pieces)[:length]
    repeat = rng.choice(4, size=300)
    for start in rng.integers(0, length - 300, 40):
        codes[start : start + 300] = repeat
    sequence = "".join(np.array(list("ACGT"))[codes])
    write_fasta(folder / GENOME_FILE, ["chr22"], [sequence])


def _load(folder: Path) -> Genome:
    return Genome(folder / GENOME_FILE)


GENOME_EXCERPT = register(
    DataSet(
        name="hg38_chr22_excerpt",
        description="hg38 chr22:32,000,000-32,300,000 (300,000 bp, one record '>chr22', no N)",
        files=(
            RemoteFile(
                GENOME_FILE,
                (
                    f"https://raw.githubusercontent.com/kipoi/kipoiseq/{_COMMIT}/tests/data/{GENOME_FILE}",
                ),
                "d5c82d841fcfb4324334d28019fa39d35e7deb63bf52bf955a77cb52214177ee",
            ),
        ),
        licence="MIT (kipoiseq test data); the hg38 sequence itself is public domain",
        redistributable=True,
        citation=(
            "Schneider VA et al. Evaluation of GRCh38 and de novo haploid genome assemblies. "
            "Genome Research 27, 849-864 (2017). Excerpt from the kipoiseq test data."
        ),
        schema="one FASTA record '>chr22', 300,000 bp",
        synthesize=synthesize_genome,
        loader=_load,
        shared_subdir="genome",
        homepage="https://github.com/kipoi/kipoiseq",
    )
)
