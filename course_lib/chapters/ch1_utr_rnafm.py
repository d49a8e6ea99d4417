"""Chapter 1, ``notebooks/01_utr_rnafm.ipynb``: 5' UTR ribosome load from RNA-FM embeddings.

The chapter's recipe: settings per profile (:data:`SETTINGS`), the published anchors
(:data:`ANCHORS`), training one head variant of
:class:`~course_lib.models.utr_resnet.Human5PrimeUTRPredictor` from the embedding cache
(:func:`train_head`), metrics in scaled and MRL units next to the anchors
(:func:`head_metrics_table`) and error by UTR length (:func:`error_by_length`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn

from course_lib.datasets.utr import TEST_NAMES, unscale
from course_lib.embedding_cache import EmbeddingCache, UTRBatches
from course_lib.encoding import Padding, one_hot
from course_lib.exercises import Comparison, Exercise, Verdict, check, compare_arrays
from course_lib.metrics import regression_metrics
from course_lib.models.framepool import SCORING_BATCH, Average, load_framepool
from course_lib.models.utr_resnet import Human5PrimeUTRPredictor
from course_lib.training import FitResult, fit, predict, seed_everything
from course_lib.utr_protocol import scores_with_intervals

NOTEBOOK = "01_utr_rnafm.ipynb"

#: Settings per profile (resolve with :func:`course_lib.profiles.chapter_settings`).
#: ``rnafm_checkpoint``: ``None`` = small untrained backbone, ``"default"`` =
#: ``checkpoints_dir()/RNA-FM_pretrained.pth``, or a path.
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        "n_train": 1200,
        "n_test_per_length": 5,
        "val_fraction": 0.1,
        "epochs": 4,
        "batch_size": 64,
        "lr": 3e-3,
        "channels": 16,
        "patience": None,
        "rnafm_checkpoint": None,
        "small_backbone": {"layers": 2, "embed_dim": 32, "ffn_embed_dim": 64, "attention_heads": 4},
        "embed_batch_size": 128,
        "n_boot": 200,
    },
    "laptop": {
        "n_train": 10_000,
        "n_test_per_length": 100,
        "val_fraction": 0.1,
        "epochs": 6,
        "batch_size": 64,
        "lr": 1e-3,
        "channels": 64,
        "patience": 3,
        "rnafm_checkpoint": None,
        "small_backbone": {
            "layers": 4,
            "embed_dim": 96,
            "ffn_embed_dim": 192,
            "attention_heads": 4,
        },
        "embed_batch_size": 128,
        "n_boot": 1000,
    },
    "full": {
        "n_train": None,
        "n_test_per_length": 100,
        "val_fraction": 0.1,
        "epochs": 30,
        "batch_size": 64,
        "lr": 1e-3,
        "channels": 64,
        "patience": 5,
        "rnafm_checkpoint": "default",
        "small_backbone": {
            "layers": 4,
            "embed_dim": 96,
            "ffn_embed_dim": 192,
            "attention_heads": 4,
        },
        "embed_batch_size": 256,
        "n_boot": 2000,
    },
    # sizes only, laid over laptop/full by COURSE_TINY=1 (course_lib.profiles)
    "tiny": {
        "n_train": 600,
        "n_test_per_length": 2,
        "epochs": 2,
        "channels": 8,
        "small_backbone": {"layers": 1, "embed_dim": 16, "ffn_embed_dim": 32, "attention_heads": 2},
        "n_boot": 50,
    },
}


#: Published figures on the real data (Random7600, Human7600), each with its protocol label.
ANCHORS = {
    "Optimus 5-Prime (Sample et al. 2019)": {
        "metric": "Pearson r^2",
        "protocol": "paper",
        "test_random": 0.838,
        "test_human": 0.778,
    },
    "RNA-FM embedding + ResNet head (UTR-LM benchmark notebook)": {
        "metric": "R2",
        "protocol": "test-selected epochs",
        "test_random": 0.816,
        "test_human": 0.787,
    },
    "RNA-FM paper, embedding alone": {
        "metric": "R2",
        "protocol": "test-selected epochs",
        "test_random": 0.876,
        "test_human": 0.816,
    },
}


@dataclass
class HeadRun:
    """One trained head: its model, training history and test predictions (scaled units)."""

    name: str
    input_types: tuple[str, ...]
    padding: str
    model: Human5PrimeUTRPredictor
    fit: FitResult
    predictions: dict[str, tuple[np.ndarray, np.ndarray]]


def train_head(
    name: str,
    input_types: Sequence[str],
    sequences: Mapping[str, Sequence[str]],
    labels: Mapping[str, np.ndarray],
    caches: Mapping[str, EmbeddingCache] | None = None,
    *,
    embed_dim: int = 640,
    channels: int = 64,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    padding: Padding = "right",
    patience: int | None = None,
    device: str = "auto",
    seed: int = 0,
    eval_parts: Sequence[str] = ("test_random", "test_human"),
    show_progress: bool = True,
) -> HeadRun:
    """Train a :class:`Human5PrimeUTRPredictor` on ``"train"``, select on ``"val"``, predict tests.

    ``sequences`` and (scaled) ``labels`` are ``{part: ...}`` with at least ``"train"``,
    ``"val"`` and ``eval_parts``; ``caches`` ``{part: EmbeddingCache}`` are aligned with
    ``sequences`` (needed for ``"emb-rnafm"``). The run's ``predictions[part]`` is
    ``(labels, predictions)`` in scaled units.
    """
    seed_everything(seed)

    def batches(part: str, shuffle: bool) -> UTRBatches:
        cache = caches[part] if caches is not None and "emb-rnafm" in input_types else None
        return UTRBatches(
            sequences[part],
            labels[part],
            tuple(input_types),
            cache,
            padding=padding,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
        )

    model = Human5PrimeUTRPredictor(input_types, embed_dim=embed_dim, channels=channels)
    result = fit(
        model,
        batches("train", True),
        batches("val", False),
        loss_fn=nn.functional.mse_loss,
        epochs=epochs,
        lr=lr,
        device=device,
        patience=patience,
        show_progress=show_progress,
        description=name,
    )
    predictions = {part: predict(model, batches(part, False), device) for part in eval_parts}
    return HeadRun(name, tuple(input_types), padding, model, result, predictions)


def mrl_metrics(
    y_scaled: np.ndarray, p_scaled: np.ndarray, scaler: StandardScaler
) -> dict[str, dict[str, float]]:
    """``{"scaled": metrics, "MRL": metrics}``: :func:`regression_metrics` in both units."""
    return {
        "scaled": regression_metrics(y_scaled, p_scaled),
        "MRL": regression_metrics(unscale(y_scaled, scaler), unscale(p_scaled, scaler)),
    }


def head_metrics_table(
    runs: Mapping[str, HeadRun],
    scaler: StandardScaler,
    columns: Sequence[str] = ("MSE", "R2", "Pearson r", "Pearson r^2", "Spearman rho"),
) -> pd.DataFrame:
    """One row per model and test set, ``(units, metric)`` columns, anchors appended.

    Anchor rows carry only their published metric (R² or squared Pearson r) in both units
    (the two are unit-free); the rest of an anchor row is empty.
    """
    rows = {}
    for name, run in runs.items():
        for part, (y, p) in run.predictions.items():
            both = mrl_metrics(y, p, scaler)
            rows[(name, TEST_NAMES.get(part, part))] = {
                (units, col): both[units][col] for units in ("scaled", "MRL") for col in columns
            }
    for name, anchor in ANCHORS.items():
        for part, label in TEST_NAMES.items():
            rows[(f"anchor: {name}", label)] = {
                (units, anchor["metric"]): anchor[part] for units in ("scaled", "MRL")
            }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["model", "test set"]
    return table.reindex(columns=pd.MultiIndex.from_product([("scaled", "MRL"), columns]))


def error_by_length(lengths: np.ndarray, y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Per UTR length: ``n``, ``MAE`` and ``MSE`` of predictions ``p`` against ``y``."""
    frame = pd.DataFrame({"len": np.asarray(lengths), "err": np.asarray(p) - np.asarray(y)})
    grouped = frame.groupby("len")["err"]
    return pd.DataFrame(
        {
            "n": grouped.size(),
            "MAE": grouped.apply(lambda e: float(np.mean(np.abs(e)))),
            "MSE": grouped.apply(lambda e: float(np.mean(e**2))),
        }
    )


