"""Read a real table the way it comes: keep what a chapter uses, say what was left out.

Real files hold more than a chapter needs: other libraries in a ``set`` column, another
model's predictions in extra columns, another column order, gzip, Windows line endings,
lower-case sequences. :func:`read_table` accepts all of that, keeps the columns and rows the
chapter asks for, prints one line saying what it left out, and fails only on what makes the
file unusable (a needed column missing, no rows left) with a message naming the file, the
column and the fix. Every loader of a real table in the registry reads through it (the
eGFP and varying-length libraries, the MTtrans test sets, the ClinVar SNV table, Smart5UTR's
MFE table, the pretraining corpus sources); FASTA files go through
:func:`course_lib.fasta.read_fasta`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from course_lib.encoding import to_dna
from course_lib.fasta import is_gzip
from course_lib.registry import DataError


class TableFormatError(DataError, ValueError):
    """A table that cannot serve the chapter: a needed column is missing or no rows remain."""


@dataclass(frozen=True)
class TableRead:
    """What :func:`read_table` kept and left out of one file.

    Attributes
    ----------
    table
        The kept rows, with the requested columns in the requested order.
    path
        The file read.
    dropped_columns
        Columns of the file the chapter does not use.
    dropped_rows
        ``{reason: number of rows}`` for rows left out (other category values, missing values).
    """

    table: pd.DataFrame
    path: Path
    dropped_columns: list[str] = field(default_factory=list)
    dropped_rows: dict[str, int] = field(default_factory=dict)

    def report(self) -> str:
        """One line: rows and columns kept, and what was left out."""
        kept = (
            f"{self.path.name}: kept {len(self.table):,} rows, columns {list(self.table.columns)}"
        )
        left = []
        if self.dropped_columns:
            left.append(f"{len(self.dropped_columns)} unused columns {self.dropped_columns}")
        left += [f"{n:,} rows ({why})" for why, n in self.dropped_rows.items() if n]
        return kept + ("; left out " + ", ".join(left) if left else "")


def _fix_hint(path: Path, fix: str | None) -> str:
    return fix or f"check that {path} is the registered file (python -m data_scripts list)"


def _read_raw(path: Path, fix: str | None) -> pd.DataFrame:
    """The whole file as read, columns stripped; gzip by content, tab or comma by header."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file. {_fix_hint(path, fix)}")
    compression = "gzip" if is_gzip(path) else None
    with pd.io.common.get_handle(path, "r", compression=compression, errors="replace") as handle:
        first_line = handle.handle.readline()
    sep = "\t" if "\t" in first_line else ","
    try:
        raw = pd.read_csv(path, sep=sep, compression=compression)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise TableFormatError(
            f"{path}: not a readable CSV/TSV table ({err}). {_fix_hint(path, fix)}"
        ) from err
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw


def require_columns(
    frame: pd.DataFrame, needed: Sequence[str], where: str | Path, fix: str | None = None
) -> None:
    """Raise :class:`TableFormatError` when one of ``needed`` is not a column of ``frame``.

    ``where`` names the table (its file) in the message, ``fix`` what to do about it; the
    loaders' own checks of a table handed to them use it too.
    """
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise TableFormatError(
            f"{where}: no column {missing[0]!r} (needed: {list(needed)}; it has "
            f"{list(frame.columns)[:30]}). {_fix_hint(Path(where), fix)}"
        )


def _as_numbers(raw: pd.DataFrame, numeric: Sequence[str]) -> dict[str, pd.Series]:
    """Masks of the values of each present ``numeric`` column that are text, not numbers;
    the columns themselves are replaced by numbers (those values become NaN)."""
    not_numbers = {}
    for column in [c for c in numeric if c in raw.columns]:
        values = pd.to_numeric(raw[column], errors="coerce")
        not_numbers[column] = values.isna() & raw[column].notna()
        raw[column] = values
    return not_numbers


