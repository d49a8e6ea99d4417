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

:func:`read_mrl_table` reads such a table the way it comes (through
:func:`course_lib.tables.read_table`): extra columns and other ``set`` values are left out and
reported, gzip and CRLF are read transparently, sequences are upper-cased with U read as T.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.datasets.utr import noisy_mrl, planted_mrl, sample_total_reads
from course_lib.registry import DataSet, RemoteFile, register
from course_lib.tables import read_table

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


def read_mrl_table(
    path: str | Path,
    columns: tuple[str, ...] = ("utr", "rl"),
    optional: tuple[str, ...] = (),
    keep: dict[str, tuple[str, ...]] | None = None,
    sequence_columns: tuple[str, ...] = ("utr",),
    fix: str = "an MTtrans test-set table is needed: python -m data_scripts fetch utr_testsets",
    verbose: bool = True,
) -> pd.DataFrame:
    """Read an MRL table with :func:`course_lib.tables.read_table`.

    Keeps ``columns`` (needed) and ``optional`` ones (if present); with ``keep``, only rows
    whose category column holds an allowed value. Columns not in :data:`TEXT_COLUMNS` are
    read as numbers. The ``sequence_columns`` are upper-cased with U read as T; rows whose
    sequence holds anything but A/C/G/T, or that miss a needed value, are left out. What was
    left out (columns, rows) is printed; ``fix`` is named in the error.

    Raises
    ------
    course_lib.tables.TableFormatError
        A needed column is missing or no row is left, naming the file, the column and the
        fix (a :class:`course_lib.registry.DataError`).
    """
    read = read_table(
        path,
        columns,
        optional=optional,
        keep=keep,
        sequence_columns=sequence_columns,
        letters="ACGT",
        numeric=[c for c in (*columns, *optional) if c not in TEXT_COLUMNS],
        fix=fix,
        verbose=verbose,
    )
    return read.table


def read_varying_table(
    path: str | Path,
    columns: tuple[str, ...] = ("utr", "rl", "set"),
    optional: tuple[str, ...] = (),
    verbose: bool = True,
) -> pd.DataFrame:
    """The Random7600 and Human7600 rows of ``stride11133m_MPA_V_pred.csv``.

    :func:`read_mrl_table` with ``set`` limited to :data:`VARYING_SETS`: rows of another
    ``set`` value are left out and reported.
    """
    return read_mrl_table(
        path, columns, optional, keep={"set": tuple(VARYING_SETS)}, verbose=verbose
    )


@dataclass(frozen=True)
class TestSets:
    """The test sets by name: ``eGFP 20k``, ``Human 25k`` (the designed human library),
    ``Random7600``, ``Human7600``; each a table with ``utr``, ``rl`` and, where the file has it,
    :data:`PEER_COLUMN`."""

    tables: dict[str, pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def sizes(self) -> dict[str, int]:
        """Rows per test set."""
        return {name: len(t) for name, t in self.tables.items()}

    def varying_length(self) -> pd.DataFrame:
        """Random7600, then Human7600, as one table: ``utr``, ``rl``, ``set`` (the file's
        ``random`` / ``human``, keys of :data:`VARYING_SETS`) and ``len`` (nt).

        What :func:`course_lib.utr_protocol.real_utr_protocol` splits into folds and the
        external test; the peer column is left out.
        """
        parts = [
            self.tables[name][["utr", "rl"]].assign(set=value)
            for value, name in VARYING_SETS.items()
        ]
        table = pd.concat(parts, ignore_index=True)
        return table.assign(len=table["utr"].str.len())


def load_test_sets(folder: str | Path) -> TestSets:
    """Read the three tables of ``folder`` into four named test sets."""
    folder = Path(folder)
    tables = {
        "eGFP 20k": read_mrl_table(folder / EGFP_TEST, optional=(PEER_COLUMN,)),
        "Human 25k": read_mrl_table(folder / HUMAN_TEST, optional=(PEER_COLUMN,)),
    }
    varying = read_varying_table(folder / VARYING_TEST, optional=(PEER_COLUMN,))
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
        redistributable=True,
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
