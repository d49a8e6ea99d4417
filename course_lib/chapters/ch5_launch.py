"""Chapter 5's launch hook: its shared backbone (c), pretrained by ``python -m course_lib.launch``.

``torchrun --nproc_per_node N -m course_lib.launch pretrain --chapter 5 --profile full`` builds
UTR-LM backbone (c) (:data:`course_lib.utr_lm_backbone.BACKBONE_OBJECTIVES`, the first folding
weight) with the recipe of :func:`course_lib.utr_lm_backbone.backbone_recipe` at the profile,
into the recipe folder where :func:`course_lib.utr_lm_backbone.backbone_checkpoint` (chapter 1's
borrowed backbone) finds it.
"""

from __future__ import annotations

from functools import partial

import torch

from course_lib.chapters.ch5_config import Ch5Config
from course_lib.distributed import PretrainingJob
from course_lib.preflight import Workload


def backbone_workload(settings: Ch5Config, rows: int) -> Workload:
    """The sizes of backbone (c) at ``settings`` for the preflight check; ``rows`` UTRs."""
    from course_lib.models.utr_lm import MAX_TOKENS, UTRLMForPretraining, utr_lm_config
    from course_lib.models.utr_lm import utr_vocabulary as vocabulary

    vocab = vocabulary()
    sizes = (settings.hidden_size, settings.num_layers, settings.num_heads)
    config = utr_lm_config(
        vocab, hidden_size=sizes[0], num_layers=sizes[1], num_heads=sizes[2], max_length=MAX_TOKENS
    )
    parameters = sum(p.numel() for p in UTRLMForPretraining(config).parameters())
    steps = (settings.batch_size, settings.pretrain_steps, rows)
    return Workload(parameters, *sizes, len(vocab), MAX_TOKENS, *steps)


def _prepare(settings: Ch5Config, seed: int) -> None:
    """Rank 0, before the others: the corpus's ViennaRNA folds into their disk cache."""
    from course_lib import registry
    from course_lib.utr_lm_backbone import pretraining_corpus, pretraining_folds
    from course_lib.utr_protocol import real_utr_protocol

    protocol = real_utr_protocol(registry.load("utr_testsets").data.varying_length())
    corpus = pretraining_corpus(protocol, settings, seed)
    pretraining_folds(corpus, settings.fold_processes)


def _build(settings: Ch5Config, seed: int, device: torch.device, show_progress: bool) -> None:
    from course_lib.utr_lm_backbone import _build_backbone

    _build_backbone(settings, device, seed, None, show_progress)


def pretraining_jobs(profile: str, tiny: bool = False, seed: int = 0) -> list[PretrainingJob]:
    """Backbone (c) of chapter 5 at ``profile``: its recipe folder and how to build it."""
    from course_lib import registry
    from course_lib.utr_lm_backbone import (
        BACKBONE_OBJECTIVES,
        backbone_folder,
        backbone_recipe,
        check_backbone_checkpoint,
        pretraining_corpus,
    )
    from course_lib.utr_protocol import real_utr_protocol

    settings = Ch5Config.resolve(profile, tiny=tiny)
    folder = backbone_folder(backbone_recipe(settings, BACKBONE_OBJECTIVES, seed))
    protocol = real_utr_protocol(registry.load("utr_testsets").data.varying_length())
    corpus = pretraining_corpus(protocol, settings, seed)
    rows = len(corpus.train) + len(corpus.aux_train)

    def found(path) -> bool:
        from course_lib.models.checkpoint import CheckpointError

        try:
            check_backbone_checkpoint(path, settings)
        except (CheckpointError, OSError):  # absent or unreadable: build it, as a notebook would
            return False
        return True

    job = PretrainingJob(
        "UTR-LM backbone (c)",
        folder,
        partial(_build, settings, seed),
        prepare=partial(_prepare, settings, seed),
        found=found,
        workload=backbone_workload(settings, rows),
    )
    return [job]