def _rows_to_keep(
    raw: pd.DataFrame,
    columns: Sequence[str],
    keep: Mapping[str, Sequence[object]],
    not_numbers: Mapping[str, pd.Series],
) -> tuple[pd.Series, dict[str, int]]:
    """Rows with allowed category values and complete needed columns; counts of the others.

    Each row is counted once, under the first reason that leaves it out: another category
    value, text in a needed numeric column, then a missing value in a needed column.
    """
    dropped: dict[str, int] = {}
    rows = pd.Series(True, index=raw.index)
    for column, allowed in keep.items():
        other = ~raw[column].isin(list(allowed)) & rows
        values = sorted(map(str, raw.loc[other, column].unique()))
        dropped[f"{column} not in {list(allowed)}: {values[:5]}"] = int(other.sum())
        rows &= ~other
    for column in [c for c in not_numbers if c in columns]:
        text = not_numbers[column] & rows
        dropped[f"{column} not a number"] = int(text.sum())
        rows &= ~text
    incomplete = raw[list(columns)].isna().any(axis=1) & rows
    dropped["missing values"] = int(incomplete.sum())
    return rows & ~incomplete, dropped


def _sequences(
    table: pd.DataFrame, sequence_columns: Sequence[str], max_length: int | None, letters: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    """``table`` with its sequence columns normalised, without the rows holding letters
    outside ``letters`` (no row is dropped when empty); and the counts of rows dropped."""
    dropped = {}
    for column in sequence_columns:
        values = table[column].astype(str).str.strip().str.upper().map(to_dna)
        table = table.assign(**{column: values.str[:max_length] if max_length else values})
        if letters:
            other = ~table[column].str.fullmatch(f"[{letters}]+")
            dropped[f"{column} holds letters other than {letters}"] = int(other.sum())
            table = table[~other]
    return table.reset_index(drop=True), dropped


def _rows_left(result: TableRead, n_read: int, keep: Mapping, fix: str | None) -> None:
    """Raise when ``result`` kept no row of the ``n_read`` the file holds."""
    if result.table.empty:
        raise TableFormatError(
            f"{result.path}: no rows left after keeping {dict(keep)} and complete values "
            f"({n_read:,} rows read; left out {result.dropped_rows}). "
            f"{_fix_hint(result.path, fix)}"
        )


def read_table(
    path: str | Path,
    columns: Sequence[str],
    *,
    optional: Sequence[str] = (),
    keep: Mapping[str, Sequence[object]] | None = None,
    sequence_columns: Sequence[str] = (),
    letters: str = "",
    max_length: int | None = None,
    numeric: Sequence[str] = (),
    fix: str | None = None,
    verbose: bool = True,
) -> TableRead:
    """Read a CSV/TSV (plain or gzip, any line endings) and keep what the chapter uses.

    Parameters
    ----------
    path
        The file; gzip is recognised by its content, not its name.
    columns
        Needed columns, in the result's order: a missing one raises, a row missing a value
        in one is left out. The file's other columns are left out and reported.
    optional
        Columns kept (after ``columns``) when the file has them; missing values stay.
    keep
        ``{column: allowed values}``: rows with another value are left out and counted, e.g.
        ``{"set": ("random", "human")}`` for two libraries of a table that holds more.
    sequence_columns, max_length, letters
        Nucleotide columns: stripped, upper-cased, U -> T, cut to ``max_length`` (as a
        fixed-length encoder reads them); then rows with a letter outside ``letters`` (e.g.
        ``"ACGT"``; empty: no check) are left out and counted.
    numeric
        Columns read as numbers (int if all are whole, else float): text there leaves its
        row out (counted) in a needed column and becomes NaN in an optional one.
    fix
        What the user should do when the file is unusable (named in the error).
    verbose
        Print :meth:`TableRead.report`.

    Raises
    ------
    FileNotFoundError
        No such file.
    TableFormatError
        A needed column is missing (the message lists the file's columns), or no row is left.
    """
    path = Path(path)
    raw = _read_raw(path, fix)
    require_columns(raw, [*columns, *(c for c in keep or {} if c not in columns)], path, fix)
    not_numbers = _as_numbers(raw, numeric)
    rows, dropped = _rows_to_keep(raw, columns, keep or {}, not_numbers)
    kept = [*columns, *(c for c in optional if c in raw.columns and c not in columns)]
    table, by_letters = _sequences(raw.loc[rows, kept], sequence_columns, max_length, letters)
    unused = [c for c in raw.columns if c not in kept]
    result = TableRead(table, path, unused, dropped | by_letters)
    _rows_left(result, len(raw), keep or {}, fix)
    if verbose:
        print(result.report())
    return result
