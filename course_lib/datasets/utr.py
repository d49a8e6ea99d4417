"""5' UTR mean ribosome load (MRL): Sample et al. 2019 varying-length library (25-100 nt).

Shared by chapters 1 (RNA-FM), 2 (Optimus) and 5 (UTR-LM).

Real: GEO sample GSM4084997, ``GSM4084997_varying_length_25to100.csv`` (one row per UTR with
``utr``, ``set`` = ``random`` | ``human``, ``total_reads``, ``rl`` = measured MRL, ``len``).
After keeping ``total_reads >= 10`` the random set has 83,919 rows and the human set 15,555.

Sources: the GEO supplementary file (gzipped, fetched by :func:`course_lib.registry.fetch`) and
the RNA-FM project's uncompressed copy (:data:`RNAFM_MIRROR`, for a download by hand).

Synthetic: the same file name and columns; MRL comes from planted biology
(:func:`planted_mrl`) plus polysome-sampling noise that shrinks with read count
(:func:`noisy_mrl`), so the best possible R² is known (:func:`noise_r2_ceiling`).

The split (:func:`split_utr_mrl`) is the original protocol (Random7600, Human7600 test sets)
plus a validation set carved out of training; the label scaler is fitted on training only
(:func:`fit_label_scaler`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from course_lib.encoding import to_dna
from course_lib.registry import DataError, DataSet, RemoteFile, register, synthetic_folder
from course_lib.tables import read_table, require_columns

NAME = "utr_varying_length"
VARYING_LENGTH_FILE = "GSM4084997_varying_length_25to100.csv"
REQUIRED_COLUMNS = ("utr", "set", "total_reads", "rl", "len")
#: What to do when the table is not the GSM4084997 one (named in the loader's errors).
FETCH_FIX = f"it is not the GSM4084997 varying-length table: python -m data_scripts fetch {NAME}"
SETS = ("random", "human")
MIN_LENGTH, MAX_LENGTH = 25, 100
#: Rows per set after ``total_reads >= 10`` in the real file (Sample et al. 2019).
REAL_FILTERED_COUNTS = {"random": 83_919, "human": 15_555}
#: The RNA-FM project's copy (uncompressed CSV; download it by hand into the cache folder).
RNAFM_MIRROR = (
    "https://proj.cse.cuhk.edu.hk/rnafm/api/download?filename=GSM4084997_varying_length_25to100.csv"
)
#: First nucleotides of the reporter CDS downstream of every UTR (eGFP).
CDS_START = "ATGGTGAGCAAGGGCGAG"

# ----------------------------------------------------------------------------- planted biology
#: MRL of a UTR with no uAUG, neutral main-start context and 50 % GC near the cap.
BASE_MRL = 5.6
#: Added when the main start codon has a purine (A/G) at -3 (the strongest Kozak position).
KOZAK_MAIN_BONUS = 0.8
#: Raw penalty of one out-of-frame / in-frame uAUG (relative to the CDS start).
UAUG_OUT_OF_FRAME = 1.8
UAUG_IN_FRAME = 0.7
#: A uAUG in a strong Kozak context (A/G at -3 and G at +4) is used more often.
UAUG_STRONG_KOZAK_FACTOR = 1.5
#: Total uAUG penalty saturates at this value (several uAUGs cannot push MRL below ~1).
UAUG_MAX_PENALTY = 3.5
#: Nucleotides from the cap whose GC content stands in for structure near the cap.
CAP_WINDOW = 25
#: MRL lost per unit of GC fraction above 0.5 in the cap window (gained below it).
CAP_GC_SLOPE = 3.0
MRL_RANGE = (1.0, 9.0)

# ----------------------------------------------------------------------------- assay noise
#: Per-read spread of the polysome fraction a read lands in (MRL units).
PER_READ_SD = 2.5
#: Read-count-independent noise (replicate, library preparation).
FLOOR_SD = 0.15


def _code_matrix(utrs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Upper-case DNA bytes ``[n, L_max]`` (padded with ``b'N'``) and lengths ``[n]``."""
    seqs = [to_dna(s.upper()) for s in utrs]
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    width = max(1, int(lengths.max()) if len(seqs) else 0)
    padded = np.array([s.ljust(width, "N") for s in seqs], dtype=f"S{width}")
    return padded.view("S1").reshape(len(seqs), width), lengths


