"""Chapter 5's configuration (``notebooks/05_utr_lm.ipynb``): its parameters per profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from course_lib.chapters.ch5_mrl_finetuning import LOSSES
from course_lib.config import Rule, parameter
from course_lib.models.utr_lm import HEADS
from course_lib.utr_lm_backbone import BackboneConfig

#: Chapter 5's own differences from ``laptop``, laid over the backbone's (:data:`PROFILES`).
_OWN_PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "real_folds": 2,
        "real_n_fit": 400,
        "efficiency_counts": (100, 200, 400),
        "test_per_length": 5,
        "n_mfe_check": 500,
        "utrlm_check_max_length": 150,
        "finetune_steps": 30,
        "finetune_eval_every": 15,
        "finetune_batch_size": 16,
        "frozen_steps": 10,
        "finetune_lr": 2e-3,
        "lr_grid": (2e-3,),
        "lr_seeds": 1,
        "patience": None,
        "projection": "pca",
        "n_projection": 500,
    },
    "full": {
        "real_folds": 5,
        "real_n_fit": None,
        "efficiency_counts": (250, 1000, 5000),
        "n_mfe_check": None,
        "finetune_steps": 3000,
        "finetune_eval_every": 100,
        "finetune_batch_size": 64,
        "frozen_steps": 200,
        "finetune_lr": 3e-4,
        "lr_grid": (1e-4, 3e-4, 1e-3),
        "freeze_backbone": False,
        "curve_with_c": True,
        "head_channels": 64,
        "patience": 8,
        "n_projection": 5000,
    },
}


@dataclass(frozen=True)
class Ch5Config(BackboneConfig):
    """Chapter 5's parameters; field defaults are ``laptop``, other profiles differ by ``PROFILES``.

    The pretraining parameters (``corpus_size``, ``aux_corpus_size``, ``val_fraction``,
    ``hidden_size``, ``num_layers``, ``num_heads``, ``pretrain_steps``,
    ``pretrain_eval_every``, ``batch_size``, ``pretrain_lr``, ``aux_weights``, ``pooling``,
    ``fold_processes``) and their values per profile are the backbone's
    (:class:`course_lib.utr_lm_backbone.BackboneConfig`, which documents them), so chapter 1
    finds the backbone this chapter builds. ``full`` is the UTR-LM size (6 layers, 16 heads,
    width 128).

    Attributes
    ----------
    real_folds
        Random7600 folds each arm of the sample-efficiency curve is fine-tuned on (count, >= 1).
    real_n_fit
        Training UTRs of fold 0 in the chapter's first loaders and token example (count, >= 1;
        ``None``: all of the fold's).
    efficiency_counts
        Label counts of the sample-efficiency curve: training UTRs per fold (each >= 10).
    test_per_length
        Test UTRs per length kept in each test set (count, >= 1; ``None``: all).
    n_mfe_check
        UTRs of ``utr_mfe`` whose folding energies are checked (count, >= 1; ``None``: all).
    utrlm_check_max_length
        Longest UTR of the UTR-LM sample whose structure is checked (nt, >= 1; ``None``: all).
    finetune_steps
        Most optimizer steps of one fine-tuning run of the curve (count, >= 1).
    finetune_eval_every
        Steps between two validations while fine-tuning (count, >= 1).
    finetune_batch_size
        UTRs per fine-tuning step (count, >= 1).
    finetune_lr
        Head learning rate of a pretrained arm where no grid is searched: the choice of (c)'s
        objective weight on validation (AdamW, > 0).
    backbone_lr_factor
        A pretrained backbone's learning rate relative to the head's (factor, > 0).
    frozen_steps
        First fine-tuning steps with a pretrained backbone frozen (count, >= 0).
    lr_grid
        Learning rates every arm of the sample-efficiency curve chooses from on validation
        (a transformer arm's head rate; each > 0).
    lr_seeds
        Runs per learning rate on fold 0, each from its own seed (initialisation and
        shuffles); the rate with the best mean validation R² is chosen (count, >= 1).
    curve_with_c
        Whether variant (c) is an arm of the curve (``False``: (b), the controls, scratch).
    head
        ``"resnet"``: UTR-LM's head on every nucleotide; ``"mlp"``: an MLP on the pooled
        embedding.
    head_channels
        Width of the ``"resnet"`` head and of the one-hot ResNet (channels, >= 1).
    loss
        Fine-tuning loss: ``"huber"`` or ``"mse"``.
    freeze_backbone
        ``True``: the transformer arms (pretrained, control, random weights) train only the
        head, on the backbone's states computed once; ``False``: the backbone is fine-tuned
        too, at ``backbone_lr_factor`` times the head's rate after ``frozen_steps``.
    patience
        Validations without a better validation R² before stopping (count, >= 1; ``None``:
        never).
    projection
        How embeddings are drawn in two dimensions: ``"pca"`` or ``"umap"``.
    n_projection
        Validation UTRs in the projection, at most (count, >= 1): fold 0's validation rows
        cap it.
    """

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        name: {**BackboneConfig.PROFILES.get(name, {}), **own}
        for name, own in _OWN_PROFILES.items()
    }
    TINY: ClassVar[dict[str, Any]] = {
        **BackboneConfig.TINY,
        "real_folds": 2,
        "real_n_fit": 300,
        "efficiency_counts": (40, 80, 160),
        "test_per_length": 2,
        "n_mfe_check": 200,
        "utrlm_check_max_length": 150,
        "finetune_steps": 4,
        "finetune_eval_every": 2,
        "frozen_steps": 2,
        "head_channels": 8,
        "n_projection": 200,
    }

    real_folds: int = parameter(3, "Random7600 folds each arm is fine-tuned on", minimum=1)
    real_n_fit: int | None = parameter(
        3000, "fold-0 training UTRs of the first loaders", minimum=1, optional=True
    )
    efficiency_counts: tuple[int, ...] = parameter(
        (250, 1000, 3000),
        "label counts of the sample-efficiency curve",
        item=Rule("a count of training UTRs", int, minimum=10),
    )
    test_per_length: int | None = parameter(
        None, "test UTRs per length", int, minimum=1, optional=True
    )
    n_mfe_check: int | None = parameter(
        20000, "UTRs whose folding energies are checked", minimum=1, optional=True
    )
    utrlm_check_max_length: int | None = parameter(
        None, "longest UTR whose structure is checked (nt)", int, minimum=1, optional=True
    )
    finetune_steps: int = parameter(250, "most steps of one fine-tuning run", minimum=1)
    finetune_eval_every: int = parameter(50, "steps between validations", minimum=1)
    finetune_batch_size: int = parameter(32, "UTRs per fine-tuning step", minimum=1)
    finetune_lr: float = parameter(1e-3, "head learning rate without a grid", minimum=1e-8)
    backbone_lr_factor: float = parameter(
        0.1, "backbone learning rate over the head's", minimum=1e-6
    )
    frozen_steps: int = parameter(25, "first steps with the backbone frozen", minimum=0)
    lr_grid: tuple[float, ...] = parameter(
        (1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
        "learning rates every curve arm chooses from",
        item=Rule("a learning rate", float, minimum=1e-8),
    )
    lr_seeds: int = parameter(2, "runs per learning rate on fold 0", minimum=1)
    curve_with_c: bool = parameter(False, "whether variant (c) is an arm of the curve")
    head: str = parameter("resnet", "the fine-tuning head", choices=HEADS)
    head_channels: int = parameter(32, "width of the resnet heads", minimum=1)
    loss: str = parameter("huber", "the fine-tuning loss", choices=LOSSES)
    freeze_backbone: bool = parameter(True, "whether transformer arms train only the head")
    patience: int | None = parameter(
        2, "validations without improvement before stopping", minimum=1, optional=True
    )
    projection: str = parameter("umap", "the 2-D projection", choices=("pca", "umap"))
    n_projection: int = parameter(2000, "validation UTRs in the projection (at most)", minimum=1)
