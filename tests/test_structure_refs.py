"""The ``utr_mfe`` and ``utrlm_sample`` registrations: real files, tiny files, bad headers."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_lib import registry
from course_lib.datasets.structure_refs import (
    UTR_MFE,
    UTR_MFE_FILE,
    UTRLM_SAMPLE,
    UTRLM_SAMPLE_FILE,
    UTRLMHeaderError,
    load_utr_mfe,
    load_utrlm_records,
    parse_utrlm_header,
)
from course_lib.fasta import FastaFormatError
from course_lib.tables import TableFormatError


def write_tiny_utr_mfe(path: Path) -> Path:
    """Three rows in Smart5UTR's layout (unnamed index, lower case, a U)."""
    path.write_text(
        ",utr,total,rl,energy_5utr\n"
        "0,GGGGAAACCCC,0.001,5.5,-3.4\n"
        "1,acgtacgtac,0.002,2.6,0.0\n"
        "2,GGGCUUUGCCC,0.003,4.1,-2.1\n"
    )
    return path


def write_tiny_utrlm(path: Path, headers: list[str], seqs: list[str]) -> Path:
    path.write_text("".join(f">{h}\n{s}\n" for h, s in zip(headers, seqs, strict=True)))
    return path


# ---------------------------------------------------------------- real files


def test_real_utr_mfe_from_shared_data(tmp_data_dir, shared_data):
    folder = registry.seed_from(UTR_MFE, shared_data)
    assert folder == tmp_data_dir / UTR_MFE
    loaded = registry.load(UTR_MFE, fallback="error")
    assert loaded.provenance == "real"
    table = loaded.data
    assert list(table.columns) == ["utr", "rl", "energy_5utr"] and len(table) == 20_000
    assert table["utr"].str.len().eq(50).all() and table["utr"].is_unique
    assert set("".join(table["utr"])) <= set("ACGT")
    assert (table["energy_5utr"] <= 0).all()
    assert table["energy_5utr"].iloc[0] == pytest.approx(-11.2)


def test_real_utrlm_sample_from_shared_data(tmp_data_dir, shared_data):
    registry.seed_from(UTRLM_SAMPLE, shared_data)
    records = registry.load(UTRLM_SAMPLE, fallback="error").data
    assert len(records) == 500 and records["sequence"].is_unique
    lengths = records["sequence"].str.len()
    assert (lengths.min(), lengths.max()) == (30, 722)
    assert (records["structure"].str.len() == lengths).all()
    assert records["source"].value_counts().to_dict() == {"FiveSpecies": 391, "Cao": 109}
    assert records.loc[0, "mfe"] == pytest.approx(-11.3)
    assert records.loc[1, "label"] == "human"


def test_data_scripts_seed_copies_both_from_shared(tmp_data_dir, shared_data, capsys):
    """``data_scripts seed`` (and ``prepare --shared``) find them through ``shared_subdir``."""
    from data_scripts.__main__ import main

    assert not any(registry.is_real_available(n) for n in (UTR_MFE, UTRLM_SAMPLE))
    assert main(["seed", str(shared_data)]) == 0
    out = capsys.readouterr().out
    for name in (UTR_MFE, UTRLM_SAMPLE):
        assert f"{name}: seeded real files" in out
        assert registry.is_real_available(name)


# ---------------------------------------------------------------- tiny files


def test_tiny_utr_mfe_read_the_way_it_comes(tmp_path, capsys):
    table = load_utr_mfe(write_tiny_utr_mfe(tmp_path / UTR_MFE_FILE))
    assert table["utr"].tolist() == ["GGGGAAACCCC", "ACGTACGTAC", "GGGCTTTGCCC"]
    assert table["energy_5utr"].tolist() == [-3.4, 0.0, -2.1]
    assert "left out 2 unused columns" in capsys.readouterr().out


def test_utr_mfe_without_energy_column_names_it(tmp_path):
    path = tmp_path / UTR_MFE_FILE
    path.write_text(",utr,rl\n0,ACGT,1.0\n")
    with pytest.raises(TableFormatError, match="energy_5utr"):
        load_utr_mfe(path)


def test_tiny_utrlm_records(tmp_path):
    path = write_tiny_utrlm(
        tmp_path / UTRLM_SAMPLE_FILE,
        ["-1.20|((...))|Cao|1.26|1.0", "0|.....|FiveSpecies|mouse|-0.5"],
        ["GGGAAACCC"[:7], "acguu"],
    )
    records = load_utrlm_records(path)
    assert records["sequence"].tolist() == ["GGGAAAC", "ACGTT"]
    assert records["mfe"].tolist() == [-1.2, 0.0]
    assert records["label"].tolist() == ["1.26", "mouse"]  # species or a number, kept as text
    assert records["value"].tolist() == [1.0, -0.5]


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ("-1.2|((...))|Cao|1.26", "4 '|' fields"),
        ("low|((...))|Cao|x|1.0", "MFE 'low' is not a number"),
        ("2.5|((...))|Cao|x|1.0", "positive"),
        ("-1.2|((...)|Cao|x|1.0", "unclosed"),
        ("-1.2|))...((|Cao|x|1.0", "closes no"),
        ("-1.2|[[...]]|Cao|x|1.0", "characters"),
        ("-1.2|((....))|Cao|x|1.0", "8 characters but the sequence 7 nt"),
        ("-1.2|((...))|Cao|x|nan", "finite"),
    ],
)
def test_malformed_header_fails_naming_the_problem(header, match):
    with pytest.raises(UTRLMHeaderError, match=match):
        parse_utrlm_header(header, "GGGAAAC", where="test.fasta, record 1")


def test_malformed_header_in_file_names_the_record(tmp_path):
    path = write_tiny_utrlm(
        tmp_path / "bad.fasta", ["-1.2|((...))|Cao|x|1.0", "-1.2|((...))|Cao|x"], ["GGGAAAC"] * 2
    )
    with pytest.raises(UTRLMHeaderError, match=r"bad.fasta, record 2"):
        load_utrlm_records(path)


def test_utrlm_sequence_with_other_letters_fails(tmp_path):
    path = write_tiny_utrlm(tmp_path / "n.fasta", ["-1.2|((...))|Cao|x|1.0"], ["GGGNAAC"])
    with pytest.raises(FastaFormatError, match=r"\['N'\]"):
        load_utrlm_records(path)


def test_synthetic_stand_ins_have_the_real_layout(tmp_data_dir):
    for name in (UTR_MFE, UTRLM_SAMPLE):
        loaded = registry.load(name)
        assert loaded.provenance == "synthetic"
        assert loaded.folder == tmp_data_dir / "synthetic" / name
    table = registry.load(UTR_MFE).data
    assert list(table.columns) == ["utr", "rl", "energy_5utr"] and len(table) == 500
    records = registry.load(UTRLM_SAMPLE).data
    assert (records["structure"].str.len() == records["sequence"].str.len()).all()


def test_registry_entries_are_pinned_and_checksummed():
    for name in (UTR_MFE, UTRLM_SAMPLE):
        dataset = registry.get(name)
        (remote,) = dataset.files
        assert remote.sha256 and len(remote.sha256) == 64
        (url,) = remote.urls
        assert url.startswith("https://raw.githubusercontent.com/")
        commit = url.split("/")[5]
        assert len(commit) == 40 and all(c in "0123456789abcdef" for c in commit)
        assert dataset.licence and dataset.citation and dataset.schema
