"""Chapter 5's configuration (``notebooks/05_utr_lm.ipynb``): its parameters per profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from course_lib.chapters.ch5_mrl_finetuning import LOSSES
from course_lib.config import parameter
from course_lib.models.utr_lm import HEADS
from course_lib.utr_lm_backbone import BackboneConfig

#: Chapter 5's own differences from ``laptop``, laid over the backbone's (:data:`PROFILES`).
_OWN_PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "real_folds": 2,
        "real_n_fit": 400,
        "n_mfe_check": 500,
        "utrlm_check_max_length": 150,
        "finetune_epochs": 2,
        "finetune_lr": 2e-3,
        "patience": None,
        "projection": "pca",
        "n_projection": 500,
    },
    "full": {
        "real_folds": 5,
        "real_n_fit": None,
        "n_mfe_check": None,
        "finetune_epochs": 50,
        "finetune_lr": 2e-4,
        "head_channels": 64,
        "patience": 8,
        "n_projection": 5000,
    },
}


@dataclass(frozen=True)
class Ch5Config(BackboneConfig):
    """Chapter 5's parameters; field defaults are ``laptop``, other profiles differ by ``PROFILES``.

    The pretraining parameters (``corpus_size``, ``val_fraction``, ``hidden_size``,
    ``num_layers``, ``num_heads``, ``pretrain_epochs``, ``batch_size``, ``pretrain_lr``,
    ``pooling``, ``fold_processes``) and their values per profile are the backbone's
    (:class:`course_lib.utr_lm_backbone.BackboneConfig`, which documents them), so chapter 1
    finds the backbone this chapter builds. ``full`` is the UTR-LM size (6 layers, 16 heads,
    width 128).

    Attributes
    ----------
    real_folds
        Random7600 folds each variant is fine-tuned on (count, >= 1).
    real_n_fit
        Training UTRs per fold (count, >= 1; ``None``: all of the fold's).
    n_mfe_check
        UTRs of ``utr_mfe`` whose folding energies are checked (count, >= 1; ``None``: all).
    utrlm_check_max_length
        Longest UTR of the UTR-LM sample whose structure is checked (nt, >= 1; ``None``: all).
    finetune_epochs
        Maximum fine-tuning epochs per fold (count, >= 1).
    finetune_lr
        Fine-tuning learning rate (AdamW, > 0).
    head
        ``"resnet"``: UTR-LM's head on every nucleotide; ``"mlp"``: an MLP on the pooled
        embedding.
    head_channels
        Width of the ``"resnet"`` head (channels, >= 1).
    loss
        Fine-tuning loss: ``"huber"`` or ``"mse"``.
    freeze_backbone
        ``True``: fine-tune only the head.
    patience
        Epochs without a better validation R² before stopping (count, >= 1; ``None``: never).
    projection
        How embeddings are drawn in two dimensions: ``"pca"`` or ``"umap"``.
    n_projection
        Validation UTRs in the projection (count, >= 1).
    """

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        name: {**BackboneConfig.PROFILES.get(name, {}), **own}
        for name, own in _OWN_PROFILES.items()
    }
    TINY: ClassVar[dict[str, Any]] = {
        **BackboneConfig.TINY,
        "real_folds": 2,
        "real_n_fit": 300,
        "n_mfe_check": 200,
        "utrlm_check_max_length": 150,
        "finetune_epochs": 1,
        "head_channels": 8,
        "n_projection": 200,
    }

    real_folds: int = parameter(3, "Random7600 folds each variant is fine-tuned on", minimum=1)
    real_n_fit: int | None = parameter(3000, "training UTRs per fold", minimum=1, optional=True)
    n_mfe_check: int | None = parameter(
        20000, "UTRs whose folding energies are checked", minimum=1, optional=True
    )
    utrlm_check_max_length: int | None = parameter(
        None, "longest UTR whose structure is checked (nt)", int, minimum=1, optional=True
    )
    finetune_epochs: int = parameter(4, "maximum fine-tuning epochs per fold", minimum=1)
    finetune_lr: float = parameter(1e-3, "fine-tuning learning rate", minimum=1e-8)
    head: str = parameter("resnet", "the fine-tuning head", choices=HEADS)
    head_channels: int = parameter(32, "width of the resnet head", minimum=1)
    loss: str = parameter("huber", "the fine-tuning loss", choices=LOSSES)
    freeze_backbone: bool = parameter(False, "whether only the head is fine-tuned")
    patience: int | None = parameter(
        3, "epochs without improvement before stopping", minimum=1, optional=True
    )
    projection: str = parameter("umap", "the 2-D projection", choices=("pca", "umap"))
    n_projection: int = parameter(2000, "validation UTRs in the projection", minimum=1)
