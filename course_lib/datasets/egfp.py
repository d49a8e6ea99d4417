"""The 50-nt random 5' UTR library in front of eGFP (Sample et al. 2019), for chapter 2.

Real: GEO sample GSM3130435, ``GSM3130435_egfp_unmod_1.csv`` (unmodified mRNA, replicate 1):
one row per random 50-nt UTR with the reads of each polysome fraction, ``total_reads`` and
``rl``, the measured mean ribosome load (MRL). The published split sorts the UTRs by
``total_reads``: the 20,000 with the most reads are the test set, the next 260,000 the
training set.

Synthetic: the same file name and columns (a leading unnamed index, ``utr``, fraction read
counts ``0``..``13``, ``total_reads``, ``rl``) for 80,000 uniformly random 50-nt UTRs. The
MRL follows the planted rules shared with chapters 1 and 5
(:func:`course_lib.datasets.utr.planted_mrl`: uAUGs lower it, out of frame more than in
frame; a purine at -3 of the main start raises it; a GC-rich cap-proximal region lowers it),
and the measured ``rl`` adds read-count-dependent noise
(:func:`~course_lib.datasets.utr.noisy_mrl`).
The fraction counts spread each UTR's reads around its ``rl`` and only illustrate the layout.

:func:`split_egfp` reproduces the published split, removes from training any copy of a test
UTR (a sequence that occurs twice in the table), carves a validation set out of training and
fits the label scaler on training only (the original notebook fitted a second scaler on the
test set to inverse-transform its predictions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from course_lib.datasets.utr import (
    SAMPLE_2019_CITATION,
    drop_test_sequences,
    fit_label_scaler,
    noisy_mrl,
    planted_mrl,
    sample_total_reads,
    scale_labels,
)
from course_lib.encoding import one_hot
from course_lib.registry import DataError, DataSet, RemoteFile, register, synthetic_folder
from course_lib.tables import read_table, require_columns

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

NAME = "egfp_unmod_1"
EGFP_FILE = "GSM3130435_egfp_unmod_1.csv"
UTR_LENGTH = 50
N_FRACTIONS = 14
FRACTION_COLUMNS = tuple(str(i) for i in range(N_FRACTIONS))
REQUIRED_COLUMNS = ("utr", "total_reads", "rl")
#: What to do when the table is not the GSM3130435 one (named in the loader's errors).
FETCH_FIX = f"it is not the GSM3130435 eGFP table: python -m data_scripts fetch {NAME}"
#: The published split (Sample et al. 2019): top-read UTRs are the test set.
PUBLISHED_N_TEST = 20_000
PUBLISHED_N_TRAIN = 260_000
#: The real table holds at least the 280,000 UTRs of the published split.
REAL_MIN_ROWS = PUBLISHED_N_TEST + PUBLISHED_N_TRAIN
SYNTHETIC_ROWS = 80_000


# ----------------------------------------------------------------------------- synthetic


def _fraction_counts(rl: np.ndarray, reads: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Reads per polysome fraction ``[n, 14]``: a discretised normal around ``rl`` (sd 2.5)."""
    centres = np.arange(N_FRACTIONS)[None, :]
    weights = np.exp(-0.5 * ((centres - rl[:, None]) / 2.5) ** 2)
    return rng.multinomial(reads, weights / weights.sum(axis=1, keepdims=True))


def synthesize_egfp(folder: Path, seed: int, n: int = SYNTHETIC_ROWS) -> None:
    """Write a synthetic ``GSM3130435_egfp_unmod_1.csv`` into ``folder``.

    ``n`` uniformly random 50-nt UTRs (DNA alphabet, unique), read counts from
    :func:`~course_lib.datasets.utr.sample_total_reads`, ``rl`` from
    :func:`~course_lib.datasets.utr.noisy_mrl` of :func:`~course_lib.datasets.utr.planted_mrl`
    and the fraction columns ``0``..``13`` (summing to ``total_reads``).
    """
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, UTR_LENGTH))
    utrs = pd.unique(np.array(list("ACGT"))[codes].view(f"<U{UTR_LENGTH}").ravel())
    reads = sample_total_reads(len(utrs), rng)
    rl = np.round(noisy_mrl(planted_mrl(list(utrs)), reads, rng), 4)
    counts = _fraction_counts(rl, reads, rng)
    table = pd.DataFrame(counts, columns=list(FRACTION_COLUMNS))
    table.insert(0, "utr", utrs)
    table["total_reads"] = reads
    table["rl"] = rl
    table.to_csv(Path(folder) / EGFP_FILE, index=True)


# ----------------------------------------------------------------------------- loading