# ----------------------------------------------------------------------------- real anchors

#: Library indicator index of the varying-length (random 25-100 nt) library in Framepool's
#: combined model (index 0 is the eGFP library; see ``FRAMEPOOL_EGFP_LIBRARY``).
FRAMEPOOL_VARYING_LIBRARY = 1
#: The published Framepool files chapter 1 scores: ``{row name: (file name, library)}``.
FRAMEPOOL_ROWS = {
    "Framepool combined": ("Framepool combined", FRAMEPOOL_VARYING_LIBRARY),
    "Framepool 25-100-nt": ("Framepool 25-100-nt", None),
}
#: Name of the row of MTtrans's shipped predictions (column ``pred_stride1113``).
PEER_ROW = "MTtrans (shipped)"


def framepool_predictor(
    path: str | Path,
    library: int | None = None,
    average: Average = "sequence",
    batch: int = SCORING_BATCH,
) -> Callable[[Sequence[str]], np.ndarray]:
    """``predict(utrs) -> [n]`` MRL of a published Framepool file on UTRs of any length.

    UTRs are one-hot encoded and padded on the 5' side (the 3' end touches the start codon,
    as Framepool was trained); ``library`` is the combined model's library index.
    """
    model = load_framepool(path, average=average).eval()

    @torch.no_grad()
    def predict(utrs: Sequence[str]) -> np.ndarray:
        utrs = list(utrs)
        out = []
        for start in range(0, len(utrs), batch):
            x = torch.from_numpy(one_hot(utrs[start : start + batch], padding="left"))
            out.append(model(x) if library is None else model(x, library=library))
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    return predict


