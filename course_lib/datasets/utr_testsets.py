"""The real MRL test sets of Sample et al. 2019, as shipped by MTtrans, for chapter 2.

Real: three CSV tables of holab-hku/MTtrans (``evaluation/testset_result/``, Clear BSD) with
``utr``, ``rl`` (measured mean ribosome load) and MTtrans's own predictions
``pred_stride1113`` (a peer model's output on the same rows):

- ``stride11133m_MPA_U_pred.csv``: the 20,000 held-out 50-nt eGFP UTRs with the most reads
  (GSM3130435, the test set of Sample et al. and Karollus et al.);
- ``stride11133m_MPA_H_pred.csv``: 25,000 50-nt human 5' UTR and SNV sequences of the
  designed library (GSM3130443);
- ``stride11133m_MPA_V_pred.csv``: the varying-length test sets Random7600 and Human7600
  (column ``set``: ``random`` / ``human``; 25-100 nt).

Synthetic: the same files and columns; UTRs drawn at random, ``rl`` from the planted rules of
:func:`course_lib.datasets.utr.planted_mrl` with read-count noise, ``pred_stride1113`` a noisy
copy of the planted MRL.

:func:`read_mrl_table` reads such a table the way it comes: extra columns are dropped and
named, gzip and CRLF are read transparently, sequences are upper-cased with U read as T.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.datasets.utr import noisy_mrl, planted_mrl, sample_total_reads
from course_lib.registry import DataError, DataSet, RemoteFile, register

_COMMIT = "e99a4de3fcf048598023f7fd1678007a8ab2bdc6"
_BASE = f"https://raw.githubusercontent.com/holab-hku/MTtrans/{_COMMIT}/evaluation/testset_result"
EGFP_TEST = "stride11133m_MPA_U_pred.csv"
HUMAN_TEST = "stride11133m_MPA_H_pred.csv"
VARYING_TEST = "stride11133m_MPA_V_pred.csv"
PEER_COLUMN = "pred_stride1113"
#: ``set`` values of the varying-length table and the names the papers give them.
VARYING_SETS = {"random": "Random7600", "human": "Human7600"}
#: Columns read as text; every other kept column must be numeric.
TEXT_COLUMNS = frozenset({"utr", "set", "mother", "gene_symbol", "clin_sig", "id"})


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV, gzipped or not (detected from the first bytes), any line ending."""
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    return pd.read_csv(path, compression="gzip" if gzipped else None)


