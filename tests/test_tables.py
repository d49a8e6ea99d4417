"""Tests of course_lib.tables: real tables are read the way they come."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from course_lib.datasets import egfp, published_models, structure_refs, utr, utr_testsets
from course_lib.tables import TableFormatError, read_table
from course_lib.utr_corpus import held_out_utrs, read_corpus_sources
from course_lib.utr_protocol import read_varying_testsets

ROWS = [("acgu", 5.1, "random", 0.2), ("CCGG", 4.0, "human", 0.3), ("TTAA", 3.5, "snv", 0.1)]


def write(path, header, rows, sep=",", newline="\n"):
    lines = [sep.join(header)] + [sep.join(map(str, r)) for r in rows]
    text = newline.join(lines) + newline
    if path.suffix == ".gz":
        with gzip.open(path, "wt", newline="") as fh:
            fh.write(text)
    else:
        path.write_bytes(text.encode())
    return path


@pytest.mark.parametrize(
    ("name", "sep", "newline"),
    [
        ("t.csv", ",", "\n"),
        ("t.csv", ",", "\r\n"),
        ("t.tsv", "\t", "\r\n"),
        ("t.csv.gz", ",", "\n"),
    ],
)
def test_extra_columns_other_categories_gzip_crlf_lower_case(tmp_path, capsys, name, sep, newline):
    path = write(
        tmp_path / name,
        ["pred_other", "utr", "set", "rl"],
        [(r[3], r[0], r[2], r[1]) for r in ROWS],
        sep,
        newline,
    )
    read = read_table(
        path, ["utr", "rl", "set"], keep={"set": ("random", "human")}, sequence_columns=["utr"]
    )
    assert list(read.table.columns) == ["utr", "rl", "set"]
    assert read.table["utr"].tolist() == ["ACGT", "CCGG"]
    assert read.table["rl"].tolist() == [5.1, 4.0]
    assert read.dropped_columns == ["pred_other"]
    assert sum(read.dropped_rows.values()) == 1
    out = capsys.readouterr().out
    assert (
        "kept 2 rows" in out
        and "pred_other" in out
        and "1 rows (set not in" in out
        and "snv" in out
    )


def test_gzip_is_recognised_by_content(tmp_path):
    path = write(tmp_path / "t.csv.gz", ["utr", "rl"], [("ACGT", 1.0)])
    renamed = path.rename(tmp_path / "t.csv")
    assert read_table(renamed, ["utr", "rl"], verbose=False).table["rl"].tolist() == [1.0]


def test_missing_column_names_file_column_and_fix(tmp_path):
    path = write(tmp_path / "t.csv", ["utr", "mrl"], [("ACGT", 1.0)])
    with pytest.raises(
        TableFormatError, match=r"t.csv: no column 'rl' .*has \['utr', 'mrl'\]\). rename it"
    ):
        read_table(path, ["utr", "rl"], fix="rename it")


def test_no_rows_left_and_missing_values(tmp_path):
    path = write(
        tmp_path / "t.csv", ["utr", "rl", "set"], [("ACGT", "", "random"), ("ACGT", 2.0, "snv")]
    )
    with pytest.raises(TableFormatError, match="no rows left"):
        read_table(path, ["utr", "rl", "set"], keep={"set": ["random"]})
    read = read_table(path, ["utr", "rl"], verbose=False)
    assert len(read.table) == 1 and read.dropped_rows["missing values"] == 1


def test_empty_or_binary_file_names_the_file_and_the_fix(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"utr,rl\n\xff\xfe,1\n")
    header_only = write(tmp_path / "header.csv", ["utr", "rl"], [])
    for path in (empty, binary):
        with pytest.raises(TableFormatError, match=rf"{path.name}: not a readable.*fetch it"):
            read_table(path, ["utr", "rl"], fix="fetch it")
    with pytest.raises(TableFormatError, match="header.csv: no rows left.*0 rows read"):
        read_table(header_only, ["utr", "rl"])


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file. fetch it"):
        read_table(tmp_path / "absent.csv", ["utr"], fix="fetch it")


# ------------------------------------------------------------------ every loader of a real table
#
# Each loader reads a small file written in the real file's layout (the column names of the
# files in ../shared/data and of the GEO tables), changed the way real copies come: an extra
# column in another order, gzip, Windows line endings, lower-case RNA sequences, another
# library in the category column.


@dataclass(frozen=True)
class Loader:
    """A loader, the file it reads and how to build a small table in that file's layout."""

    file: str
    frame: Callable[[np.random.Generator], pd.DataFrame]
    load: Callable[[Path], object]
    utrs: Callable[[object], list[str]]
    needed: str
    index: bool = True
    category: str | None = None
    sequences: tuple[str, ...] = ("utr",)