def real_predictions(
    framepool_paths: Mapping[str, Path],
    test_sets: Mapping[str, pd.DataFrame],
    average: Average = "sequence",
    peer_column: str = "pred_stride1113",
) -> dict[str, dict[str, np.ndarray]]:
    """``{model: {test set: [n] MRL}}`` of the Framepool rows and the shipped MTtrans peer.

    ``framepool_paths`` maps the names of :data:`FRAMEPOOL_ROWS` (the registry's
    ``framepool_models`` files) to paths; ``test_sets`` ``{"Random7600": table, ...}`` with
    ``utr``, ``rl`` and the peer column.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    for row, (file_name, library) in FRAMEPOOL_ROWS.items():
        predict = framepool_predictor(framepool_paths[file_name], library, average)
        out[row] = {name: predict(table["utr"]) for name, table in test_sets.items()}
    out[PEER_ROW] = {name: table[peer_column].to_numpy(float) for name, table in test_sets.items()}
    return out


def scores_table(
    predictions: Mapping[str, Mapping[str, np.ndarray]],
    test_sets: Mapping[str, pd.DataFrame],
    n_boot: int,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per model and test set: R2, Pearson r^2, Spearman rho with 95 % intervals.

    Intervals are percentile bootstraps over UTRs within each length
    (:func:`course_lib.utr_protocol.scores_with_intervals`); columns ``<metric>``,
    ``<metric> ci low``, ``<metric> ci high``.
    """
    rows = {}
    for model, by_set in predictions.items():
        for name, pred in by_set.items():
            table = test_sets[name]
            lengths = table["utr"].str.len().to_numpy()
            scores = scores_with_intervals(table["rl"], pred, lengths, n_boot=n_boot, seed=seed)
            rows[(model, name)] = {
                f"{metric}{suffix}": value[key]
                for metric, value in scores.items()
                for suffix, key in (
                    ("", "estimate"),
                    (" ci low", "ci low"),
                    (" ci high", "ci high"),
                )
            }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["model", "test set"]
    return table


