"""Independent references for the ViennaRNA structure labels of chapter 5 (UTR-LM).

``utr_mfe``
    Smart5UTR's table of 20,000 real 50-nt UTRs of the m1Ψ eGFP library (Sample et al. 2019,
    GSM3130440) with measured mean ribosome load ``rl`` and an MFE ``energy_5utr`` computed
    by that project (kcal/mol). GPL-3.
``utrlm_sample``
    500 records of UTR-LM's pretraining format (``data/test.fasta`` of a UTR-LM fork): each
    header is ``MFE|dot-bracket|source|species or label|value``, the sequence 30-722 nt in
    the DNA alphabet. Apache-2.0.

Both give labels computed outside this course, so chapter 5 can check its own labels against
them (:mod:`course_lib.chapters.ch5_structure_check`). Synthetic stand-ins have the same
layout; their labels come from this machine's ViennaRNA, so a check on them only tests the plumbing.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.fasta import FastaFormatError, read_fasta, write_fasta
from course_lib.registry import DataSet, RemoteFile, register
from course_lib.tables import read_table

UTR_MFE = "utr_mfe"
UTR_MFE_FILE = "utr_RFregr_m1pseudo_2_MFE.testdata.csv"
_SMART5UTR_COMMIT = "0085dd6982e112257ee4b0a7225b5ef3b6db59e9"
UTR_MFE_COLUMNS = ("utr", "rl", "energy_5utr")

UTRLM_SAMPLE = "utrlm_sample"
UTRLM_SAMPLE_FILE = "test.fasta"
_UTRLM_COMMIT = "a52d1276d3a2cc64fa0584223a34b704071a0e0e"
#: Fields of a UTR-LM pretraining header, in order.
UTRLM_FIELDS = ("mfe", "structure", "source", "label", "value")
_DOT_BRACKET = frozenset("(.)")
_NUCLEOTIDES = frozenset("ACGTU")


class UTRLMHeaderError(FastaFormatError):
    """A UTR-LM record whose header is not ``MFE|dot-bracket|source|label|value``."""


def load_utr_mfe(path: str | Path, verbose: bool = True) -> pd.DataFrame:
    """Read Smart5UTR's MFE table the way it comes (unnamed index column, ``total`` left out).

    Returns
    -------
    pandas.DataFrame
        ``n`` rows (20,000 for the real file): ``utr`` (upper-case DNA alphabet), ``rl``
        (MRL) and ``energy_5utr`` (MFE, kcal/mol).
    """
    fix = f"fetch it again: python -m data_scripts fetch {UTR_MFE}"
    return read_table(
        path, UTR_MFE_COLUMNS, sequence_columns=("utr",), fix=fix, verbose=verbose
    ).table


def _check_dot_bracket(structure: str) -> str | None:
    """Why ``structure`` is not a balanced dot-bracket string, or ``None`` if it is one."""
    bad = sorted(set(structure) - _DOT_BRACKET)
    if bad:
        return f"characters {bad} outside '(', ')' and '.'"
    depth = 0
    for char in structure:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return "a ')' closes no '('"
    return f"{depth} unclosed '('" if depth else None


def parse_utrlm_header(header: str, sequence: str, where: str = "record") -> dict[str, object]:
    """Fields of one UTR-LM header ``MFE|dot-bracket|source|species or label|value``.

    Parameters
    ----------
    header
        The header line without ``>``.
    sequence
        The record's sequence (its length must equal the dot-bracket's).
    where
        Names the record in error messages (file and line).

    Returns
    -------
    dict
        ``mfe`` (float, kcal/mol, 0 or negative), ``structure`` (str), ``source`` (str),
        ``label`` (str: a species name or a number, kept as text) and ``value`` (float).

    Raises
    ------
    UTRLMHeaderError
        Naming the record, the field and what was expected.
    """
    fields = header.split("|")
    expected = "expected 'MFE|dot-bracket|source|species or label|value'"
    if len(fields) != len(UTRLM_FIELDS):
        raise UTRLMHeaderError(f"{where}: header has {len(fields)} '|' fields, {expected}")
    mfe_text, structure, source, label, value_text = (f.strip() for f in fields)
    numbers = {}
    for name, text in (("MFE", mfe_text), ("value", value_text)):
        try:
            numbers[name] = float(text)
        except ValueError:
            raise UTRLMHeaderError(
                f"{where}: {name} {text!r} is not a number; {expected}"
            ) from None
        if not math.isfinite(numbers[name]):
            raise UTRLMHeaderError(f"{where}: {name} is {text!r}; a finite number is needed")
    if numbers["MFE"] > 0:
        raise UTRLMHeaderError(f"{where}: MFE {mfe_text} is positive; an MFE is 0 or negative")
    problem = _check_dot_bracket(structure)
    if problem:
        raise UTRLMHeaderError(f"{where}: dot-bracket field has {problem}; {expected}")
    if len(structure) != len(sequence):
        raise UTRLMHeaderError(
            f"{where}: dot-bracket has {len(structure)} characters but the sequence "
            f"{len(sequence)} nt; header and sequence do not belong together"
        )
    return {
        "mfe": numbers["MFE"],
        "structure": structure,
        "source": source,
        "label": label,
        "value": numbers["value"],
    }


def load_utrlm_records(path: str | Path) -> pd.DataFrame:
    """Read a FASTA file in UTR-LM's pretraining format and check every header.

    Returns
    -------
    pandas.DataFrame
        One row per record, in file order: ``sequence`` (upper-case DNA alphabet), ``mfe``,
        ``structure``, ``source``, ``label``, ``value``.

    Raises
    ------
    UTRLMHeaderError
        A header is malformed (the message names the record).
    course_lib.fasta.FastaFormatError
        The file is empty, repeats a header or holds a record without sequence.
    """
    result = read_fasta(path, to_dna=True)
    rows = []
    for number, record in enumerate(result.records, start=1):
        header = f"{record.name} {record.description}".strip()
        where = f"{Path(path).name}, record {number} (>{header[:40]})"
        bad = sorted(set(record.sequence) - _NUCLEOTIDES)
        if bad:
            raise FastaFormatError(f"{where}: sequence holds {bad}; only A, C, G, T/U expected")
        rows.append(
            {"sequence": record.sequence, **parse_utrlm_header(header, record.sequence, where)}
        )
    return pd.DataFrame(rows, columns=["sequence", *UTRLM_FIELDS])


# ----------------------------------------------------------------------------- stand-ins


def _random_sequences(rng: np.random.Generator, lengths: np.ndarray) -> list[str]:
    letters = np.array(list("ACGT"))
    return ["".join(letters[rng.integers(0, 4, n)]) for n in lengths]


def _fold_all(seqs: list[str]) -> tuple[list[str], np.ndarray]:
    from course_lib.structure import fold_sequences

    folded = fold_sequences(seqs, processes=1, show_progress=False)
    return folded.structures, np.round(folded.mfe.astype(float), 2)


def synthesize_utr_mfe(folder: Path, seed: int, n: int = 500) -> None:
    """Write a synthetic Smart5UTR table: random 50-mers, random MRL, this ViennaRNA's MFE."""
    rng = np.random.default_rng(seed)
    utrs = _random_sequences(rng, np.full(n, 50))
    _, mfe = _fold_all(utrs)
    table = pd.DataFrame(
        {"utr": utrs, "total": rng.random(n) * 1e-3, "rl": rng.uniform(2, 8, n), "energy_5utr": mfe}
    )
    table.to_csv(Path(folder) / UTR_MFE_FILE)