def _seqs(rng: np.random.Generator, n: int, length: int) -> list[str]:
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def _egfp_frame(rng):
    frame = pd.DataFrame({"utr": _seqs(rng, 6, 50)})
    for column in egfp.FRACTION_COLUMNS:
        frame[column] = rng.integers(0, 9, len(frame))
    total = frame[list(egfp.FRACTION_COLUMNS)].sum(axis=1)
    return frame.assign(total_reads=total, rl=rng.uniform(2, 8, len(frame)).round(3))


def _varying_frame(rng):
    utrs = _seqs(rng, 3, 25) + _seqs(rng, 3, 40)
    return pd.DataFrame(
        {
            "utr": utrs,
            "set": ["random", "human"] * 3,
            "total_reads": rng.integers(10, 500, 6),
            "rl": rng.uniform(2, 8, 6).round(3),
            "len": [len(u) for u in utrs],
        }
    )


def _mttrans_frame(rng, varying: bool = False):
    utrs = _seqs(rng, 6, 50)
    frame = pd.DataFrame({"utr": utrs, "rl": rng.uniform(2, 8, 6), "pred_stride1113": 5.0})
    if varying:  # the real file: ",Unnamed: 0,utr,rl,pred_stride1113,set"
        frame.insert(0, "Unnamed: 0", range(6))
        frame["set"] = ["random", "human"] * 3
    return frame


def _snv_frame(rng):
    """Two references with two measured variants each (real columns, a few of its 60)."""
    mothers = _seqs(rng, 2, 50)
    utrs = [m for m in mothers] + [m[:9] + "ACGT"[i] + m[10:] for m in mothers for i in (0, 1)]
    refs = mothers + [m for m in mothers for _ in (0, 1)]
    hrl = rng.uniform(3, 7, len(utrs)).round(3)
    ref_hrl = dict(zip(mothers, hrl[:2], strict=True))
    return pd.DataFrame(
        {
            "utr": utrs,
            "total": rng.integers(300, 900, len(utrs)),
            "hrl": hrl,
            "id": [f"id{i}" for i in range(len(utrs))],
            "library": "snv",
            "mother": refs,
            "old_pred_diff": 0.1,
            "obs_diff": [h - ref_hrl[m] for h, m in zip(hrl, refs, strict=True)],
            "gene_symbol": "GENE",
            "clin_sig": "Benign",
        }
    )


def _mfe_frame(rng):
    return pd.DataFrame(
        {"utr": _seqs(rng, 6, 50), "total": 1e-4, "rl": rng.uniform(2, 8, 6), "energy_5utr": -9.0}
    )


def _write_egfp_and_human(folder: Path, rng: np.random.Generator) -> None:
    for name in (utr_testsets.EGFP_TEST, utr_testsets.HUMAN_TEST):
        _mttrans_frame(rng).to_csv(folder / name)


def _load_test_sets(path: Path) -> utr_testsets.TestSets:
    _write_egfp_and_human(path.parent, np.random.default_rng(9))
    return utr_testsets.load_test_sets(path.parent)


def _held(result) -> list[str]:
    return [*result["Random7600"], *result["Human7600"]]