def table_metrics(table: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """``{model: {test set: {column: value}}}`` of :func:`scores_table` for the results file."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (model, name), row in table.iterrows():
        out.setdefault(model, {})[name] = {k: float(v) for k, v in row.items()}
    return out


def intervals_overlap(table: pd.DataFrame, a: str, b: str, test_set: str, metric: str) -> bool:
    """Whether the 95 % intervals of models ``a`` and ``b`` on ``test_set`` overlap."""
    low = table[f"{metric} ci low"]
    high = table[f"{metric} ci high"]
    return bool(
        low[(a, test_set)] <= high[(b, test_set)] and low[(b, test_set)] <= high[(a, test_set)]
    )


# ----------------------------------------------------------------------------- exercises

EXERCISES = {
    1: Exercise(
        "1.1",
        "an out-of-frame uAUG, in silico",
        (
            "Each mutant keeps its UTR's length: three letters are replaced, none inserted.",
            "Count 20 nt back from the UTR's 3' end (the start codon follows it) and write ATG "
            "over the next three letters; 20 is not a multiple of 3, so it is out of frame.",
            "Look at how chapter 2's AUG scan builds its mutants (course_lib.design).",
        ),
    ),
    2: Exercise(
        "1.2",
        "why the test sets are the best-measured UTRs",
        (
            "The ceiling of R2 is signal variance / (signal variance + noise variance).",
            "Noise variance is the mean of label_noise_sd(total_reads) ** 2 over a set; the "
            "signal variance is the training labels' variance minus the training noise.",
            "See the noise-ceiling section of this chapter and utr.label_noise_sd.",
        ),
    ),
}


def out_of_frame_mutants(originals: Sequence[str]) -> list[str]:
    """Each UTR with ATG written over the three letters 20 nt before its 3' end (Exercise 1.1)."""
    return [s[: len(s) - 20] + "ATG" + s[len(s) - 17 :] for s in originals]


def check_exercise_1(mutants: Sequence[str] | None, originals: Sequence[str]) -> Verdict:
    """Exercise 1.1: the student's mutants of ``originals`` (list of str)."""

    def compare(answer: Sequence[str]) -> Comparison:
        expected = out_of_frame_mutants(originals)
        if len(answer) != len(expected):
            return Comparison(False, f"{len(answer)} mutants for {len(expected)} UTRs")
        wrong = sum(a != e for a, e in zip(answer, expected, strict=True))
        return Comparison(not wrong, f"{wrong} of {len(expected)} mutants are not as asked")

    return check(EXERCISES[1], mutants, compare)


def noise_ceilings(parts: Mapping[str, pd.DataFrame], noise_sd: Callable) -> dict[str, float]:
    """R2 ceiling of the training labels and of Random7600 under the noise model (Exercise 1.2)."""
    noise = {
        n: float(np.mean(noise_sd(parts[n]["total_reads"]) ** 2)) for n in ("train", "test_random")
    }
    signal = float(parts["train"]["rl"].var()) - noise["train"]
    return {name: signal / (signal + v) for name, v in noise.items()}


def check_exercise_2(
    ceiling: Mapping[str, float] | None, parts: Mapping[str, pd.DataFrame], noise_sd: Callable
) -> Verdict:
    """Exercise 1.2: ``{"train": ceiling, "test_random": ceiling}`` from this run's split."""
    expected = noise_ceilings(parts, noise_sd)

    def compare(answer: Mapping[str, float]) -> Comparison:
        if set(answer) != set(expected):
            return Comparison(False, f"expected the keys {sorted(expected)}")
        return compare_number_map(answer, expected)

    return check(EXERCISES[2], ceiling, compare)


def compare_number_map(answer: Mapping[str, float], expected: Mapping[str, float]) -> Comparison:
    names = sorted(expected)
    return compare_arrays([answer[n] for n in names], [expected[n] for n in names], 1e-6, 1e-9)
