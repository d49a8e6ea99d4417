"""Chapter 1's configuration (``notebooks/01_utr_rnafm.ipynb``): its parameters per profile."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

from course_lib.config import ChapterConfig, Rule, parameter

#: The keys of ``small_backbone``: the size of the untrained backbone used without RNA-FM weights.
BACKBONE_KEYS = ("layers", "embed_dim", "ffn_embed_dim", "attention_heads")


@dataclass(frozen=True)
class Ch1Config(ChapterConfig):
    """Chapter 1's parameters; field defaults are ``laptop``, other profiles differ by ``PROFILES``.

    Attributes
    ----------
    protocol
        ``"cv"``: the heads are trained by cross-validation within the real Random7600;
        ``"original"``: on the GEO varying-length table as Sample et al. (2019).
    n_folds
        Folds of the ``cv`` protocol (count, >= 2).
    curve_points
        Training sizes of the learning curve (count, >= 2).
    n_train
        ``original`` protocol: training UTRs (count, >= 1; ``None``: all 76,319).
    n_test_per_length
        ``original`` protocol: test UTRs per length 25..100 per test set (count, >= 1).
    val_fraction
        Share of the training rows held out to choose the epoch (fraction, 0.01-0.5).
    epochs
        Maximum epochs per head (count, >= 1).
    batch_size
        UTRs per optimizer step of a head (count, >= 1).
    lr
        Learning rate of the heads (Adam, > 0).
    channels
        Width of the ResNet head (channels, >= 1; the tutorial's: 64).
    patience
        Epochs without a better validation loss before stopping (count, >= 1; ``None``: never).
    rnafm_checkpoint
        ``RNA-FM_pretrained.pth``: a path, ``"default"`` (the checkpoints folder) or ``None``
        (a small untrained backbone).
    small_backbone
        Size of the untrained backbone: ``layers``, ``embed_dim``, ``ffn_embed_dim``,
        ``attention_heads`` (each >= 1).
    embed_batch_size
        UTRs per forward pass when caching embeddings (count, >= 1).
    n_boot
        Bootstrap resamples of each interval (count, >= 1).
    """

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "n_folds": 2,
            "curve_points": 4,
            "n_train": 1200,
            "n_test_per_length": 5,
            "epochs": 3,
            "lr": 3e-3,
            "channels": 16,
            "patience": None,
            "small_backbone": {
                "layers": 2,
                "embed_dim": 32,
                "ffn_embed_dim": 64,
                "attention_heads": 4,
            },
            "n_boot": 200,
        },
        "full": {
            "protocol": "original",
            "n_folds": 5,
            "curve_points": 6,
            "n_train": None,
            "epochs": 30,
            "channels": 64,
            "patience": 5,
            "rnafm_checkpoint": "default",
            "embed_batch_size": 256,
            "n_boot": 2000,
        },
    }
    TINY: ClassVar[dict[str, Any]] = {
        "n_folds": 2,
        "curve_points": 3,
        "n_train": 600,
        "n_test_per_length": 2,
        "epochs": 2,
        "channels": 8,
        "small_backbone": {"layers": 1, "embed_dim": 16, "ffn_embed_dim": 32, "attention_heads": 2},
        "n_boot": 50,
    }

    protocol: str = parameter(
        "cv", "the training protocol of the heads", choices=("cv", "original")
    )
    n_folds: int = parameter(3, "folds of the cv protocol", minimum=2)
    curve_points: int = parameter(5, "training sizes of the learning curve", minimum=2)
    n_train: int | None = parameter(
        10_000, "training UTRs of the original protocol", minimum=1, optional=True
    )
    n_test_per_length: int = parameter(
        100, "test UTRs per length of the original protocol", minimum=1
    )
    val_fraction: float = parameter(
        0.1, "share of training rows held out for validation", minimum=0.01, maximum=0.5
    )
    epochs: int = parameter(5, "maximum epochs per head", minimum=1)
    batch_size: int = parameter(64, "UTRs per optimizer step", minimum=1)
    lr: float = parameter(1e-3, "learning rate of the heads", minimum=1e-8)
    channels: int = parameter(32, "width of the ResNet head", minimum=1)
    patience: int | None = parameter(
        3, "epochs without improvement before stopping", minimum=1, optional=True
    )
    rnafm_checkpoint: str | os.PathLike | None = parameter(
        None, "path to RNA-FM_pretrained.pth (or 'default')", os.PathLike, optional=True
    )
    small_backbone: dict[str, int] = parameter(
        {"layers": 4, "embed_dim": 96, "ffn_embed_dim": 192, "attention_heads": 4},
        "size of the untrained backbone",
        item=Rule("a size", int, minimum=1),
        keys=BACKBONE_KEYS,
    )
    embed_batch_size: int = parameter(128, "UTRs per embedding forward pass", minimum=1)
    n_boot: int = parameter(1000, "bootstrap resamples of each interval", minimum=1)
