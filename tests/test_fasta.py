"""Tests of course_lib.fasta: reading FASTA files and random access to small genomes."""

from __future__ import annotations

import gzip
import os
import re

import numpy as np
import pytest

from course_lib.fasta import FastaFormatError, Genome, read_fasta, write_fasta

MULTI_LINE = """>seq1 first record
ACGT
acgt
;a comment line
>seq2
GGGG

>seq3 RNA record
ACGU
U
"""


def test_read_plain_multi_line_records(tmp_path):
    path = tmp_path / "plain.fa"
    path.write_text(MULTI_LINE)
    result = read_fasta(path)
    assert result.names == ["seq1", "seq2", "seq3"]
    assert result.sequences == ["ACGTACGT", "GGGG", "ACGUU"]
    assert result.records[0].description == "first record"
    assert result.n_skipped_with_n == 0 and len(result) == 3


def test_read_gzipped_detected_from_content(tmp_path):
    plain = tmp_path / "plain.fa"
    plain.write_text(MULTI_LINE)
    for name in ("records.fa.gz", "records_without_suffix.fa"):
        with gzip.open(tmp_path / name, "wt") as fh:
            fh.write(MULTI_LINE)
        assert read_fasta(tmp_path / name).records == read_fasta(plain).records


def test_options_lowercase_and_to_dna(tmp_path):
    path = tmp_path / "x.fa"
    path.write_text(">a\nacgu\n")
    assert read_fasta(path, uppercase=False).sequences == ["acgu"]
    assert read_fasta(path, to_dna=True).sequences == ["ACGT"]


def test_skip_n_counts_skipped_records(tmp_path):
    path = tmp_path / "n.fa"
    path.write_text(">a\nACGT\n>b\nACNT\n>c\nGG\n>d\nnnAC\n")
    assert read_fasta(path).names == ["a", "b", "c", "d"]
    result = read_fasta(path, skip_n=True)
    assert result.names == ["a", "c"]
    assert result.n_skipped_with_n == 2


def test_duplicate_headers_raise(tmp_path):
    path = tmp_path / "dup.fa"
    path.write_text(">a\nACGT\n>b\nAC\n>a other description\nGG\n")
    with pytest.raises(FastaFormatError, match=r"duplicate record name 'a' \(lines 1 and 5\)"):
        read_fasta(path)


def test_empty_file_raises(tmp_path):
    for text in ("", "\n\n  \n"):
        path = tmp_path / "empty.fa"
        path.write_text(text)
        with pytest.raises(FastaFormatError, match="no FASTA records found"):
            read_fasta(path)


def test_text_before_header_raises(tmp_path):
    path = tmp_path / "bad.fa"
    path.write_text("ACGT\n>a\nACGT\n")
    with pytest.raises(FastaFormatError, match="line 1 holds sequence before any '>' header"):
        read_fasta(path)


def test_record_without_sequence(tmp_path):
    path = tmp_path / "hollow.fa"
    path.write_text(">a\n>b\nAC\n")
    with pytest.raises(FastaFormatError, match="record 'a' at line 1 has no sequence"):
        read_fasta(path)
    assert read_fasta(path, allow_empty_records=True).sequences == ["", "AC"]


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="FASTA file not found"):
        read_fasta(tmp_path / "missing.fa")
    binary = tmp_path / "binary.fa"
    binary.write_bytes(b">a\n\xff\xfe\x00\x01\n")
    with pytest.raises(FastaFormatError, match="not a text FASTA file"):
        read_fasta(binary)
    assert issubclass(FastaFormatError, ValueError)


def test_write_fasta_round_trip_and_line_width(tmp_path):
    path = write_fasta(tmp_path / "sub" / "out.fa", ["x", "y"], ["A" * 25, "CG"], width=10)
    assert path.read_text().splitlines() == [">x", "A" * 10, "A" * 10, "A" * 5, ">y", "CG"]
    assert read_fasta(path).sequences == ["A" * 25, "CG"]
    with pytest.raises(ValueError, match="2 names but 1 sequences"):
        write_fasta(tmp_path / "bad.fa", ["x", "y"], ["A"])


# ---------------------------------------------------------------- Genome


@pytest.fixture
def genome_seqs():
    rng = np.random.default_rng(0)
    chr1 = "".join(rng.choice(list("ACGT"), 1000))
    chr2 = "".join(rng.choice(list("ACGT"), 400))
    return {"chr1": chr1, "chr2": chr2}


@pytest.fixture
def genome(tmp_path, genome_seqs):
    path = write_fasta(tmp_path / "genome.fa", list(genome_seqs), list(genome_seqs.values()))
    return Genome(path)


def test_genome_chromosomes_and_fetch(genome, genome_seqs):
    assert genome.chromosomes == {"chr1": 1000, "chr2": 400}
    assert genome.fetch("chr1", 55, 185) == genome_seqs["chr1"][55:185]  # spans 60-nt lines
    assert genome.fetch("chr2", 0, 400) == genome_seqs["chr2"]
    with pytest.raises(ValueError, match="outside 0..400"):
        genome.fetch("chr2", 390, 401)
    with pytest.raises(ValueError, match="outside"):
        genome.fetch("chr2", 10, 10)
    with pytest.raises(KeyError, match="chromosome 'chrX' not in genome.fa"):
        genome.fetch("chrX", 0, 10)