def _uaug_masks(utrs: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks ``[n, W]`` over start positions: uAUG, in frame with the CDS, strong Kozak."""
    codes, ext_lengths = _code_matrix([s + CDS_START for s in utrs])
    lengths = ext_lengths - len(CDS_START)
    width = codes.shape[1]
    is_aug = (codes[:, :-2] == b"A") & (codes[:, 1:-1] == b"T") & (codes[:, 2:] == b"G")
    pos = np.arange(width - 2)[None, :]
    is_aug &= pos < lengths[:, None]  # starts inside the UTR (the CDS ATG itself excluded)
    in_frame = ((lengths[:, None] - pos) % 3) == 0
    minus3 = np.full_like(codes, b"N")
    minus3[:, 3:] = codes[:, :-3]
    plus4 = np.full_like(codes, b"N")
    plus4[:, :-3] = codes[:, 3:]
    strong = np.isin(minus3[:, :-2], [b"A", b"G"]) & (plus4[:, :-2] == b"G")
    return is_aug, in_frame, strong


def uaug_table(utrs: Sequence[str]) -> pd.DataFrame:
    """Count upstream AUGs of each UTR by frame and Kozak strength.

    Parameters
    ----------
    utrs
        ``n`` UTR sequences (DNA or RNA alphabet, any length); the CDS start codon follows
        the last nucleotide.

    Returns
    -------
    pandas.DataFrame
        ``n`` rows with integer columns ``uaug_out_of_frame``, ``uaug_in_frame`` (an AUG at
        position ``p`` of a length-``L`` UTR is in frame when ``(L - p) % 3 == 0``) and
        ``uaug_strong_kozak`` (uAUGs with A/G at -3 and G at +4; +4 may fall in the CDS).
    """
    is_aug, in_frame, strong = _uaug_masks(list(utrs))
    return pd.DataFrame(
        {
            "uaug_out_of_frame": (is_aug & ~in_frame).sum(axis=1),
            "uaug_in_frame": (is_aug & in_frame).sum(axis=1),
            "uaug_strong_kozak": (is_aug & strong).sum(axis=1),
        }
    )


def planted_mrl(utrs: Sequence[str]) -> np.ndarray:
    """Noise-free mean ribosome load of each UTR under the synthetic data's planted rules.

    Rules (positions relative to the main start codon, which follows the UTR):

    1. Base MRL :data:`BASE_MRL` (5.6).
    2. Kozak context of the main start: A or G at -3 (the UTR's third-to-last nucleotide)
       adds :data:`KOZAK_MAIN_BONUS` (0.8).
    3. Upstream AUGs capture scanning ribosomes. Each out-of-frame uAUG adds a raw penalty of
       1.8, each in-frame uAUG 0.7 (an in-frame uAUG only extends the protein); a uAUG in a
       strong Kozak context (A/G at -3 and G at +4) counts 1.5 times. The total saturates:
       ``penalty = 3.5 * (1 - exp(-raw / 3.5))``.
    4. Structure near the cap: GC fraction ``g`` of the first 25 nt (the whole UTR if
       shorter) changes MRL by ``-3.0 * (g - 0.5)`` (stable GC-rich hairpins block cap
       binding and scanning; A/U-rich leaders help).
    5. The result is clipped to [1, 9].

    Parameters
    ----------
    utrs
        ``n`` sequences over A, C, G, T/U (case-insensitive), any lengths.

    Returns
    -------
    numpy.ndarray
        ``float64`` array ``[n]`` of MRL values.
    """
    utrs = [utrs] if isinstance(utrs, str) else list(utrs)
    if not utrs:
        return np.zeros(0)
    codes, lengths = _code_matrix(utrs)
    bad = ~np.isin(codes, [b"A", b"C", b"G", b"T", b"N"])
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"UTR #{row} has an unknown character {codes[row, col].decode()!r} at position {col}"
        )
    n = len(utrs)
    minus3 = np.where(lengths >= 3, codes[np.arange(n), np.maximum(lengths - 3, 0)], b"N")
    kozak = np.isin(minus3, [b"A", b"G"]) * KOZAK_MAIN_BONUS

    is_aug, in_frame, strong = _uaug_masks(utrs)
    per_uaug = np.where(in_frame, UAUG_IN_FRAME, UAUG_OUT_OF_FRAME)
    per_uaug = per_uaug * np.where(strong, UAUG_STRONG_KOZAK_FACTOR, 1.0)
    raw = (per_uaug * is_aug).sum(axis=1)
    penalty = UAUG_MAX_PENALTY * (1 - np.exp(-raw / UAUG_MAX_PENALTY))

    window = codes[:, :CAP_WINDOW]
    in_window = np.minimum(lengths, CAP_WINDOW)
    gc = np.isin(window, [b"G", b"C"]).sum(axis=1) / np.maximum(in_window, 1)
    structure = -CAP_GC_SLOPE * (gc - 0.5)

    return np.clip(BASE_MRL + kozak - penalty + structure, *MRL_RANGE)


def sample_total_reads(n: int, rng: np.random.Generator) -> np.ndarray:
    """Long-tailed read counts ``[n]`` (int64 >= 1): log-normal, median ~40, ~12 % below 10."""
    return np.maximum(1, np.round(rng.lognormal(mean=3.7, sigma=1.2, size=n))).astype(np.int64)


def label_noise_sd(total_reads: np.ndarray) -> np.ndarray:
    """Standard deviation of the measured MRL: ``sqrt(0.15**2 + 2.5**2 / total_reads)``."""
    reads = np.asarray(total_reads, dtype=float)
    if (reads <= 0).any():
        raise ValueError("total_reads must be positive")
    return np.sqrt(FLOOR_SD**2 + PER_READ_SD**2 / reads)


def noisy_mrl(
    true_mrl: np.ndarray, total_reads: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Measured MRL: ``true_mrl`` plus noise of sd :func:`label_noise_sd`, clipped to [1, 14].

    Polysome profiling sorts each read into one of 14 fractions, so an MRL from few reads
    is a noisy average; the noise shrinks as ``1 / sqrt(total_reads)``.
    """
    true_mrl = np.asarray(true_mrl, dtype=float)
    noise = rng.normal(size=true_mrl.shape) * label_noise_sd(total_reads)
    return np.clip(true_mrl + noise, 1.0, 14.0)


def noise_r2_ceiling(true_mrl: np.ndarray, total_reads: np.ndarray) -> float:
    """Expected R² of a perfect predictor (one that outputs ``true_mrl``) on noisy labels.

    ``R² = 1 - E[noise²] / Var(label) = Var(true) / (Var(true) + mean(noise_sd²))``
    for the given rows; no model can beat it on average on those rows.
    """
    true_mrl = np.asarray(true_mrl, dtype=float)
    noise_var = float(np.mean(label_noise_sd(total_reads) ** 2))
    signal_var = float(np.var(true_mrl))
    return signal_var / (signal_var + noise_var)


def _random_utrs(
    lengths: np.ndarray, rng: np.random.Generator, gc: float | np.ndarray
) -> list[str]:
    """Random UTRs of the given lengths; ``gc`` (scalar or per UTR) is the G+C probability."""
    gc = np.broadcast_to(np.asarray(gc, dtype=float), lengths.shape)[:, None]
    u = rng.random((len(lengths), MAX_LENGTH))
    codes = (u > (1 - gc) / 2).astype(np.int8) + (u > 0.5) + (u > (1 + gc) / 2)  # A C G T
    rows = np.array(list("ACGT"))[codes].view(f"<U{MAX_LENGTH}").ravel()
    return [row[:n] for row, n in zip(rows, lengths, strict=True)]


def _human_like_utrs(lengths: np.ndarray, rng: np.random.Generator) -> list[str]:
    """GC-rich leaders (mean GC ~0.6) depleted of uATGs, as in human 5' UTRs."""
    gcs = np.clip(rng.normal(0.6, 0.08, size=len(lengths)), 0.35, 0.8)
    selected = rng.random(len(lengths)) < 0.6  # purifying selection removes most uATGs
    return [
        seq.replace("ATG", "ACG") if drop else seq
        for seq, drop in zip(_random_utrs(lengths, rng, gcs), selected, strict=True)
    ]


def synthesize_varying_length(
    folder: Path, seed: int, n_random: int = 28_000, n_human: int = 10_000
) -> None:
    """Write a synthetic ``GSM4084997_varying_length_25to100.csv`` into ``folder``.

    Columns ``utr`` (DNA alphabet), ``set``, ``total_reads``, ``rl``, ``len``; lengths
    uniform over 25..100 in both sets; random UTRs have uniform base composition, human-like
    ones are GC-rich with fewer uATGs. ``rl`` = :func:`noisy_mrl` of :func:`planted_mrl`.
    """
    rng = np.random.default_rng(seed)
    random_len = rng.integers(MIN_LENGTH, MAX_LENGTH + 1, n_random)
    human_len = rng.integers(MIN_LENGTH, MAX_LENGTH + 1, n_human)
    utrs = _random_utrs(random_len, rng, gc=0.5) + _human_like_utrs(human_len, rng)
    reads = sample_total_reads(len(utrs), rng)
    table = pd.DataFrame(
        {
            "utr": utrs,
            "set": ["random"] * n_random + ["human"] * n_human,
            "total_reads": reads,
            "rl": np.round(noisy_mrl(planted_mrl(utrs), reads, rng), 4),
            "len": np.r_[random_len, human_len],
        }
    ).drop_duplicates("utr")
    table.to_csv(Path(folder) / VARYING_LENGTH_FILE, index=False)


def check_varying_length(
    df: pd.DataFrame, expected_counts: dict[str, int] | None = None, min_reads: int = 10
) -> None:
    """Check the columns, set names and lengths; with ``expected_counts``, the filtered sizes.

    Raises
    ------
    course_lib.registry.DataError
        Naming what is wrong and how to fix it.
    """
    require_columns(df, REQUIRED_COLUMNS, VARYING_LENGTH_FILE, FETCH_FIX)
    unknown = sorted(set(df["set"].unique()) - set(SETS))
    if unknown:
        raise DataError(f"{VARYING_LENGTH_FILE}: unknown values in column 'set': {unknown}")
    if expected_counts is not None:
        kept = df.loc[df["total_reads"] >= min_reads, "set"].value_counts()
        found = {s: int(kept.get(s, 0)) for s in expected_counts}
        if found != expected_counts:
            raise DataError(
                f"{VARYING_LENGTH_FILE}: after total_reads >= {min_reads} expected "
                f"{expected_counts} rows per set, found {found}; the file is truncated or a "
                "different version. Delete it and fetch it again from GEO (GSM4084997)."
            )


def load_varying_length(
    path: str | Path, expected_counts: dict[str, int] | None = None, verbose: bool = True
) -> pd.DataFrame:
    """Read the varying-length table with :func:`course_lib.tables.read_table` and check it.

    Keeps :data:`REQUIRED_COLUMNS` and the rows of the :data:`SETS`; other columns (a
    leading unnamed index, ...), rows of another ``set`` and rows missing a value are left
    out and reported.

    Returns
    -------
    pandas.DataFrame
        ``utr`` (upper-case DNA alphabet), ``set``, ``total_reads``, ``rl`` (float MRL) and
        ``len`` (int).

    Raises
    ------
    course_lib.tables.TableFormatError
        A needed column is missing or no row is left.
    course_lib.registry.DataError
        With ``expected_counts``, other filtered sizes (:func:`check_varying_length`).
    """
    df = read_table(
        path,
        REQUIRED_COLUMNS,
        keep={"set": SETS},
        sequence_columns=("utr",),
        numeric=("total_reads", "rl", "len"),
        fix=FETCH_FIX,
        verbose=verbose,
    ).table
    df["len"] = df["len"].astype(np.int64)
    check_varying_length(df, expected_counts)
    return df


def _load(folder: Path) -> pd.DataFrame:
    is_synthetic = Path(folder).resolve() == synthetic_folder(NAME).resolve()
    expected = None if is_synthetic else REAL_FILTERED_COUNTS
    return load_varying_length(Path(folder) / VARYING_LENGTH_FILE, expected)


# ----------------------------------------------------------------------------- split


#: UTRSplit test part -> name of the published test set (Sample et al. 2019).
TEST_NAMES = {"test_random": "Random7600", "test_human": "Human7600"}


@dataclass(frozen=True)
class UTRSplit:
    """The MRL split: training, validation and the two original test sets.

    Attributes
    ----------
    train, val
        Random-set UTRs not in a test set, divided for model selection.
    test_random, test_human
        Random7600 and Human7600: the highest-read UTRs of each length 25..100 of each set.
    """

    train: pd.DataFrame
    val: pd.DataFrame
    test_random: pd.DataFrame
    test_human: pd.DataFrame

    def parts(self) -> dict[str, pd.DataFrame]:
        """``{"train": ..., "val": ..., "test_random": ..., "test_human": ...}``."""
        return {
            "train": self.train,
            "val": self.val,
            "test_random": self.test_random,
            "test_human": self.test_human,
        }

    def sizes(self) -> dict[str, int]:
        """Rows per part."""
        return {name: len(part) for name, part in self.parts().items()}


def _top_reads_per_length(df: pd.DataFrame, n: int) -> pd.DataFrame:
    ordered = df.sort_values("total_reads", ascending=False, kind="stable")
    top = ordered.groupby("len", sort=True).head(n)
    return top[top["len"].between(MIN_LENGTH, MAX_LENGTH)].sort_values(
        ["len", "total_reads"], ascending=[True, False], kind="stable"
    )


def drop_test_sequences(
    pool: pd.DataFrame, *tests: pd.DataFrame, column: str = "utr"
) -> tuple[pd.DataFrame, int]:
    """The rows of ``pool`` whose sequence occurs in none of ``tests``, and how many went.

    A sequence measured twice (a duplicate row of the table) must not be in training or
    validation when one of its copies is a test row: a model could learn its label by heart.
    Shared by :func:`split_utr_mrl`, :func:`course_lib.datasets.egfp.split_egfp` and the
    cross-validation of chapter 2.

    Parameters
    ----------
    pool
        Candidate training (or validation) rows ``[n, ...]`` with a ``column`` of sequences.
    tests
        Held-out tables with the same ``column``.

    Returns
    -------
    tuple of pandas.DataFrame and int
        The kept rows of ``pool`` (index unchanged) and the number of rows removed.
    """
    held_out = set().union(*(set(t[column]) for t in tests))
    leaked = pool[column].isin(held_out)
    return pool[~leaked], int(leaked.sum())


def split_utr_mrl(
    df: pd.DataFrame,
    n_test_per_length: int = 100,
    val_fraction: float = 0.1,
    min_reads: int = 10,
    seed: int = 0,
    max_train: int | None = None,
) -> UTRSplit:
    """Split the varying-length table as Sample et al. 2019, plus a validation set.

    1. Keep rows with ``total_reads >= min_reads``.
    2. For each set (random, human) and each length 25..100, the ``n_test_per_length``
       rows with the most reads form the test set (Random7600 and Human7600 with 100).
    3. Training is the rest of the random set (minus any UTR sequence that also appears in a
       test set, so no sequence is in two parts); the human set is only for testing.
    4. A random ``val_fraction`` of training becomes the validation set (model selection).
    5. With ``max_train``, training and validation are subsampled first so that training
       keeps about ``max_train`` rows (small profiles); the test sets stay whole.

    Returns
    -------
    UTRSplit
        DataFrames with a fresh index.
    """
    check_varying_length(df)
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if n_test_per_length < 1:
        raise ValueError(f"n_test_per_length must be >= 1, got {n_test_per_length}")
    kept = df[df["total_reads"] >= min_reads]
    random_set = kept[kept["set"] == "random"]
    test_random = _top_reads_per_length(random_set, n_test_per_length)
    test_human = _top_reads_per_length(kept[kept["set"] == "human"], n_test_per_length)
    rest, _ = drop_test_sequences(random_set.drop(index=test_random.index), test_random, test_human)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rest))
    if max_train is not None:  # keep the train/validation ratio
        order = order[: int(round(max_train / (1 - val_fraction)))]
    n_val = int(round(val_fraction * len(order)))
    val = rest.iloc[np.sort(order[:n_val])]
    train = rest.iloc[np.sort(order[n_val:])]
    parts = [p.reset_index(drop=True) for p in (train, val, test_random, test_human)]
    return UTRSplit(*parts)