def read_mrl_table(
    path: str | Path, columns: tuple[str, ...] = ("utr", "rl"), optional: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Read an MRL table, keep ``columns`` (required) and ``optional`` ones (if present).

    Sequences are upper-cased and U is read as T; rows whose ``utr`` holds anything but
    A/C/G/T are dropped. What was left out (columns, rows) is printed and stored in
    ``df.attrs["left_out"]``.

    Raises
    ------
    course_lib.registry.DataError
        A required column is missing or not numeric, naming the file, the column and the fix.
    """
    path = Path(path)
    table = _read_csv(path)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"{path.name}: column {missing[0]!r} is missing (columns: {list(table.columns)}); "
            "this is not an MTtrans test-set table: delete it and fetch it again"
        )
    kept = list(columns) + [c for c in optional if c in table.columns]
    dropped = [str(c) for c in table.columns if c not in kept]
    table = table[kept].copy()
    for column in [c for c in kept if c not in TEXT_COLUMNS]:
        values = pd.to_numeric(table[column], errors="coerce")
        if values.isna().any():
            raise DataError(
                f"{path.name}: column {column!r} has {int(values.isna().sum())} non-numeric or "
                "empty values; the file is damaged: delete it and fetch it again"
            )
        table[column] = values.astype(float)
    table["utr"] = table["utr"].astype(str).str.strip().str.upper().str.replace("U", "T")
    valid = table["utr"].str.fullmatch("[ACGT]+")
    table = table[valid].reset_index(drop=True)
    left_out = {"columns": dropped, "rows with other letters": int((~valid).sum())}
    print(f"{path.name}: {len(table):,} rows; left out {left_out}")
    table.attrs["left_out"] = left_out
    return table


@dataclass(frozen=True)
class TestSets:
    """The test sets by name: ``eGFP 20k``, ``Human 25k``, ``Random7600``, ``Human7600``."""

    tables: dict[str, pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def sizes(self) -> dict[str, int]:
        """Rows per test set."""
        return {name: len(t) for name, t in self.tables.items()}


def load_test_sets(folder: str | Path) -> TestSets:
    """Read the three tables of ``folder`` into four named test sets."""
    folder = Path(folder)
    tables = {
        "eGFP 20k": read_mrl_table(folder / EGFP_TEST, optional=(PEER_COLUMN,)),
        "Human 25k": read_mrl_table(folder / HUMAN_TEST, optional=(PEER_COLUMN,)),
    }
    varying = read_mrl_table(folder / VARYING_TEST, ("utr", "rl", "set"), (PEER_COLUMN,))
    others = sorted(set(varying["set"]) - set(VARYING_SETS))
    if others:
        print(f"{VARYING_TEST}: `set` values {others} are not a published test set; left out")
    for value, name in VARYING_SETS.items():
        tables[name] = varying[varying["set"] == value].drop(columns="set").reset_index(drop=True)
    return TestSets(tables)


def synthesize_test_sets(folder: Path, seed: int) -> None:
    """Write synthetic stand-ins of the three tables (planted MRL rules, read noise)."""
    rng = np.random.default_rng(seed)

    def table(lengths: np.ndarray) -> pd.DataFrame:
        utrs = ["".join(rng.choice(list("ACGT"), n)) for n in lengths]
        truth = planted_mrl(utrs)
        rl = noisy_mrl(truth, sample_total_reads(len(utrs), rng), rng)
        peer = truth + rng.normal(0, 0.3, len(utrs))
        return pd.DataFrame({"utr": utrs, "rl": rl, PEER_COLUMN: peer})

    table(np.full(20_000, 50)).to_csv(folder / EGFP_TEST)
    table(np.full(25_000, 50)).to_csv(folder / HUMAN_TEST)
    varying = table(np.tile(np.repeat(np.arange(25, 101), 100), 2))
    varying["set"] = np.repeat(list(VARYING_SETS), 7_600)
    varying.to_csv(folder / VARYING_TEST)


UTR_TESTSETS = register(
    DataSet(
        name="utr_testsets",
        description=(
            "Test sets of Sample et al. 2019 with measured MRL: 20,000 eGFP 50-nt UTRs, "
            "25,000 human 50-nt UTRs, Random7600 and Human7600 (MTtrans predictions included)"
        ),
        files=(
            RemoteFile(
                EGFP_TEST,
                (f"{_BASE}/{EGFP_TEST}",),
                "6e0e7ed738a640e954111bd892f5479665b8bca193944a6d964f7f1d4fb63952",
            ),
            RemoteFile(
                HUMAN_TEST,
                (f"{_BASE}/{HUMAN_TEST}",),
                "93f072a39e715267b85d7eb8f5e031d7dc19a66d135b1a78358d02bd8f9091c8",
            ),
            RemoteFile(
                VARYING_TEST,
                (f"{_BASE}/{VARYING_TEST}",),
                "aab78fb390f6e4d0760837ec6d18e34888b86bcd8de44659c0596533b8bdff33",
            ),
        ),
        licence="Clear BSD (MTtrans); data from GEO GSE114002 (Sample et al. 2019)",
        citation=(
            "Sample PJ et al. Human 5' UTR design and variant effect prediction from a massively "
            "parallel translation assay. Nat Biotechnol 37, 803-809 (2019). Tables and "
            "pred_stride1113 from Zheng W et al., MTtrans (2023), holab-hku/MTtrans."
        ),
        schema=(
            "3 CSV: unnamed index, utr, rl, pred_stride1113 (+ set: random/human in the "
            "varying-length table); 20,000 / 25,000 / 15,200 rows"
        ),
        synthesize=synthesize_test_sets,
        loader=load_test_sets,
        shared_subdir="utr_testsets",
        homepage="https://github.com/holab-hku/MTtrans",
    )
)