def synthesize_utrlm_sample(folder: Path, seed: int, n: int = 100) -> None:
    """Write a synthetic UTR-LM FASTA: random 30-150 nt sequences with this ViennaRNA's labels."""
    rng = np.random.default_rng(seed)
    seqs = _random_sequences(rng, rng.integers(30, 151, n))
    structures, mfe = _fold_all(seqs)
    headers = [
        f"{e:.2f}|{s}|synthetic|{rng.choice(['human', 'mouse'])}|{rng.normal():.6f}"
        for e, s in zip(mfe, structures, strict=True)
    ]
    write_fasta(Path(folder) / UTRLM_SAMPLE_FILE, headers, seqs, width=0)


#: Pinned raw addresses, at the commits named in ``../shared/data/README.md``.
UTR_MFE_URL = (
    f"https://raw.githubusercontent.com/deepomicslab/Smart5UTR/{_SMART5UTR_COMMIT}/"
    f"fig_scripts/{UTR_MFE_FILE}"
)
UTRLM_SAMPLE_URL = (
    f"https://raw.githubusercontent.com/Liyunlong24/UTR-LM/{_UTRLM_COMMIT}/data/{UTRLM_SAMPLE_FILE}"
)


def _load_utr_mfe(folder: Path) -> pd.DataFrame:
    return load_utr_mfe(Path(folder) / UTR_MFE_FILE)


