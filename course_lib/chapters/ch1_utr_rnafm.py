"""Chapter 1, ``notebooks/01_utr_rnafm.ipynb``: 5' UTR ribosome load from RNA-FM embeddings.

The chapter's recipe: settings per profile (:data:`SETTINGS`), the published anchors
(:data:`ANCHORS`), training one head variant of
:class:`~course_lib.models.utr_resnet.Human5PrimeUTRPredictor` from the embedding cache
(:func:`train_head`), metrics in scaled and MRL units next to the anchors
(:func:`head_metrics_table`) and error by UTR length (:func:`error_by_length`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler
from torch import nn

from course_lib.datasets.utr import TEST_NAMES, unscale
from course_lib.embedding_cache import EmbeddingCache, UTRBatches
from course_lib.encoding import Padding
from course_lib.metrics import regression_metrics
from course_lib.models.utr_resnet import Human5PrimeUTRPredictor
from course_lib.training import FitResult, fit, predict, seed_everything

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