def test_genome_soft_masked_is_upper_case(tmp_path):
    genome = Genome(write_fasta(tmp_path / "soft.fa", ["c"], ["ACGTacgtNn"]))
    assert genome.fetch("c", 0, 10) == "ACGTACGTNN"


def test_genome_rebuilds_a_stale_index(tmp_path):
    path = write_fasta(tmp_path / "g.fa", ["c"], ["AAAA"])
    assert Genome(path).fetch("c", 0, 4) == "AAAA"
    write_fasta(path, ["c", "d"], ["CCCCCC", "GG"])
    index_time = os.stat(str(path) + ".fai").st_mtime
    os.utime(path, (index_time + 10, index_time + 10))  # the FASTA is newer than its index
    genome = Genome(path)
    assert genome.chromosomes == {"c": 6, "d": 2}
    assert genome.fetch("c", 0, 6) == "CCCCCC"


def test_genome_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        Genome(tmp_path / "none.fa")
    ragged = tmp_path / "ragged.fa"
    ragged.write_text(">c\nACGT\nAC\nACGT\n")
    with pytest.raises(FastaFormatError, match="cannot index"):
        Genome(ragged)


def test_sample_windows_respect_disjoint_regions(genome, genome_seqs):
    rng = np.random.default_rng(1)
    train_regions = {"chr1": (0, 600)}
    val_regions = {"chr1": (600, 1000), "chr2": (100, 400)}
    train = genome.sample_windows(50, 100, rng, chromosomes=train_regions)
    val = genome.sample_windows(200, 100, rng, chromosomes=val_regions)
    assert len(train) == 50 and len(val) == 200
    for windows, regions in ((train, train_regions), (val, val_regions)):
        for chrom, start, seq in windows:
            lo, hi = regions[chrom]
            assert lo <= start and start + 100 <= hi
            assert seq == genome_seqs[chrom][start : start + 100]
    assert {chrom for chrom, _, _ in val} == {"chr1", "chr2"}  # both regions are drawn
    train_bases = {(c, s + i) for c, s, _ in train for i in range(100)}
    val_bases = {(c, s + i) for c, s, _ in val for i in range(100)}
    assert not train_bases & val_bases


def test_sample_windows_repeatable_and_default_regions(genome):
    first = genome.sample_windows(20, 50, np.random.default_rng(3))
    assert first == genome.sample_windows(20, 50, np.random.default_rng(3))
    assert {c for c, _, _ in first} <= {"chr1", "chr2"}
    with pytest.raises(ValueError, match="no region is at least 500 bp long"):
        genome.sample_windows(1, 500, np.random.default_rng(0), chromosomes={"chr2": (0, 400)})


def test_sample_windows_reject_n_rich_windows(tmp_path):
    rng = np.random.default_rng(0)
    half = "".join(rng.choice(list("ACGT"), 500))
    genome = Genome(write_fasta(tmp_path / "n.fa", ["c", "gap"], ["N" * 500 + half, "N" * 300]))
    windows = genome.sample_windows(100, 50, rng, chromosomes={"c": (0, 1000)}, max_n=5)
    assert len(windows) == 100
    assert all(seq.count("N") <= 5 for _, _, seq in windows)
    assert all(start >= 500 - 5 for _, start, _ in windows)
    with pytest.raises(RuntimeError, match="could not find 3 windows with at most 10 N"):
        genome.sample_windows(3, 50, rng, chromosomes={"gap": (0, 300)}, max_tries=5)


# ------------------------------------------- genome files the way they come (issue 13)


def _soft_masked(n: int = 250) -> str:
    return "".join(np.random.default_rng(5).choice(list("ACGTacgt"), n))


def _lines(seq: str, width: int = 60) -> list[str]:
    return [seq[i : i + width] for i in range(0, len(seq), width)]


def test_read_fasta_windows_line_endings_and_lower_case(tmp_path):
    seq = _soft_masked()
    path = tmp_path / "crlf.fa"
    path.write_bytes((">a desc\r\n" + "\r\n".join(_lines(seq)) + "\r\n").encode())
    result = read_fasta(path)
    assert result.sequences == [seq.upper()] and result.records[0].description == "desc"


def test_genome_reads_crlf_lower_case_files(tmp_path):
    seq = _soft_masked()
    path = tmp_path / "crlf.fa"
    path.write_bytes((">c\r\n" + "\r\n".join(_lines(seq)) + "\r\n").encode())
    genome = Genome(path)
    assert genome.chromosomes == {"c": 250}
    assert genome.fetch("c", 50, 190) == seq.upper()[50:190]  # spans CRLF line breaks


