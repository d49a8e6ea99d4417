"""Chapter 5's launch hooks: its shared backbone (c) and its sample-efficiency curve.

``torchrun --nproc_per_node N -m course_lib.launch pretrain --chapter 5 --profile full`` builds
UTR-LM backbone (c) (:data:`course_lib.utr_lm_backbone.BACKBONE_OBJECTIVES`, the first folding
weight) with the recipe of :func:`course_lib.utr_lm_backbone.backbone_recipe` at the profile,
into the recipe folder where :func:`course_lib.utr_lm_backbone.backbone_checkpoint` (chapter 1's
borrowed backbone) finds it.

``torchrun --nproc_per_node N -m course_lib.launch finetune --chapter 5 --profile full`` runs
the chapter's training as its notebook does (corpus, folds, every pretrained arm, then every
fine-tuning run of the sample-efficiency curve, each global batch shared out over the ranks)
and saves the curve where the notebook reads it
(:mod:`course_lib.chapters.ch5_curve_store`, same recipe hash).
"""

from __future__ import annotations

from functools import cache, partial
from typing import Any

import torch

from course_lib.chapters.ch5_config import Ch5Config
from course_lib.distributed import TrainingJob
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


@cache
def _protocol_and_corpus(settings: Ch5Config, seed: int) -> tuple[Any, Any]:
    """The real-UTR protocol and the pretraining corpus at ``settings``, built once per
    process (a job's listing, preparation and build all need them)."""
    from course_lib import registry
    from course_lib.chapters.ch5_efficiency import curve_protocol
    from course_lib.utr_lm_backbone import pretraining_corpus
    from course_lib.utr_protocol import real_utr_protocol

    protocol = curve_protocol(
        real_utr_protocol(registry.load("utr_testsets").data.varying_length())
    )
    return protocol, pretraining_corpus(protocol, settings, seed)


def _prepare(settings: Ch5Config, seed: int) -> None:
    """Rank 0, before the others: the corpus's ViennaRNA folds into their disk cache."""
    from course_lib.utr_lm_backbone import pretraining_folds

    pretraining_folds(_protocol_and_corpus(settings, seed)[1], settings.fold_processes)


def _build(settings: Ch5Config, seed: int, device: torch.device, show_progress: bool) -> None:
    from course_lib.utr_lm_backbone import _build_backbone

    _build_backbone(settings, device, seed, None, show_progress)


def pretraining_jobs(profile: str, tiny: bool = False, seed: int = 0) -> list[TrainingJob]:
    """Backbone (c) of chapter 5 at ``profile``: its recipe folder and how to build it."""
    from course_lib.utr_lm_backbone import (
        BACKBONE_OBJECTIVES,
        backbone_folder,
        backbone_recipe,
        check_backbone_checkpoint,
    )

    settings = Ch5Config.resolve(profile, tiny=tiny)
    folder = backbone_folder(backbone_recipe(settings, BACKBONE_OBJECTIVES, seed))
    corpus = _protocol_and_corpus(settings, seed)[1]
    rows = len(corpus.train) + len(corpus.aux_train)

    def found(path) -> bool:
        from course_lib.models.checkpoint import CheckpointError

        try:
            check_backbone_checkpoint(path, settings)
        except (CheckpointError, OSError):  # absent or unreadable: build it, as a notebook would
            return False
        return True

    job = TrainingJob(
        "UTR-LM backbone (c)",
        folder,
        partial(_build, settings, seed),
        prepare=partial(_prepare, settings, seed),
        found=found,
        workload=backbone_workload(settings, rows),
    )
    return [job]


def _build_curve(
    settings: Ch5Config, seed: int, recipe: dict, device: torch.device, show_progress: bool
) -> None:
    """The notebook's training steps on every rank: corpus, folds, the pretrained arms, the
    curve; rank 0 saves the curve."""
    from course_lib import distributed
    from course_lib.chapters.ch5_backbones import curve_arms, pretrain_backbones
    from course_lib.chapters.ch5_curve_store import curve_folder, save_curve
    from course_lib.chapters.ch5_efficiency import efficiency_curve
    from course_lib.models.utr_lm import utr_vocabulary
    from course_lib.utr_lm_backbone import pretraining_config, pretraining_folds

    protocol, corpus = _protocol_and_corpus(settings, seed)
    folds = pretraining_folds(corpus, settings.fold_processes, show_progress=show_progress)
    vocab = utr_vocabulary()
    config = pretraining_config(vocab, settings, folds["train"].mfe)
    backbones = pretrain_backbones(config, vocab, corpus, folds, protocol, settings, device, seed)
    distributed.barrier()  # rank 0 has written every backbone the arms read
    curve = efficiency_curve(
        curve_arms(backbones.checkpoints, config, settings), protocol, settings, device, seed
    )
    if distributed.is_main():
        save_curve(curve, curve_folder(recipe), recipe)


def finetuning_jobs(profile: str, tiny: bool = False, seed: int = 0) -> list[TrainingJob]:
    """Chapter 5's sample-efficiency curve at ``profile``: its recipe folder and how to build
    it (the notebook at the same profile reads it from there)."""
    from course_lib import registry
    from course_lib.chapters.ch5_curve_store import CURVE_FILE, curve_folder, curve_recipe

    settings = Ch5Config.resolve(profile, tiny=tiny)
    provenance = registry.load("utr_testsets").provenance
    recipe = curve_recipe(settings, seed, provenance)
    job = TrainingJob(
        "chapter 5 sample-efficiency curve",
        curve_folder(recipe),
        partial(_build_curve, settings, seed, recipe),
        prepare=partial(_prepare, settings, seed),
        found=lambda folder: (folder / CURVE_FILE).exists(),
    )
    return [job]