V_FILE = utr_testsets.VARYING_TEST
LOADERS = {
    "egfp.load_egfp": Loader(
        egfp.EGFP_FILE, _egfp_frame, egfp.load_egfp, lambda t: t["utr"].tolist(), "rl"
    ),
    "utr.load_varying_length": Loader(
        utr.VARYING_LENGTH_FILE,
        _varying_frame,
        utr.load_varying_length,
        lambda t: t["utr"].tolist(),
        "total_reads",
        index=False,
        category="set",
    ),
    "utr_testsets.read_mrl_table": Loader(
        utr_testsets.EGFP_TEST,
        _mttrans_frame,
        lambda p: utr_testsets.read_mrl_table(p, optional=(utr_testsets.PEER_COLUMN,)),
        lambda t: t["utr"].tolist(),
        "rl",
    ),
    "utr_testsets.load_test_sets": Loader(
        V_FILE,
        lambda rng: _mttrans_frame(rng, varying=True),
        _load_test_sets,
        lambda t: [*t["Random7600"]["utr"], *t["Human7600"]["utr"]],
        "rl",
        category="set",
    ),
    "published_models.read_snv_table": Loader(
        published_models.SNV_TABLE,
        _snv_frame,
        published_models.read_snv_table,
        lambda t: t["utr"].tolist(),
        "obs_diff",
        category="library",
        sequences=("utr", "mother"),
    ),
    "structure_refs.load_utr_mfe": Loader(
        structure_refs.UTR_MFE_FILE,
        _mfe_frame,
        structure_refs.load_utr_mfe,
        lambda t: t["utr"].tolist(),
        "energy_5utr",
    ),
    "utr_corpus.held_out_utrs": Loader(
        V_FILE,
        lambda rng: _mttrans_frame(rng, varying=True),
        lambda path: held_out_utrs(_load_test_sets(path)),
        _held,
        "set",
        category="set",
    ),
    "utr_protocol.read_varying_testsets": Loader(
        V_FILE,
        lambda rng: _mttrans_frame(rng, varying=True),
        read_varying_testsets,
        lambda t: t["utr"].tolist(),
        "rl",
        category="set",
    ),
}
WAYS = ("as is", "extra column, other order", "gzip", "crlf", "lower-case rna", "other library")
#: (loader, way): "other library" only for the layouts with a category column.
CASES = [
    (name, way)
    for name, spec in LOADERS.items()
    for way in WAYS
    if way != "other library" or spec.category
]


def _expected_utrs(spec: Loader, frame: pd.DataFrame) -> list[str]:
    """What the loader should return when it reads ``frame`` as is (here, sorted)."""
    if spec.file == published_models.SNV_TABLE:
        return sorted(frame.loc[frame["utr"] != frame["mother"], "utr"])
    return sorted(frame["utr"])


def _changed(spec: Loader, frame: pd.DataFrame, way: str, rng) -> pd.DataFrame:
    """``frame`` as a real copy may come (``way``); the kept rows stay the same."""
    if way == "extra column, other order":
        frame = frame.assign(other_model=1.5)
        return frame[list(rng.permutation(frame.columns))]
    if way == "lower-case rna":
        lower = {c: frame[c].str.lower().str.replace("t", "u") for c in spec.sequences}
        return frame.assign(**lower)
    if way == "other library":
        other = frame.head(2).assign(**{spec.category: "designed"}, utr=_seqs(rng, 2, 50))
        return pd.concat([frame, other], ignore_index=True)
    return frame


def _write_table(spec: Loader, frame: pd.DataFrame, folder: Path, way: str = "as is") -> Path:
    text = frame.to_csv(index=spec.index)
    if way == "crlf":
        text = text.replace("\n", "\r\n")
    data = gzip.compress(text.encode()) if way == "gzip" else text.encode()
    path = folder / spec.file
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("name", "way"), CASES)
def test_every_loader_reads_real_layouts_the_way_they_come(tmp_path, capsys, name, way):
    spec = LOADERS[name]
    rng = np.random.default_rng(0)
    frame = spec.frame(rng)
    path = _write_table(spec, _changed(spec, frame, way, rng), tmp_path, way)
    utrs = spec.utrs(spec.load(path))
    assert sorted(utrs) == _expected_utrs(spec, frame)
    out = capsys.readouterr().out
    assert f"{spec.file}: kept" in out
    if way == "extra column, other order":
        assert "other_model" in out
    if way == "other library":
        assert f"2 rows ({spec.category} not in" in out and "'designed'" in out