def test_genome_reads_plain_gzip_through_a_copy(tmp_path, capsys):
    seq = _soft_masked()
    path = tmp_path / "genome.fa.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(">c\n" + "\n".join(_lines(seq)) + "\n")
    genome = Genome(path)
    assert genome.fetch("c", 0, 250) == seq.upper()
    assert "is gzipped" in capsys.readouterr().out
    copy = tmp_path / "genome.fa.gz.plain.fa"
    assert copy.exists()
    assert Genome(path).fetch("c", 10, 20) == seq.upper()[10:20]  # reuses the copy
    assert "is gzipped" not in capsys.readouterr().out


def test_genome_gzip_in_a_read_only_folder_uses_the_temporary_folder(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "g.fa.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(">c\nACGTACGT\n")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write into read-only folders")
        assert Genome(path).fetch("c", 0, 8) == "ACGTACGT"
        assert (tmp_path / "tmp" / "course_lib_genomes" / "g.fa.gz.plain.fa").exists()
    finally:
        folder.chmod(0o755)


def test_genome_ragged_file_error_names_the_fix(tmp_path):
    ragged = tmp_path / "ragged.fa"
    ragged.write_text(">c\nACGT\nAC\nACGT\n")
    with pytest.raises(FastaFormatError, match="ragged.fa: cannot index.*write_fasta"):
        Genome(ragged)


# ------------------------------------------------------------------ every FASTA loader
#
# The pum2 pair, UTR-LM's pretraining records and the genome excerpt, each written in the
# real file's layout (see ../shared/data/README.md) and changed the way real copies come.

PUM2_RECORDS = {"PARCLIP_PUM2_pos_829": "UUGUUUCCCCUUAGUAUGUG", "PARCLIP_PUM2_pos_9": "ACGUAC"}
UTRLM_RECORDS = {"-1.20|((...))|Cao|1.26|1.0": "GGGAAAC", "0|.....|FiveSpecies|mouse|-0.5": "ACGUU"}


def _fasta_bytes(records: dict[str, str], way: str) -> bytes:
    newline = "\r\n" if way == "crlf" else "\n"
    lines = []
    for name, seq in records.items():
        lines += [f">{name}", *(seq[i : i + 4] for i in range(0, len(seq), 4))]
    text = newline.join(lines) + newline
    text = text.lower() if way == "lower case" else text
    return gzip.compress(text.encode()) if way == "gzip" else text.encode()


def _load_pum2(path):
    from course_lib.datasets.pum2 import load_binding_sites

    return load_binding_sites(path, path).sequences[: len(PUM2_RECORDS)]


def _load_utrlm(path):
    from course_lib.datasets.structure_refs import load_utrlm_records

    return load_utrlm_records(path)["sequence"].tolist()


FASTA_LOADERS = {
    "pum2.load_binding_sites": (PUM2_RECORDS, _load_pum2, "PUM2_PARCLIP.positives.fa"),
    "structure_refs.load_utrlm_records": (UTRLM_RECORDS, _load_utrlm, "test.fasta"),
    "Genome": (
        {"chr22": "ACGTacgtNNACGTACGTAC", "chr21": "GGGGCCCC"},
        lambda p: [Genome(p).fetch(c, 0, n) for c, n in (("chr22", 20), ("chr21", 8))],
        "hg38_chr22_32000000_32300000.fa",
    ),
}


@pytest.mark.parametrize("way", ["as is", "crlf", "lower case", "gzip"])
@pytest.mark.parametrize("name", FASTA_LOADERS)
def test_every_fasta_loader_reads_files_the_way_they_come(tmp_path, name, way):
    records, load, file = FASTA_LOADERS[name]
    path = tmp_path / file
    if name.startswith("structure_refs") and way == "lower case":  # headers keep their case
        lower = {header: seq.lower() for header, seq in records.items()}
        path.write_bytes(_fasta_bytes(lower, "as is"))
    else:
        path.write_bytes(_fasta_bytes(records, way))
    expected = [seq.upper() for seq in records.values()]
    if name != "Genome":
        expected = [seq.replace("U", "T") for seq in expected]
    assert load(path) == expected


@pytest.mark.parametrize("name", FASTA_LOADERS)
def test_every_fasta_loader_names_a_duplicated_record_and_the_fix(tmp_path, name):
    records, load, file = FASTA_LOADERS[name]
    first = next(iter(records))
    path = tmp_path / file
    path.write_bytes(_fasta_bytes(records, "as is") + f">{first}\nACGU\n".encode())
    with pytest.raises(FastaFormatError, match=rf"{file}: .*{re.escape(first)}.*(rename|unique)"):
        load(path)


@pytest.mark.parametrize("name", FASTA_LOADERS)
def test_every_fasta_loader_names_an_empty_record_and_the_fix(tmp_path, name):
    records, load, file = FASTA_LOADERS[name]
    path = tmp_path / file
    path.write_bytes(b">empty_one\n" + _fasta_bytes(records, "as is"))
    with pytest.raises(FastaFormatError, match=rf"{file}: record 'empty_one'.*remove the record"):
        load(path)


def test_empty_header_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "x.fa"
    path.write_text(">a\nACGT\n>\nACGT\n")
    with pytest.raises(FastaFormatError, match="empty header at line 3.*name the record"):
        read_fasta(path)
