"""Read a real table the way it comes: keep what a chapter uses, say what was left out.

Real files hold more than a chapter needs: other libraries in a ``set`` column, another
model's predictions in extra columns, another column order, gzip, Windows line endings,
lower-case sequences. :func:`read_table` accepts all of that, keeps the columns and rows the
chapter asks for, prints one line saying what it left out, and fails only on what makes the
file unusable (a needed column missing, no rows left) with a message naming the file, the
column and the fix. Every loader of a real table in the registry reads through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from course_lib.encoding import to_dna


class TableFormatError(ValueError):
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
    with open(path, "rb") as fh:
        compression = "gzip" if fh.read(2) == b"\x1f\x8b" else None
    with pd.io.common.get_handle(path, "r", compression=compression) as handle:
        first_line = handle.handle.readline()
    sep = "\t" if "\t" in first_line else ","
    raw = pd.read_csv(path, sep=sep, compression=compression)
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw


def _rows_to_keep(
    raw: pd.DataFrame, columns: Sequence[str], keep: Mapping[str, Sequence[object]]
) -> tuple[pd.Series, dict[str, int]]:
    """Rows with allowed category values and complete needed columns; counts of the others."""
    dropped: dict[str, int] = {}
    rows = pd.Series(True, index=raw.index)
    for column, allowed in keep.items():
        other = ~raw[column].isin(list(allowed)) & rows
        values = sorted(map(str, raw.loc[other, column].unique()))
        dropped[f"{column} not in {list(allowed)}: {values[:5]}"] = int(other.sum())
        rows &= ~other
    incomplete = raw[list(columns)].isna().any(axis=1) & rows
    dropped["missing values"] = int(incomplete.sum())
    return rows & ~incomplete, dropped


def read_table(
    path: str | Path,
    columns: Sequence[str],
    *,
    keep: Mapping[str, Sequence[object]] | None = None,
    sequence_columns: Sequence[str] = (),
    fix: str | None = None,
    verbose: bool = True,
) -> TableRead:
    """Read a CSV/TSV (plain or gzip, any line endings) and keep what the chapter uses.

    Parameters
    ----------
    path
        The file; gzip is recognised by its content, not its name.
    columns
        Columns the chapter needs, in the order the result has them. Other columns are left
        out (and reported); a missing one raises.
    keep
        ``{column: allowed values}``: rows with another value are left out and counted (e.g.
        ``{"set": ("random", "human")}`` keeps two libraries of a table that holds more).
    sequence_columns
        Columns of nucleotide sequences: stripped, upper-cased and written in the DNA
        alphabet (U -> T).
    fix
        What the user should do when the file is unusable (named in the error).
    verbose
        Print :meth:`TableRead.report`.

    Raises
    ------
    TableFormatError
        A needed column is missing (the message lists the file's columns), or no row is left.
    """
    path = Path(path)
    raw = _read_raw(path, fix)
    needed = [*columns, *(c for c in keep or {} if c not in columns)]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise TableFormatError(
            f"{path}: no column {missing[0]!r} (needed: {needed}; the file has "
            f"{list(raw.columns)}). {_fix_hint(path, fix)}"
        )
    rows, dropped_rows = _rows_to_keep(raw, columns, keep or {})
    table = raw.loc[rows, list(columns)].reset_index(drop=True)
    for column in sequence_columns:
        table[column] = table[column].astype(str).str.strip().str.upper().map(to_dna)
    if table.empty:
        raise TableFormatError(
            f"{path}: no rows left after keeping {dict(keep or {})} and complete values "
            f"({len(raw):,} rows read). {_fix_hint(path, fix)}"
        )
    result = TableRead(table, path, [c for c in raw.columns if c not in columns], dropped_rows)
    if verbose:
        print(result.report())
    return result
