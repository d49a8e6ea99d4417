"""Chapter 3's launch hook: its two BERT backbones, pretrained by ``python -m course_lib.launch``.

``torchrun --nproc_per_node N -m course_lib.launch pretrain --chapter 3 --profile full`` builds
the genome and random-control backbones of :mod:`course_lib.chapters.ch3_pretraining` with the
chapter's configuration at the profile and the registry's PUM2 sites kept out of the corpus, as
the notebook does, into the recipe folders where
:func:`course_lib.chapters.ch3_pretraining.chapter_backbones` finds them.
"""

from __future__ import annotations

from functools import partial

import torch

from course_lib.chapters.ch3_config import Ch3Config
from course_lib.chapters.ch3_pretraining import (
    CORPORA,
    PretrainingCorpus,
    _build,
    backbone_recipe,
    chapter_corpus,
    excluded_hash,
    pretraining_config,
)
from course_lib.distributed import TrainingJob
from course_lib.preflight import Workload
from course_lib.tokenization import KmerVocabulary, build_vocabulary


def backbone_workload(
    settings: Ch3Config, vocab: KmerVocabulary, width: int, rows: int
) -> Workload:
    """The BERT's sizes at ``settings`` for the preflight check: ``width`` tokens, ``rows``."""
    from course_lib.models.bert import masked_lm

    config = pretraining_config(vocab, settings, width)
    parameters = sum(p.numel() for p in masked_lm(config).parameters())
    sizes = (settings.bert_hidden, settings.bert_layers, settings.bert_heads, len(vocab))
    schedule = (settings.pretrain_batch_size, settings.pretrain_steps, rows)
    return Workload(parameters, *sizes, width, *schedule)


def _job(
    settings: Ch3Config, name: str, corpus: PretrainingCorpus, vocab: KmerVocabulary, **given
) -> TrainingJob:
    """The job of backbone ``name``: ``given`` holds ``exclude_hash`` and ``seed``."""
    from course_lib.weights import recipe_folder

    length, seed = len(corpus.train[0]), given["seed"]
    data = {"genome": corpus.provenance, "excluded PUM2 sequences": given["exclude_hash"]}
    recipe = backbone_recipe(settings, name, length, data, seed)
    folder = recipe_folder("bert_mlm", recipe)

    def build(device: torch.device, show_progress: bool) -> None:
        _build(settings, name, corpus, vocab, recipe, folder, seed, device, show_progress)

    width = vocab.encode(corpus.train[:1]).input_ids.shape[1]
    workload = backbone_workload(settings, vocab, width, len(corpus.train))
    return TrainingJob(f"BERT backbone ({name})", folder, build, workload=workload)


def pretraining_jobs(profile: str, tiny: bool = False, seed: int = 0) -> list[TrainingJob]:
    """Both backbones of chapter 3 at ``profile`` (none when it pretrains no steps)."""
    from course_lib.chapters.ch3_pum2_dnabert_lstm import load_sites

    settings = Ch3Config.resolve(profile, tiny=tiny)
    if settings.pretrain_steps == 0:
        return []
    sites = load_sites(None, None)[0]
    window_length = max(len(s) for s in sites.sequences)
    corpus = chapter_corpus(settings, sites.sequences, window_length)
    vocab = build_vocabulary(settings.k)
    job = partial(_job, settings, corpus=corpus, vocab=vocab, seed=seed)
    return [job(name, exclude_hash=excluded_hash(sites.sequences)) for name in CORPORA]