def check_egfp(df: pd.DataFrame, min_rows: int | None = None) -> None:
    """Check the columns, the UTR length and, with ``min_rows``, the size of the table.

    Raises
    ------
    course_lib.registry.DataError
        Naming what is wrong and how to fix it.
    """
    require_columns(df, REQUIRED_COLUMNS, EGFP_FILE, FETCH_FIX)
    short = df["utr"].str.len() < UTR_LENGTH
    if short.any():
        raise DataError(
            f"{EGFP_FILE}: {int(short.sum())} UTRs are shorter than {UTR_LENGTH} nt "
            f"(first: {df.loc[short, 'utr'].iloc[0]!r}); this is not the 50-nt library"
        )
    if min_rows is not None and len(df) < min_rows:
        raise DataError(
            f"{EGFP_FILE} has {len(df)} rows, expected at least {min_rows}; the file is "
            "truncated. Delete it and fetch it again from GEO (GSM3130435)."
        )


def load_egfp(path: str | Path, min_rows: int | None = None, verbose: bool = True) -> pd.DataFrame:
    """Read the eGFP library table with :func:`course_lib.tables.read_table` and check it.

    Keeps ``utr``, ``total_reads`` and ``rl``; the index and the fraction columns are left
    out and reported. UTRs are upper-cased, U is read as T and each UTR is cut to its first
    50 nt (as the original one-hot encoder did); rows whose UTR then holds anything but
    A, C, G, T, or that miss a value, are left out and counted in the printed report.

    Returns
    -------
    pandas.DataFrame
        ``utr`` (50-nt DNA alphabet), ``total_reads`` and ``rl`` (float).

    Raises
    ------
    course_lib.tables.TableFormatError
        A needed column is missing or no row is left.
    course_lib.registry.DataError
        UTRs shorter than 50 nt or fewer than ``min_rows`` rows (:func:`check_egfp`).
    """
    df = read_table(
        path,
        REQUIRED_COLUMNS,
        sequence_columns=("utr",),
        letters="ACGT",
        max_length=UTR_LENGTH,
        numeric=("total_reads", "rl"),
        fix=FETCH_FIX,
        verbose=verbose,
    ).table
    check_egfp(df, min_rows)
    return df


def _load(folder: Path) -> pd.DataFrame:
    is_synthetic = Path(folder).resolve() == synthetic_folder(NAME).resolve()
    return load_egfp(Path(folder) / EGFP_FILE, None if is_synthetic else REAL_MIN_ROWS)


# ----------------------------------------------------------------------------- split