def fit_label_scaler(train: pd.DataFrame, column: str = "rl") -> StandardScaler:
    """A :class:`~sklearn.preprocessing.StandardScaler` fitted on the training labels only."""
    return StandardScaler().fit(train[[column]].to_numpy(dtype=float))


def scale_labels(df: pd.DataFrame, scaler: StandardScaler, column: str = "rl") -> np.ndarray:
    """Scaled labels ``[n]`` (float32) of ``df[column]``."""
    return scaler.transform(df[[column]].to_numpy(dtype=float)).ravel().astype(np.float32)


def unscale(values: np.ndarray, scaler: StandardScaler) -> np.ndarray:
    """Back from scaled units to MRL: ``[n]`` float64."""
    return scaler.inverse_transform(np.asarray(values, dtype=float).reshape(-1, 1)).ravel()


#: The paper behind every Sample et al. 2019 data set (varying-length, eGFP, Optimus models).
SAMPLE_2019_CITATION = (
    "Sample PJ, Wang B, Reid DW, Presnyak V, McFadyen IJ, Morris DR, Seelig G. Human 5' UTR "
    "design and variant effect prediction from a massively parallel translation assay. "
    "Nat Biotechnol 37, 803-809 (2019)."
)

UTR_VARYING_LENGTH = register(
    DataSet(
        name=NAME,
        description=(
            "Polysome-profiled 5' UTRs of 25-100 nt (random and human sets) with mean "
            "ribosome load, Sample et al. 2019"
        ),
        files=(
            RemoteFile(
                VARYING_LENGTH_FILE,
                (
                    "https://ftp.ncbi.nlm.nih.gov/geo/samples/GSM4084nnn/GSM4084997/suppl/"
                    "GSM4084997_varying_length_25to100.csv.gz",
                    "https://www.ncbi.nlm.nih.gov/geo/download/?acc=GSM4084997&format=file&"
                    "file=GSM4084997%5Fvarying%5Flength%5F25to100%2Ecsv%2Egz",
                ),
                None,
                compression="gzip",
            ),
        ),
        licence="public GEO record (NCBI places no restrictions on GEO data)",
        redistributable=True,
        citation=SAMPLE_2019_CITATION,
        schema=(
            "CSV with columns utr, set (random|human), total_reads, rl, len (+ others); "
            "total_reads >= 10 keeps 83,919 random and 15,555 human rows"
        ),
        synthesize=synthesize_varying_length,
        loader=_load,
        shared_subdir="utr",
        profiles=("full",),  # the GEO training table: paper-scale runs only
        homepage="https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc=GSM4084997",
        extra={"uncompressed_mirror": RNAFM_MIRROR},
    )
)
