"""The PUM2 and genome-excerpt registrations: real files and synthetic stand-ins.

Real files come from ``../shared/data`` (present in CI) through ``registry.seed_from`` into a
temporary cache; the synthetic stand-ins are built in an empty one.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from course_lib import registry
from course_lib.datasets.genome import EXCERPT_LENGTH, GENOME_FILE
from course_lib.datasets.pum2 import (
    NEGATIVES,
    POSITIVES,
    PUM2_MOTIF_REGEX,
    BindingSites,
    load_binding_sites,
)
from course_lib.fasta import Genome, read_fasta

GENOME = "hg38_chr22_excerpt"


def motif_fraction(sequences: list[str], pattern: str = PUM2_MOTIF_REGEX) -> float:
    motif = re.compile(pattern)
    return float(np.mean([bool(motif.search(s)) for s in sequences]))


def check_pum2_schema(sites: BindingSites) -> None:
    assert isinstance(sites, BindingSites) and len(sites) == 6000
    assert sites.labels.dtype == np.int64 and sites.labels.tolist() == [1] * 3000 + [0] * 3000
    assert {len(s) for s in sites.sequences} == {81}
    assert set("".join(sites.sequences)) <= set("ACGT")  # U read as T
    assert all(n.startswith("pos:") for n in sites.names[:3000])
    assert all(n.startswith("neg:") for n in sites.names[3000:])
    assert sites.n_skipped_with_n == {"positives": 0, "negatives": 0}


def check_rna_files(folder) -> None:
    for filename in (POSITIVES, NEGATIVES):
        raw = read_fasta(folder / filename)
        assert len(raw) == 3000 and {len(s) for s in raw.sequences} == {81}
        assert set("".join(raw.sequences)) <= set("ACGU")  # the files hold RNA


# ---------------------------------------------------------------- real files


def test_real_pum2_from_shared_data(tmp_data_dir, shared_data):
    folder = registry.seed_from("pum2", shared_data)
    assert folder == tmp_data_dir / "pum2"
    loaded = registry.load("pum2", fallback="error")
    assert loaded.provenance == "real" and loaded.folder == folder
    check_pum2_schema(loaded.data)
    check_rna_files(folder)
    positives, negatives = loaded.data.sequences[:3000], loaded.data.sequences[3000:]
    # facts measured on these files (shared/data/README.md): UGUA.AUA in 35.9% / 1.0%
    assert motif_fraction(positives, "TGTA.ATA") == pytest.approx(0.359, abs=0.001)
    assert motif_fraction(negatives, "TGTA.ATA") == pytest.approx(0.010, abs=0.001)
    # the stricter UGUAHAUA: 1016 of 3000 positives, 24 of 3000 negatives
    assert motif_fraction(positives) == pytest.approx(1016 / 3000)
    assert motif_fraction(negatives) == pytest.approx(24 / 3000)
    assert loaded.data.in_both == []


def test_real_genome_excerpt_from_shared_data(tmp_data_dir, shared_data):
    folder = registry.seed_from(GENOME, shared_data)
    loaded = registry.load(GENOME, fallback="error")
    assert loaded.provenance == "real" and loaded.folder == folder == tmp_data_dir / GENOME
    genome = loaded.data
    assert isinstance(genome, Genome)
    assert genome.chromosomes == {"chr22": 300_000} and EXCERPT_LENGTH == 300_000
    sequence = genome.fetch("chr22", 0, 300_000)
    assert set(sequence) <= set("ACGT")  # no N
    first_line = (shared_data / "genome" / GENOME_FILE).read_text().splitlines()[1]
    assert genome.fetch("chr22", 0, len(first_line)) == first_line
    assert (folder / (GENOME_FILE + ".fai")).exists()  # indexed in the cache, not in shared


# ---------------------------------------------------------------- synthetic stand-ins


def test_synthetic_pum2_schema_and_planted_motif(tmp_data_dir):
    loaded = registry.load("pum2")
    assert loaded.provenance == "synthetic"
    assert loaded.folder == tmp_data_dir / "synthetic" / "pum2"
    check_pum2_schema(loaded.data)
    check_rna_files(loaded.folder)
    assert motif_fraction(loaded.data.sequences[:3000]) == 1.0
    assert motif_fraction(loaded.data.sequences[3000:]) == 0.0
    with pytest.raises(registry.DataUnavailableError):
        registry.load("pum2", fallback="error")


@pytest.mark.parametrize("seed", [15, 28])
def test_synthetic_pum2_negatives_never_hold_the_motif(tmp_path, seed):
    # these seeds draw backgrounds like UGUAUAUAUA, where one rewriting pass is not enough
    from course_lib.datasets.pum2 import synthesize_pum2

    synthesize_pum2(tmp_path, seed)
    sites = load_binding_sites(tmp_path / POSITIVES, tmp_path / NEGATIVES)
    assert motif_fraction(sites.sequences[3000:]) == 0.0
    assert motif_fraction(sites.sequences[:3000]) == 1.0


def test_synthetic_genome_excerpt_schema(tmp_data_dir):
    loaded = registry.load(GENOME)
    assert loaded.provenance == "synthetic"
    genome = loaded.data
    assert genome.chromosomes == {"chr22": 300_000}
    assert [r.name for r in read_fasta(loaded.folder / GENOME_FILE).records] == ["chr22"]
    sequence = genome.fetch("chr22", 0, 300_000)
    assert set(sequence) == set("ACGT")
    gc = np.mean([base in "GC" for base in sequence])
    assert 0.35 < gc < 0.5  # human-like GC content


@pytest.mark.parametrize("name", ["pum2", GENOME])
def test_registration_metadata(name):
    dataset = registry.get(name)
    assert dataset.licence.startswith("MIT") and dataset.citation and dataset.schema
    for remote in dataset.files:
        assert re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
        assert remote.urls[0].startswith("https://raw.githubusercontent.com/")
    assert dataset.shared_subdir in {"pum2", "genome"}


# ---------------------------------------------------------------- load_binding_sites


def test_load_binding_sites_on_small_files(tmp_path):
    pos = tmp_path / "pos.fa"
    neg = tmp_path / "neg.fa"
    pos.write_text(">p1\nUGUAAAUA\n>p2\nACGN\n>p3\nGGCC\n")
    neg.write_text(">n1\nggcc\n>n2\nACGU\nAC\n")
    sites = load_binding_sites(pos, neg)
    assert sites.sequences == ["TGTAAATA", "GGCC", "GGCC", "ACGTAC"]
    assert sites.labels.tolist() == [1, 1, 0, 0]
    assert sites.names == ["pos:p1", "pos:p3", "neg:n1", "neg:n2"]
    assert sites.n_skipped_with_n == {"positives": 1, "negatives": 0}
    assert sites.in_both == ["GGCC"]
    assert sites.summary() == (
        "2 positives, 2 negatives; skipped for N: positives 1, negatives 0; "
        "sequences in both files: 1"
    )
    assert re.search(PUM2_MOTIF_REGEX, sites.sequences[0])