@dataclass(frozen=True)
class EgfpSplit:
    """Training, validation and test parts of the eGFP library with the training-only scaler.

    Attributes
    ----------
    train, val
        The ``n_train`` UTRs after the test set, divided at random (seeded).
    test
        The ``n_test`` UTRs with the most reads (the published test set when 20,000).
    scaler
        :class:`~sklearn.preprocessing.StandardScaler` fitted on ``train["rl"]`` only.
    notes
        Anything the split had to change (e.g. fewer rows than asked for) and how many
        training-pool rows were removed because their UTR is also a test UTR.
    n_test_copies_removed
        Rows of the training pool dropped because the same UTR sequence is in the test set.
    """

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    scaler: StandardScaler
    notes: list[str] = field(default_factory=list)
    n_test_copies_removed: int = 0

    def parts(self) -> dict[str, pd.DataFrame]:
        """``{"train": ..., "val": ..., "test": ...}``."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def sizes(self) -> dict[str, int]:
        """Rows per part."""
        return {name: len(part) for name, part in self.parts().items()}

    def arrays(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """One-hot UTRs ``[n, 50, 4]`` (float32) and scaled MRL ``[n]`` (float32) of ``part``."""
        frame = self.parts()[part]
        return one_hot(frame["utr"].tolist(), length=UTR_LENGTH), scale_labels(frame, self.scaler)

    def loader(self, part: str, batch_size: int, shuffle: bool = False) -> DataLoader:
        """A :class:`~torch.utils.data.DataLoader` of ``(one-hot, scaled MRL)`` for ``part``."""
        import torch  # here, not at module level: listing data sets must not load torch
        from torch.utils.data import DataLoader, TensorDataset

        x, y = self.arrays(part)
        dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def split_egfp(
    df: pd.DataFrame,
    n_test: int = PUBLISHED_N_TEST,
    n_train: int = PUBLISHED_N_TRAIN,
    n_val: int = 26_000,
    seed: int = 0,
    clip: bool = False,
) -> EgfpSplit:
    """The published split plus a validation set and a training-only label scaler.

    1. Sort by ``total_reads``, most first (stable, so ties keep the file order).
    2. The first ``n_test`` rows are the test set (their MRL is measured most precisely).
    3. The next ``n_train`` rows are the training pool, minus any row whose UTR sequence
       also occurs in the test set (a duplicate row of the table,
       :func:`~course_lib.datasets.utr.drop_test_sequences`); ``n_val`` of them, drawn at
       random with ``seed``, become the validation set (model selection), the rest training.
    4. A :class:`~sklearn.preprocessing.StandardScaler` is fitted on the training MRL only.

    Parameters
    ----------
    clip
        When the table has fewer than ``n_test + n_train`` rows: ``False`` raises,
        ``True`` keeps the test set whole and gives training what is left (noted in
        ``notes``), e.g. for a ``laptop`` run on the smaller synthetic stand-in.

    Raises
    ------
    ValueError
        Sizes that are not positive, ``n_val >= n_train``, too few rows (without ``clip``)
        or no more than ``n_val`` pool rows left once the test UTRs' copies are removed.
    """
    check_egfp(df)
    if min(n_test, n_train, n_val) < 1 or n_val >= n_train:
        raise ValueError(
            f"need positive sizes with n_val < n_train, got n_test={n_test}, "
            f"n_train={n_train}, n_val={n_val}"
        )
    notes = []
    available = len(df) - n_test
    if available < n_train:
        if not clip or available <= n_val:
            raise ValueError(
                f"the table has {len(df)} rows but the split asks for n_test={n_test} + "
                f"n_train={n_train}; lower n_train, or pass clip=True"
            )
        notes.append(f"asked for {n_train} training+validation rows, the table had {available}")
        n_train = available
    ordered = df.sort_values("total_reads", ascending=False, kind="stable")
    test = ordered.iloc[:n_test]
    pool, n_removed = drop_test_sequences(ordered.iloc[n_test : n_test + n_train], test)
    notes.append(f"removed {n_removed} training-pool rows whose UTR is also a test UTR")
    if len(pool) <= n_val:
        raise ValueError(f"{len(pool)} training-pool rows left, not more than n_val={n_val}")
    chosen = np.zeros(len(pool), dtype=bool)
    chosen[np.random.default_rng(seed).choice(len(pool), n_val, replace=False)] = True
    train, val = pool[~chosen], pool[chosen]
    parts = [p.reset_index(drop=True) for p in (train, val, test)]
    return EgfpSplit(
        *parts, scaler=fit_label_scaler(parts[0]), notes=notes, n_test_copies_removed=n_removed
    )


def leaky_test_scaler(
    test: pd.DataFrame, scaled_predictions: np.ndarray
) -> tuple[np.ndarray, StandardScaler]:
    """What the original notebook did: inverse-transform with a scaler fitted on the test MRL.

    Returns the "leaky" MRL predictions ``[n]`` and that scaler. They borrow the mean and
    spread of the test labels, so MSE, MAE and R² are no longer clean estimates (they can move
    either way); the Pearson r (and r²) is unchanged because the map is affine. Shown for
    teaching only.
    """
    scaler = StandardScaler().fit(test[["rl"]].to_numpy(dtype=float))
    values = np.asarray(scaled_predictions, dtype=float).reshape(-1, 1)
    return scaler.inverse_transform(values).ravel(), scaler


def read_count_summary(df: pd.DataFrame, split: EgfpSplit) -> pd.DataFrame:
    """Rows, median reads and MRL mean/sd of each part (and of the whole table)."""
    rows = {"all": df, **split.parts()}
    return pd.DataFrame(
        {
            name: {
                "rows": len(part),
                "median total_reads": float(np.median(part["total_reads"])),
                "MRL mean": float(part["rl"].mean()),
                "MRL sd": float(part["rl"].std()),
            }
            for name, part in rows.items()
        }
    ).T


EGFP_UNMOD_1 = register(
    DataSet(
        name=NAME,
        description=(
            "Polysome-profiled random 50-nt 5' UTRs in front of eGFP (unmodified mRNA, "
            "replicate 1, HEK293T) with mean ribosome load, Sample et al. 2019"
        ),
        files=(
            RemoteFile(
                EGFP_FILE,
                (
                    "https://ftp.ncbi.nlm.nih.gov/geo/samples/GSM3130nnn/GSM3130435/suppl/"
                    "GSM3130435_egfp_unmod_1.csv.gz",
                    "https://www.ncbi.nlm.nih.gov/geo/download/?acc=GSM3130435&format=file&"
                    "file=GSM3130435%5Fegfp%5Funmod%5F1%2Ecsv%2Egz",
                ),
                None,
                compression="gzip",
            ),
        ),
        licence="public GEO record (NCBI places no restrictions on GEO data)",
        redistributable=True,
        citation=SAMPLE_2019_CITATION,
        schema=(
            "CSV: unnamed index, utr (50 nt), reads per polysome fraction, total_reads, rl "
            "(+ others); at least 280,000 rows (20,000 test + 260,000 training)"
        ),
        synthesize=synthesize_egfp,
        loader=_load,
        shared_subdir="egfp",
        profiles=("full",),  # the GEO training table: paper-scale runs only
        homepage="https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc=GSM3130435",
    )
)