@pytest.mark.parametrize("name", LOADERS)
def test_every_loader_names_file_and_column_when_one_is_missing(tmp_path, name):
    spec = LOADERS[name]
    frame = spec.frame(np.random.default_rng(1)).drop(columns=spec.needed)
    path = _write_table(spec, frame, tmp_path)
    with pytest.raises(TableFormatError, match=f"{spec.file}: no column '{spec.needed}'.*fetch"):
        spec.load(path)


@pytest.mark.parametrize("name", LOADERS)
def test_every_loader_fails_when_no_row_is_left(tmp_path, name):
    spec = LOADERS[name]
    frame = spec.frame(np.random.default_rng(2))
    column, value = (spec.category, "designed") if spec.category else (spec.needed, "")
    spoiled = frame.assign(**{column: value})
    path = _write_table(spec, spoiled, tmp_path)
    with pytest.raises(TableFormatError, match=f"{spec.file}: no rows left.*fetch"):
        spec.load(path)


def test_egfp_cuts_to_50_nt_before_dropping_other_letters(tmp_path, capsys):
    spec = LOADERS["egfp.load_egfp"]
    frame = _egfp_frame(np.random.default_rng(3))
    frame.loc[0, "utr"] = frame.loc[0, "utr"] + "NNNN"  # N after nt 50: kept, cut
    frame.loc[1, "utr"] = "N" + frame.loc[1, "utr"][1:]  # N inside: left out
    table = egfp.load_egfp(_write_table(spec, frame, tmp_path))
    assert table["utr"].tolist() == [frame.loc[0, "utr"][:50], *frame["utr"][2:]]
    assert "1 rows (utr holds letters other than ACGT)" in capsys.readouterr().out


def test_varying_length_keeps_whole_number_columns_whole(tmp_path):
    spec = LOADERS["utr.load_varying_length"]
    frame = _varying_frame(np.random.default_rng(4))
    table = utr.load_varying_length(_write_table(spec, frame, tmp_path), verbose=False)
    assert table["len"].dtype == np.int64 and table["total_reads"].dtype == np.int64
    assert table["rl"].tolist() == frame["rl"].tolist()


def test_numeric_columns_leave_text_rows_out_and_say_so(tmp_path, capsys):
    path = write(
        tmp_path / "t.csv", ["utr", "rl", "peer"], [("ACGT", 1.5, "x"), ("CCGG", "about 3", 2.0)]
    )
    read = read_table(path, ["utr", "rl"], optional=["peer", "absent"], numeric=["rl", "peer"])
    assert read.table["utr"].tolist() == ["ACGT"] and list(read.table.columns) == [
        "utr",
        "rl",
        "peer",
    ]
    assert np.isnan(read.table["peer"][0])  # optional column: the value, not the row, goes
    assert read.dropped_rows["rl not a number"] == 1
    assert "1 rows (rl not a number)" in capsys.readouterr().out


# ------------------------------------------------------------------ the real files, unchanged


def test_real_tables_read_the_same_rows_as_before(shared_data, capsys):
    """Row counts measured with the loaders before they read through read_table."""
    sets = utr_testsets.load_test_sets(shared_data / "utr_testsets")
    assert sets.sizes() == {
        "eGFP 20k": 20_000,
        "Human 25k": 25_000,
        "Random7600": 7_600,
        "Human7600": 7_600,
    }
    snvs = published_models.read_snv_table(shared_data / "optimus" / published_models.SNV_TABLE)
    mfe = structure_refs.load_utr_mfe(shared_data / "utr_mfe" / structure_refs.UTR_MFE_FILE)
    varying = read_varying_testsets(shared_data / "utr_testsets" / V_FILE)
    assert (len(snvs), len(mfe), len(varying)) == (1_996, 20_000, 15_200)
    assert list(sets["eGFP 20k"].columns) == ["utr", "rl", utr_testsets.PEER_COLUMN]
    sources = read_corpus_sources(shared_data)
    assert {k: len(v) for k, v in sources.items()} == {
        "designed human library": 25_000,
        "ClinVar SNV alleles": 3_002,
        "eGFP library": 20_000,
        "m1Ψ eGFP library": 20_000,
    }
    out = capsys.readouterr().out
    assert f"{V_FILE}: kept 15,200 rows" in out and "['Unnamed: 0.1', 'Unnamed: 0']" in out
    assert "snv_phenotype_log_diff.csv: kept 3,002 rows" in out
