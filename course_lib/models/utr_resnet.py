"""The RNA-FM tutorial's 5' UTR head: a small 1-D ResNet on one-hot and/or embeddings.

``Human5PrimeUTRPredictor`` follows the RNA-FM UTR tutorial: one-hot sequence (4 channels)
and/or the backbone's embeddings reduced by a linear layer to 32 channels, concatenated
along channels; a 3-wide convolution to 64 channels; six pre-activation residual blocks with
strides 2, 1, 2, 1, 2, 1; global average pooling; dropout 0.2; a linear output. Weights are
initialised as in the tutorial (:func:`tutorial_weights_init`). The embedding width comes from
the backbone (640 for RNA-FM), so a small backbone works too.

The chapter's recipe is here too: settings per profile (:data:`CHAPTER1`), training one head
variant from the embedding cache (:func:`train_head`), metrics in scaled and MRL units next to
the published anchors (:func:`metrics_table`) and error by UTR length (:func:`error_by_length`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn

from course_lib.datasets.utr import unscale
from course_lib.embedding_cache import EmbeddingCache, UTRBatches
from course_lib.encoding import Padding
from course_lib.metrics import regression_metrics
from course_lib.training import FitResult, fit, predict, seed_everything

INPUT_TYPES = ("seq", "emb-rnafm")


class ResBlock1d(nn.Module):
    """Pre-activation residual block: BN-ReLU-conv3(stride)-BN-ReLU-conv3, 1x1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm1d(in_channels),
            nn.ReLU(),
            nn.Conv1d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm1d(out_channels),
            nn.ReLU(),
            nn.Conv1d(out_channels, out_channels, 3, padding=1, bias=False),
        )
        self.shortcut = (
            nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm1d(out_channels),
            )
            if stride > 1 or in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[b, in_channels, L]`` -> ``[b, out_channels, ceil(L / stride)]``."""
        return self.body(x) + self.shortcut(x)


def tutorial_weights_init(module: nn.Module) -> None:
    """The tutorial's initialisation: linear N(0, 0.001); conv Kaiming-normal; BN (1, 0)."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.001)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv1d):
        nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm1d) and module.affine:
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class Human5PrimeUTRPredictor(nn.Module):
    """Predict (scaled) mean ribosome load from one-hot UTRs and/or backbone embeddings.

    Parameters
    ----------
    input_types
        Non-empty subset of ``("seq", "emb-rnafm")``.
    embed_dim
        Width of the backbone embeddings (640 for RNA-FM); ignored without ``"emb-rnafm"``.
    reduced_dim
        Channels the embeddings are reduced to by a linear layer (32 in the tutorial).
    channels, strides, dropout
        Width of the ResNet, stride of each residual block, dropout before the output.
    """

    def __init__(
        self,
        input_types: Sequence[str] = ("seq", "emb-rnafm"),
        embed_dim: int = 640,
        reduced_dim: int = 32,
        channels: int = 64,
        strides: Sequence[int] = (2, 1, 2, 1, 2, 1),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        unknown = set(input_types) - set(INPUT_TYPES)
        if unknown or not input_types:
            raise ValueError(
                f"input_types must be a non-empty subset of {INPUT_TYPES}, got {input_types!r}"
            )
        self.input_types = tuple(input_types)
        in_channels = 0
        if "seq" in self.input_types:
            in_channels += 4
        self.reduction = None
        if "emb-rnafm" in self.input_types:
            self.reduction = nn.Linear(embed_dim, reduced_dim)
            in_channels += reduced_dim
        blocks = [ResBlock1d(channels, channels, stride) for stride in strides]
        self.predictor = nn.Sequential(
            nn.Conv1d(in_channels, channels, 3, padding=1),
            *blocks,
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels, 1),
        )
        self.apply(tutorial_weights_init)

    def forward(self, seq: torch.Tensor | None = None, emb: torch.Tensor | None = None):
        """Scaled MRL ``[b]``.

        Parameters
        ----------
        seq
            One-hot ``[b, L, 4]`` (padding rows all zero); needed with ``"seq"``.
        emb
            Embeddings ``[b, L, embed_dim]`` padded on the same side; needed with
            ``"emb-rnafm"``.
        """
        parts = []
        if "seq" in self.input_types:
            if seq is None:
                raise ValueError("this model uses input type 'seq': pass seq=[b, L, 4]")
            parts.append(seq.transpose(1, 2))
        if self.reduction is not None:
            if emb is None:
                raise ValueError("this model uses input type 'emb-rnafm': pass emb=[b, L, D]")
            parts.append(self.reduction(emb).transpose(1, 2))
        if len(parts) == 2 and parts[0].shape[2] != parts[1].shape[2]:
            raise ValueError(
                f"seq has length {parts[0].shape[2]} but emb has {parts[1].shape[2]}; pad both "
                "to the same length"
            )
        return self.predictor(torch.cat(parts, dim=1)).squeeze(-1)


# ----------------------------------------------------------------------------- chapter 1 recipe

#: Chapter 1 settings per profile (resolve with :func:`course_lib.profiles.chapter_settings`).
#: ``rnafm_checkpoint``: ``None`` = small untrained backbone, ``"default"`` =
#: ``checkpoints_dir()/RNA-FM_pretrained.pth``, or a path.
CHAPTER1 = {
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

#: Published figures on the real data (Random7600, Human7600).
ANCHORS = {
    "Optimus 5-Prime (Sample et al. 2019)": {
        "metric": "Pearson r^2",
        "test_random": 0.838,
        "test_human": 0.778,
    },
    "RNA-FM embedding + ResNet head (UTR-LM benchmark notebook)": {
        "metric": "R2",
        "test_random": 0.816,
        "test_human": 0.787,
    },
    "RNA-FM paper, embedding alone": {"metric": "R2", "test_random": 0.876, "test_human": 0.816},
}
TEST_NAMES = {"test_random": "Random7600", "test_human": "Human7600"}


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

    Parameters
    ----------
    sequences, labels
        ``{part: ...}`` with at least ``"train"``, ``"val"`` and ``eval_parts``; labels scaled.
    caches
        ``{part: EmbeddingCache}`` aligned with ``sequences`` (needed for ``"emb-rnafm"``).

    Returns
    -------
    HeadRun
        ``predictions[part] = (labels, predictions)`` in scaled units.
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


def metrics_table(
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
