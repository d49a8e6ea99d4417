"""Published 5' UTR models (Optimus evolution models, Framepool) and the ClinVar SNV table.

Real files (see ``../shared/data/README.md``):

- ``optimus_models`` (pjsample/human_5utr_modeling, GPL-3): ``evolution_model.hdf5`` (Keras
  1.2) and ``retrained_evolution_model.hdf5`` (Keras 2.1.4), both input ``[54, 4]``; and
  ``snv_phenotype_log_diff.csv``: 3,002 rows of the designed library's ClinVar section, each a
  50-nt UTR (``utr``) with its reference (``mother``), its measured MRL (``hrl``), the measured
  change from the reference (``obs_diff``) and the paper's predictions (``old_pred_diff``);
  its ``library`` column is ``snv`` (rows of another library are left out and reported).
- ``framepool_models`` (Karollus/5UTR, MIT): ``utr_model_50.h5``, ``utr_model_100_residual.h5``
  and ``utr_model_combined_residual.h5`` (Keras 2.2.4).

Synthetic stand-ins write randomly initialised weights in the same HDF5 layouts (predictions
are meaningless, and labelled synthetic) and an SNV table built from the planted MRL rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from course_lib.datasets.utr import SAMPLE_2019_CITATION, noisy_mrl, planted_mrl, sample_total_reads
from course_lib.datasets.utr_testsets import read_mrl_table
from course_lib.models.keras_weights import write_keras_weights
from course_lib.registry import DataSet, RemoteFile, register

_OPTIMUS = (
    "https://raw.githubusercontent.com/pjsample/human_5utr_modeling/"
    "d53df410c7fb3fcd4bc4541bd7e8c6dc52b66fbe"
)
_FRAMEPOOL = "https://raw.githubusercontent.com/Karollus/5UTR/c575f9cdca0cac1ffa88eb18e4435fdfbc674b08/Models"
EVOLUTION = "evolution_model.hdf5"
RETRAINED_EVOLUTION = "retrained_evolution_model.hdf5"
SNV_TABLE = "snv_phenotype_log_diff.csv"
FRAMEPOOL_FILES = {
    "Framepool 50-nt": "utr_model_50.h5",
    "Framepool 25-100-nt": "utr_model_100_residual.h5",
    "Framepool combined": "utr_model_combined_residual.h5",
}
#: Library indicator index of the eGFP (GSM3130435) library in the combined model.
FRAMEPOOL_EGFP_LIBRARY = 0
SNV_COLUMNS = ("utr", "mother", "hrl", "obs_diff")
SNV_OPTIONAL = ("old_pred_diff", "gene_symbol", "clin_sig", "id", "total")
#: ``library`` value of the ClinVar SNV rows in the designed library's tables.
SNV_LIBRARY = "snv"


@dataclass(frozen=True)
class ModelFiles:
    """Paths of a folder of published model files, by name."""

    paths: dict[str, Path]

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]


@dataclass(frozen=True)
class OptimusFiles(ModelFiles):
    """The evolution models and the ClinVar SNV table (variant rows only)."""

    snvs: pd.DataFrame


def read_snv_table(path: str | Path) -> pd.DataFrame:
    """The ClinVar SNV rows: variant UTR, reference UTR, measured MRL of both, measured change.

    Only rows of the :data:`SNV_LIBRARY` library are read. Reference rows
    (``utr == mother``) are dropped, and so are variants whose reference has no
    row of its own (their ``obs_diff`` is a placeholder 0); ``mother_mrl = hrl - obs_diff``;
    ``n_changed`` counts the bases in which a variant differs from its reference (most are
    single-nucleotide variants; a few ClinVar entries change more).

    Raises
    ------
    course_lib.tables.TableFormatError
        A needed column is missing or no row is left (see
        :func:`course_lib.datasets.utr_testsets.read_mrl_table`).
    """
    fix = f"the {SNV_TABLE} of Sample et al. is needed: python -m data_scripts fetch optimus_models"
    table = read_mrl_table(
        path,
        SNV_COLUMNS,
        SNV_OPTIONAL,
        keep={"library": (SNV_LIBRARY,)},
        sequence_columns=("utr", "mother"),
        fix=fix,
    )
    references = set(table.loc[table["utr"] == table["mother"], "utr"])
    variants = table[table["utr"] != table["mother"]]
    measured = variants["mother"].isin(references)
    print(
        f"{Path(path).name}: {int((~measured).sum())} variant rows left out: their reference "
        "was not measured (obs_diff is a placeholder 0)"
    )
    variants = variants[measured].reset_index(drop=True)
    pairs = zip(variants["utr"], variants["mother"], strict=True)
    variants["n_changed"] = [sum(x != y for x, y in zip(u, m, strict=False)) for u, m in pairs]
    several = int((variants["n_changed"] != 1).sum())
    print(f"{Path(path).name}: {len(variants):,} variant rows, {several} change more than one base")
    variants["mother_mrl"] = variants["hrl"] - variants["obs_diff"]
    return variants


def _load_optimus(folder: Path) -> OptimusFiles:
    paths = {"evolution": folder / EVOLUTION, "retrained evolution": folder / RETRAINED_EVOLUTION}
    return OptimusFiles(paths, read_snv_table(folder / SNV_TABLE))


def _load_framepool(folder: Path) -> ModelFiles:
    return ModelFiles({name: folder / file for name, file in FRAMEPOOL_FILES.items()})


def _random_layers(shapes: dict[str, tuple[int, ...]], rng: np.random.Generator) -> dict:
    return {
        name: {"kernel": rng.normal(0, 0.05, shape), "bias": np.zeros(shape[-1])}
        for name, shape in shapes.items()
    }


def synthesize_optimus(folder: Path, seed: int) -> None:
    """Random-weight evolution models (both layouts) and a planted-rule SNV table."""
    rng = np.random.default_rng(seed)
    shapes = {
        "convolution1d_1": (8, 4, 40),
        "convolution1d_2": (8, 40, 40),
        "dense_1": (1600, 40),
        "dense_2": (40, 1),
    }
    write_keras_weights(folder / EVOLUTION, _random_layers(shapes, rng), keras_version="1.2.0")
    write_keras_weights(folder / RETRAINED_EVOLUTION, _random_layers(shapes, rng))
    mothers = ["".join(rng.choice(list("ACGT"), 50)) for _ in range(600)]
    rows = []
    for mother in mothers:
        for position in rng.choice(50, 4, replace=False):
            base = rng.choice([b for b in "ACGT" if b != mother[position]])
            rows.append((mother[:position] + base + mother[position + 1 :], mother))
    utrs, refs = [r[0] for r in rows], [r[1] for r in rows]
    reads = sample_total_reads(len(rows), rng) + 200
    hrl = noisy_mrl(planted_mrl(utrs), reads, rng)
    reference_mrl = dict(
        zip(mothers, noisy_mrl(planted_mrl(mothers), reads[:600], rng), strict=True)
    )
    table = pd.DataFrame(
        {
            "utr": mothers + utrs,
            "mother": mothers + refs,
            "hrl": [reference_mrl[m] for m in mothers] + list(hrl),
            "obs_diff": [0.0] * len(mothers)
            + [h - reference_mrl[m] for h, m in zip(hrl, refs, strict=True)],
        }
    )
    table["gene_symbol"] = "synthetic"
    table["library"] = SNV_LIBRARY
    table.to_csv(folder / SNV_TABLE)


def synthesize_framepool(folder: Path, seed: int) -> None:
    """Random-weight Framepool files in the Keras 2 layout (combined one with its regression)."""
    rng = np.random.default_rng(seed)
    shapes = {
        "convolution_0": (7, 4, 128),
        "convolution_1": (7, 128, 128),
        "convolution_2": (7, 128, 128),
        "fully_connected_0": (768, 64),
        "mrl_output_unscaled": (64, 1),
    }
    for name, file in FRAMEPOOL_FILES.items():
        layers = _random_layers(shapes, rng)
        names = list(layers) + (["add_residual_1", "add_residual_2"] if "residual" in file else [])
        if "combined" in name:
            layers["scaling_regression"] = {"kernel": np.array([[1.0], [1.0], [0.0], [0.0]])}
            names.append("scaling_regression")
        write_keras_weights(folder / file, layers, names)


OPTIMUS_MODELS = register(
    DataSet(
        name="optimus_models",
        description=(
            "Optimus 5-Prime evolution models (Keras 1.2 and 2.1.4) and 3,002 ClinVar 5' UTR "
            "SNV rows with measured MRL, Sample et al. 2019"
        ),
        files=(
            RemoteFile(
                EVOLUTION,
                (f"{_OPTIMUS}/modeling/saved_models/{EVOLUTION}",),
                "892052000f74bde49f5612fd10c83cfaa259b479647aa227807bff5d3adfea1c",
            ),
            RemoteFile(
                RETRAINED_EVOLUTION,
                (f"{_OPTIMUS}/modeling/saved_models/{RETRAINED_EVOLUTION}",),
                "fdf0f676b0c16a3ef594bb09c2382637266a42e7cee8b16730a8c0e2d2d42c9b",
            ),
            RemoteFile(
                SNV_TABLE,
                (f"{_OPTIMUS}/human_5utrs/data/{SNV_TABLE}",),
                "9e61df9e4d47cde80c028c618f9f96ab0890033b5ad3be2fdb06efe042d61cbb",
            ),
        ),
        licence="GPL-3 (pjsample/human_5utr_modeling)",
        redistributable=True,
        citation=SAMPLE_2019_CITATION,
        schema=(
            "2 Keras HDF5 (input [54, 4]: UTR + ATGG); CSV of 3,002 rows: utr, mother, hrl, "
            "obs_diff, old_pred_diff, gene_symbol, clin_sig, library = snv (+ 49 others)"
        ),
        synthesize=synthesize_optimus,
        loader=_load_optimus,
        shared_subdir="optimus",
        homepage="https://github.com/pjsample/human_5utr_modeling",
    )
)

FRAMEPOOL_MODELS = register(
    DataSet(
        name="framepool_models",
        description="Framepool models of Karollus et al. 2021 (50-nt, 25-100-nt, combined)",
        files=tuple(
            RemoteFile(file, (f"{_FRAMEPOOL}/{file}",), sha)
            for file, sha in zip(
                FRAMEPOOL_FILES.values(),
                (
                    "387d97890b6f398499ed86f0fc6792897438394c692cb31352f5113250b4d83e",
                    "2b8181314d9ebdbe2cfb95490ef2fbd9c36dd65b9ad688d5f794cae05923e394",
                    "f009163ecb33e64f7a40db4f8da474317a1481003fdbacda95205736d956ad3b",
                ),
                strict=True,
            )
        ),
        licence="MIT (Karollus/5UTR)",
        redistributable=True,
        citation=(
            "Karollus A, Avsec Z, Gagneur J. Predicting mean ribosome load for 5'UTR of any "
            "length using deep learning. PLoS Comput Biol 17, e1008982 (2021)."
        ),
        schema="3 Keras 2.2.4 HDF5: model_weights/<layer>/<layer>_<n>/kernel:0, bias:0",
        synthesize=synthesize_framepool,
        loader=_load_framepool,
        shared_subdir="framepool",
        homepage="https://github.com/Karollus/5UTR",
    )
)
