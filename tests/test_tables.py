"""Tests of course_lib.tables: real tables are read the way they come."""

from __future__ import annotations

import gzip

import pytest

from course_lib.tables import TableFormatError, read_table

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


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file. fetch it"):
        read_table(tmp_path / "absent.csv", ["utr"], fix="fetch it")
