"""Check the course's ViennaRNA labels against labels computed elsewhere (chapter 5).

UTR-LM pretrains on ViennaRNA's minimum free energy (MFE) and MFE structure. Chapter 5
computes them with :mod:`course_lib.structure` (``RNA.fold`` on the UTR alone, T read as U,
ViennaRNA's defaults: 37 °C, Turner 2004 parameters, dangles 2). Two independent files let a
student see that these labels are the ones a published project computed:
``utr_mfe`` (Smart5UTR's MFE of 20,000 real UTRs) and ``utrlm_sample`` (UTR-LM's MFE and
dot-bracket labels of 500 UTRs), both in :mod:`course_lib.datasets.structure_refs`.

:func:`structure_label_agreement` scores agreement; :func:`check_utr_mfe` and
:func:`check_utrlm_sample` fold with the course's own code and score it; :func:`fold_variant`
and :func:`variant_agreement` fold with one setting changed (temperature, parameter set,
dangles, a constant flank) to show how far each setting moves the labels, which is how a
difference would be explained.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from course_lib.metrics import pearson_r
from course_lib.progress import progress
from course_lib.structure import FoldedRNA, fold_sequences
from course_lib.training_pool import thread_budget

#: ViennaRNA energy parameter sets :func:`fold_variant` can load (Turner 2004 is the default).
PARAMETER_SETS = ("turner2004", "turner1999", "andronescu2007", "langdon2018")
#: Below this many sequences :func:`fold_variant` folds on one worker.
_MIN_PARALLEL = 256


@dataclass(frozen=True)
class LabelAgreement:
    """Agreement of ``n`` MFEs (and optionally structures) with a reference.

    Attributes
    ----------
    reference
        What the labels were compared with (e.g. ``"utr_mfe energy_5utr"``).
    n
        Sequences compared.
    pearson_r
        Pearson correlation of the MFEs.
    fraction_mfe_within
        Share of sequences with ``|MFE - reference| <= tolerance`` (a small epsilon absorbs
        float32 storage and the reference's rounding to 0.01).
    tolerance
        In kcal/mol.
    max_abs_difference, mean_difference
        ``max |MFE - reference|`` and ``mean(MFE - reference)`` in kcal/mol.
    fraction_structure_equal
        Share of identical dot-brackets; ``None`` when no reference structures were given.
    """

    reference: str
    n: int
    pearson_r: float
    fraction_mfe_within: float
    tolerance: float
    max_abs_difference: float
    mean_difference: float
    fraction_structure_equal: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (for a results file's ``metrics``)."""
        return asdict(self)


def structure_label_agreement(
    mfe: Sequence[float] | np.ndarray,
    reference_mfe: Sequence[float] | np.ndarray,
    structures: Sequence[str] | None = None,
    reference_structures: Sequence[str] | None = None,
    *,
    tolerance: float = 0.05,
    reference: str = "reference",
) -> LabelAgreement:
    """Compare MFEs ``[n]`` (kcal/mol) and optionally dot-brackets with reference labels.

    Raises
    ------
    ValueError
        Lengths differ, fewer than two values, non-finite values, or structures given on one
        side only.
    """
    ours = np.asarray(mfe, dtype=float).ravel()
    theirs = np.asarray(reference_mfe, dtype=float).ravel()
    if ours.shape != theirs.shape or ours.size < 2:
        raise ValueError(
            f"need two MFE arrays of one length >= 2, got {ours.size} and {theirs.size}"
        )
    if not (np.isfinite(ours).all() and np.isfinite(theirs).all()):
        raise ValueError("an MFE is NaN or infinite; fold or read the sequences again")
    if (structures is None) != (reference_structures is None):
        raise ValueError("pass both structures and reference_structures, or neither")
    equal = None
    if structures is not None:
        if len(structures) != ours.size or len(reference_structures) != ours.size:
            raise ValueError(f"need {ours.size} structures on each side")
        same = [a == b for a, b in zip(structures, reference_structures, strict=True)]
        equal = float(np.mean(same))
    diff = ours - theirs
    return LabelAgreement(
        reference=reference,
        n=int(ours.size),
        pearson_r=pearson_r(theirs, ours),
        fraction_mfe_within=float(np.mean(np.abs(diff) <= tolerance + 1e-4)),
        tolerance=tolerance,
        max_abs_difference=float(np.abs(diff).max()),
        mean_difference=float(diff.mean()),
        fraction_structure_equal=equal,
    )


def _subset(n: int, size: int | None, seed: int) -> np.ndarray:
    if size is None or size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def check_utr_mfe(
    table: pd.DataFrame,
    fold: FoldedRNA | None = None,
    *,
    size: int | None = None,
    seed: int = 0,
    processes: int = 2,
    show_progress: bool = True,
) -> LabelAgreement:
    """The course's MFE labels of ``utr_mfe``'s UTRs against its ``energy_5utr``.

    Parameters
    ----------
    table
        From :func:`course_lib.datasets.structure_refs.load_utr_mfe` (``utr``,
        ``energy_5utr``).
    fold
        The course's labels of ``table["utr"]`` (e.g. ``fold_cached``); folded here with
        :func:`course_lib.structure.fold_sequences` when ``None``.
    size
        Compare a random subset of this many rows (``None``: all 20,000, about 40 s of one
        core; CI uses a subset).
    """
    rows = _subset(len(table), size, seed)
    utrs = table["utr"].to_numpy()[rows].tolist()
    if fold is None:
        fold = fold_sequences(utrs, processes=processes, show_progress=show_progress)
    elif len(fold) == len(table):
        fold = FoldedRNA(
            [fold.sequences[i] for i in rows], [fold.structures[i] for i in rows], fold.mfe[rows]
        )
    if [s.replace("U", "T") for s in fold.sequences] != utrs:
        raise ValueError("fold does not hold the table's UTRs in order; fold table['utr']")
    reference = table["energy_5utr"].to_numpy(dtype=float)[rows]
    return structure_label_agreement(fold.mfe, reference, reference="utr_mfe energy_5utr")


def check_utrlm_sample(
    records: pd.DataFrame,
    fold: FoldedRNA | None = None,
    *,
    max_length: int | None = None,
    processes: int = 2,
    show_progress: bool = True,
) -> LabelAgreement:
    """The course's MFE and dot-brackets of the UTR-LM sample against its headers' labels.

    ``records`` comes from :func:`course_lib.datasets.structure_refs.load_utrlm_records`;
    ``max_length`` keeps only records up to that many nt (folding time grows with the cube
    of the length: all 500 records take about 14 s of one core, the 367 up to 150 nt 3 s).
    The MFE tolerance is 0.005 kcal/mol: the headers carry ViennaRNA's two decimals.
    """
    if max_length is not None:
        records = records[records["sequence"].str.len() <= max_length]
    if fold is None:
        fold = fold_sequences(records["sequence"].tolist(), processes, show_progress=show_progress)
    if len(fold) != len(records):
        raise ValueError(f"{len(fold)} folds for {len(records)} records; fold records['sequence']")
    return structure_label_agreement(
        fold.mfe,
        records["mfe"].to_numpy(dtype=float),
        fold.structures,
        records["structure"].tolist(),
        tolerance=0.005,
        reference="utrlm_sample header labels",
    )


# ----------------------------------------------------------------------------- variants


def _load_parameters(name: str) -> None:
    import RNA

    loader = {
        "turner2004": RNA.params_load_RNA_Turner2004,
        "turner1999": RNA.params_load_RNA_Turner1999,
        "andronescu2007": RNA.params_load_RNA_Andronescu2007,
        "langdon2018": RNA.params_load_RNA_Langdon2018,
    }[name]
    loader()


_WORKER: dict[str, Any] = {}


def _init_worker(settings: Mapping[str, Any]) -> None:
    import RNA

    _load_parameters(settings["parameters"])
    model = RNA.md()
    model.temperature = settings["temperature"]
    model.dangles = settings["dangles"]
    _WORKER.update(model=model, flank5=settings["flank5"], flank3=settings["flank3"])


def _fold_variant_one(seq: str) -> tuple[str, float]:
    import RNA

    full = _WORKER["flank5"] + seq + _WORKER["flank3"]
    structure, mfe = RNA.fold_compound(full, _WORKER["model"]).mfe()
    return structure, float(mfe)


def fold_variant(
    seqs: Sequence[str],
    *,
    temperature: float = 37.0,
    parameters: str = "turner2004",
    dangles: int = 2,
    flank5: str = "",
    flank3: str = "",
    processes: int = 2,
    show_progress: bool = True,
) -> FoldedRNA:
    """Fold ``seqs`` with one or more ViennaRNA settings changed from the defaults.

    With the defaults this gives exactly ``RNA.fold``'s labels. Folding runs in worker
    processes (parameter sets are global state in ViennaRNA, so this process keeps its own).

    Parameters
    ----------
    temperature
        In °C (ViennaRNA's default 37).
    parameters
        One of :data:`PARAMETER_SETS`.
    dangles
        ViennaRNA's dangling-end model (0, 1, 2 or 3; default 2).
    flank5, flank3
        Constant sequences folded with every UTR (e.g. the reporter's CDS start); the result
        holds the MFE and structure of the whole molecule, flanks included.
    processes
        Worker processes, at most :func:`~course_lib.training_pool.thread_budget`.

    Returns
    -------
    FoldedRNA
        ``sequences`` are the UTRs (RNA alphabet) without flanks.
    """
    rna = [s.upper().replace("T", "U") for s in seqs]
    settings = {
        "temperature": float(temperature),
        "parameters": parameters,
        "dangles": int(dangles),
        "flank5": flank5.upper().replace("T", "U"),
        "flank3": flank3.upper().replace("T", "U"),
    }
    if parameters not in PARAMETER_SETS:
        raise ValueError(f"parameters must be one of {PARAMETER_SETS}, got {parameters!r}")
    workers = 1 if len(rna) < _MIN_PARALLEL else max(1, min(processes, thread_budget()))
    context = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    bar = {"total": len(rna), "desc": "ViennaRNA folding (variant)", "unit": "seq"}
    with context.Pool(workers, initializer=_init_worker, initargs=(settings,)) as pool:
        results = pool.imap(_fold_variant_one, rna, chunksize=64)
        folded = list(progress(results, disable=not show_progress, **bar))
    structures = [s for s, _ in folded]
    return FoldedRNA(rna, structures, np.array([e for _, e in folded], dtype=np.float32))


#: Settings :func:`variant_agreement` tries by default, each a change from the defaults.
DEFAULT_VARIANTS: dict[str, dict[str, Any]] = {
    "ViennaRNA defaults (37 °C, Turner 2004, dangles 2)": {},
    "25 °C": {"temperature": 25.0},
    "Turner 1999 parameters": {"parameters": "turner1999"},
    "Andronescu 2007 parameters": {"parameters": "andronescu2007"},
    "dangles 0": {"dangles": 0},
    "eGFP CDS start (18 nt) folded with the UTR": {"flank3": "ATGGTGAGCAAGGGCGAG"},
}


def variant_agreement(
    seqs: Sequence[str],
    reference_mfe: Sequence[float] | np.ndarray,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    reference_structures: Sequence[str] | None = None,
    *,
    tolerance: float = 0.05,
    processes: int = 2,
    show_progress: bool = False,
) -> pd.DataFrame:
    """One row per folding variant: how well its labels match the reference.

    ``variants`` maps a label to :func:`fold_variant` keyword arguments (default
    :data:`DEFAULT_VARIANTS`). The row of the setting that reproduces the reference names the
    setting the reference was computed with; the other rows show how far each change moves
    the labels.

    Returns
    -------
    pandas.DataFrame
        Index: variant label; columns of :class:`LabelAgreement` (without ``reference``).
    """
    rows = {}
    for label, kwargs in progress(
        (variants or DEFAULT_VARIANTS).items(), desc="folding variants", disable=not show_progress
    ):
        fold = fold_variant(seqs, processes=processes, show_progress=False, **kwargs)
        structures = fold.structures if reference_structures is not None else None
        agreement = structure_label_agreement(
            fold.mfe, reference_mfe, structures, reference_structures, tolerance=tolerance
        )
        rows[label] = {k: v for k, v in agreement.as_dict().items() if k != "reference"}
    return pd.DataFrame(rows).T.rename_axis("ViennaRNA setting")