def _load_utrlm_sample(folder: Path) -> pd.DataFrame:
    return load_utrlm_records(Path(folder) / UTRLM_SAMPLE_FILE)


UTR_MFE_DATASET = register(
    DataSet(
        name=UTR_MFE,
        description=(
            "20,000 real 50-nt m1Ψ eGFP UTRs (Sample et al. 2019) with MRL and an MFE "
            "computed by Smart5UTR"
        ),
        files=(
            RemoteFile(
                UTR_MFE_FILE,
                (UTR_MFE_URL,),
                "d5d9e9f38f8c88761a89162fdfd6a723c0dfcd1a9e983e4e6583de7d317016f1",
            ),
        ),
        licence="GPL-3.0 (Smart5UTR); data from GEO GSM3130440",
        redistributable=True,
        citation=(
            "Smart5UTR (deepomicslab, GitHub), fig_scripts; data: Sample PJ et al., Human 5' "
            "UTR design and variant effect prediction from a massively parallel translation "
            "assay. Nat Biotechnol 37, 803-809 (2019)."
        ),
        schema=(
            "CSV, unnamed index column, then utr (50 nt, DNA alphabet), total, rl (MRL), "
            "energy_5utr (MFE, kcal/mol); 20,000 rows"
        ),
        synthesize=synthesize_utr_mfe,
        loader=_load_utr_mfe,
        shared_subdir="utr_mfe",
        homepage="https://github.com/deepomicslab/Smart5UTR",
    )
)

UTRLM_SAMPLE_DATASET = register(
    DataSet(
        name=UTRLM_SAMPLE,
        description="500 UTRs in UTR-LM's pretraining format, with ViennaRNA MFE and dot-bracket",
        files=(
            RemoteFile(
                UTRLM_SAMPLE_FILE,
                (UTRLM_SAMPLE_URL,),
                "5632210d95f5fddb3e58cb8b17dfcae245aea075e7dd8d5ac59934dd691c3dcb",
            ),
        ),
        licence="Apache-2.0 (Liyunlong24/UTR-LM fork; upstream a96123155/UTR-LM is GPL-3.0)",
        redistributable=True,
        citation=(
            "Chu Y, Yu D, Li Y, et al. A 5' UTR language model for decoding untranslated "
            "regions of mRNA and function predictions. Nat Mach Intell 6, 449-460 (2024)."
        ),
        schema=(
            "FASTA, 500 records, 30-722 nt, DNA alphabet; header "
            "MFE|dot-bracket|source|species or label|value"
        ),
        synthesize=synthesize_utrlm_sample,
        loader=_load_utrlm_sample,
        shared_subdir="utrlm_sample",
        homepage="https://github.com/Liyunlong24/UTR-LM",
    )
)
