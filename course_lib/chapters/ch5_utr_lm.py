"""Chapter 5, ``notebooks/05_utr_lm.ipynb``: pretrain and fine-tune a 5' UTR language model.

The chapter's recipe (its parameters per profile in :mod:`course_lib.chapters.ch5_config`):
the published anchors (:data:`ANCHORS`), the pretraining corpus, labels and config
(:func:`pretraining_corpus`, :func:`pretraining_folds`, :func:`pretraining_config`,
:func:`pretraining_data`), one variant pretrained and saved atomically
(:func:`pretrain_variant`), backbone (c) for other chapters, built with this recipe when its
checkpoint is absent (:func:`utr_lm_checkpoint`), the two exercise checks. Fine-tuning on the
real Random7600 folds (the ablation) lives in :mod:`course_lib.mrl_finetuning`; embedding
projections, linear probes and the comparison table in :mod:`course_lib.plotting`,
:mod:`course_lib.metrics` and :mod:`course_lib.results`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from transformers import EsmConfig

from course_lib.baselines import (
    nucleotide_copy_baseline,
    simulate_nucleotide_copy_baseline,
    token_frequencies,
)
from course_lib.chapters.ch5_config import Ch5Config
from course_lib.exercises import Comparison, Exercise, Verdict, check, compare_number
from course_lib.models.utr_lm import MAX_TOKENS, UTRLMForPretraining
from course_lib.pretraining import PretrainingData, check_objectives, pretrain
from course_lib.structure import FoldedRNA
from course_lib.tokenization import KmerVocabulary
from course_lib.training import FitResult
from course_lib.utr_corpus import CorpusSplit, real_corpus, stand_in_corpus
from course_lib.utr_protocol import RealUTRProtocol

NOTEBOOK = "05_utr_lm.ipynb"

#: Published figures on the real data, with protocol labels (COURSE_DESIGN.md). Optimus
#: reported squared Pearson r.
ANCHORS = {
    "UTR-LM + ResNet head, fine-tuned (Chu et al. 2024)": {
        "Random7600": {"R2": 0.859},
        "Human7600": {"R2": 0.806},
        "protocol": "paper",
        "source": "Chu Y et al., Nat Mach Intell 6, 449-460 (2024); sklearn R2",
    },
    "Optimus 5-Prime, varying length 25-100 (Sample et al. 2019)": {
        "Random7600": {"Pearson r^2": 0.838},
        "Human7600": {"Pearson r^2": 0.778},
        "protocol": "paper",
        "source": "Sample PJ et al., Nat Biotechnol 37, 803-809 (2019); squared Pearson r, not R2",
    },
}


def pretraining_corpus(
    protocol: RealUTRProtocol, settings: Mapping[str, Any], seed: int = 0
) -> CorpusSplit:
    """The profile's pretraining UTRs: :func:`real_corpus`, else the chapter-1 stand-in's UTRs
    (:func:`stand_in_corpus`), split by ``settings["val_fraction"]`` after drawing
    ``settings["corpus_size"]`` of them (stratified by source, seeded)."""
    from course_lib import registry

    corpus, provenance = real_corpus(verbose=False), "real"
    if corpus is None:
        stand_in = registry.load("utr_varying_length")
        corpus, provenance = stand_in_corpus(stand_in.data["utr"], protocol), stand_in.provenance
    train, val = corpus.split(settings["val_fraction"], settings["corpus_size"], seed=seed)
    return CorpusSplit(train, val, provenance, corpus.counts())


def pretraining_folds(
    corpus: CorpusSplit, processes: int = 2, show_progress: bool = True
) -> dict[str, FoldedRNA]:
    """ViennaRNA folds of the training and monitoring UTRs (cached on disk), by part name."""
    from course_lib.structure import fold_cached

    fold = partial(fold_cached, processes=processes, show_progress=show_progress)
    return {"train": fold(corpus.train), "val": fold(corpus.val)}


def pretraining_config(
    vocab: KmerVocabulary, settings: Mapping[str, Any], train_mfe: np.ndarray
) -> EsmConfig:
    """The profile's encoder config, with the MFE scale of the training corpus ``[n]``."""
    from course_lib.models.utr_lm import set_mfe_scale, utr_lm_config

    config = utr_lm_config(
        vocab,
        hidden_size=settings["hidden_size"],
        num_layers=settings["num_layers"],
        num_heads=settings["num_heads"],
        max_length=MAX_TOKENS,
        pooling=settings["pooling"],
    )
    return set_mfe_scale(config, train_mfe)


def pretraining_data(
    corpus: CorpusSplit, vocab: KmerVocabulary, folds: Mapping[str, FoldedRNA]
) -> dict[str, PretrainingData]:
    """Tokens (``MAX_TOKENS`` wide) with ViennaRNA labels of the training and monitoring UTRs."""
    return {
        "train": PretrainingData.from_sequences(corpus.train, vocab, folds["train"], MAX_TOKENS),
        "val": PretrainingData.from_sequences(corpus.val, vocab, folds["val"], MAX_TOKENS),
    }


def variant_folder_name(objectives: Sequence[str]) -> str:
    """A pretrained variant's checkpoint folder name: its objectives joined by ``_``."""
    return "_".join(check_objectives(objectives))


def pretrain_variant(
    config: EsmConfig,
    vocab: KmerVocabulary,
    data: Mapping[str, PretrainingData],
    objectives: Sequence[str],
    settings: Mapping[str, Any],
    device: torch.device | str,
    seed: int,
    folder: str | Path,
    *,
    recipe: Mapping[str, Any] | None = None,
    replace: bool = True,
    description: str | None = None,
    show_progress: bool = True,
) -> tuple[UTRLMForPretraining, FitResult, Path]:
    """Pretrain one variant at the profile's size and save it in ``folder/<objectives>``.

    A fresh model from ``config`` after ``seed_everything(seed)``, trained by
    :func:`~course_lib.pretraining.pretrain` with ``settings`` (``pretrain_epochs``,
    ``batch_size``, ``pretrain_lr``) on ``data["train"]``, validated on ``data["val"]``; its
    best state is saved atomically (:func:`~course_lib.models.utr_lm.save_checkpoint`) with
    ``recipe``, the objectives, best epoch, validation loss and seconds (``replace=False``
    keeps a checkpoint another process wrote meanwhile). Returns model, result, folder.
    """
    from course_lib.models.utr_lm import save_checkpoint
    from course_lib.training import seed_everything

    seed_everything(seed)
    model = UTRLMForPretraining(config)
    result = pretrain(
        model,
        vocab,
        data["train"],
        data["val"],
        objectives=objectives,
        epochs=settings["pretrain_epochs"],
        batch_size=settings["batch_size"],
        lr=settings["pretrain_lr"],
        device=device,
        seed=seed,
        show_progress=show_progress,
        description=description or f"pretraining {' + '.join(objectives)}",
    )
    record = {
        **(recipe or {}),
        "objectives": list(check_objectives(objectives)),
        "pretrain best epoch": result.best_epoch,
        "pretrain val loss": float(result.best_value),
        "pretrain seconds": result.seconds,
    }
    path = Path(folder) / variant_folder_name(objectives)
    path = save_checkpoint(model, path, vocab, recipe=record, replace=replace)
    return model, result, path


def corpus_recipe(corpus: CorpusSplit, settings: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The corpus, profile (tiny or not), epochs and seed, for a checkpoint's recipe file."""
    return {
        "chapter": NOTEBOOK,
        "profile": settings["profile"],
        "tiny": bool(settings["tiny"]),
        "corpus": f"{len(corpus.train):,} {corpus.provenance} UTRs",
        "corpus provenance": corpus.provenance,
        "corpus UTRs": len(corpus.train),
        "monitoring UTRs": len(corpus.val),
        "pretrain epochs": settings["pretrain_epochs"],
        "seed": seed,
    }


#: Variant (c), all three objectives: the frozen backbone other chapters borrow.
BACKBONE_OBJECTIVES = ("mlm", "mfe", "structure")


def utr_lm_checkpoint(
    profile: str,
    device: torch.device | str,
    seed: int = 0,
    folder: str | Path | None = None,
    verbose: bool = True,
    tiny: bool = False,
) -> Path:
    """Chapter 5's backbone (c) for ``profile``: its checkpoint folder, built when absent.

    The folder is ``folder/mlm_mfe_structure`` (default ``folder``:
    ``checkpoints_dir()/"utr_lm"/profile``, where the notebook saves it). A present one is
    checked (:func:`check_backbone_checkpoint`) and returned; an absent one is pretrained with
    chapter 5's recipe at the profile's size (:class:`~course_lib.chapters.ch5_config.Ch5Config`,
    at its tiny sizes when ``tiny``), saved atomically,
    and the time it took is printed.

    Raises
    ------
    course_lib.models.utr_lm.CheckpointError
        The folder holds another architecture or size, or incomplete weights.
    """
    from course_lib.paths import checkpoints_dir

    settings = Ch5Config.resolve(profile, tiny=tiny)
    folder = Path(folder) if folder is not None else checkpoints_dir() / "utr_lm" / profile
    path = folder / variant_folder_name(BACKBONE_OBJECTIVES)
    say = print if verbose else lambda *_: None
    if path.exists():
        check_backbone_checkpoint(path, settings)
        say(f"UTR-LM backbone: using chapter 5's checkpoint {path}")
        return path
    say(f"UTR-LM backbone: no checkpoint at {path}; pretraining it with chapter 5's recipe")
    start = time.perf_counter()
    _build_backbone_checkpoint(settings, device, seed, folder, verbose)
    check_backbone_checkpoint(path, settings)
    say(f"UTR-LM backbone: built {path} in {time.perf_counter() - start:.0f} s")
    return path


def _build_backbone_checkpoint(
    settings: Mapping[str, Any], device: torch.device | str, seed: int, folder: Path, verbose: bool
) -> Path:
    """Chapter 5's recipe for variant (c) at ``settings``: corpus, folds, config, pretraining."""
    from course_lib import registry
    from course_lib.datasets.utr_testsets import VARYING_TEST
    from course_lib.models.utr_lm import utr_vocabulary
    from course_lib.pretraining import pretraining_cpu_seconds
    from course_lib.profiles import check_long_run
    from course_lib.utr_protocol import read_varying_testsets, real_utr_protocol

    testsets = registry.load("utr_testsets")
    protocol = real_utr_protocol(read_varying_testsets(testsets.folder / VARYING_TEST, False))
    corpus = pretraining_corpus(protocol, settings, seed)
    epochs, size = settings["pretrain_epochs"], (settings["hidden_size"], settings["num_layers"])
    estimate = pretraining_cpu_seconds(len(corpus.train), epochs, *size, n_backbones=1)
    check_long_run(settings, device, estimate, f"pretraining UTR-LM {epochs} epochs")
    if verbose:
        print(corpus.describe())
    folds = pretraining_folds(corpus, settings["fold_processes"], show_progress=verbose)
    vocab = utr_vocabulary()
    config = pretraining_config(vocab, settings, folds["train"].mfe)
    data = pretraining_data(corpus, vocab, folds)
    recipe = corpus_recipe(corpus, settings, seed)
    args = (config, vocab, data, BACKBONE_OBJECTIVES, settings, device, seed, folder)
    return pretrain_variant(*args, recipe=recipe, replace=False, show_progress=verbose)[2]


def check_backbone_checkpoint(path: str | Path, settings: Mapping[str, Any]) -> None:
    """Raise :class:`~course_lib.models.utr_lm.CheckpointError` unless ``path`` holds a
    complete UTR-LM pretraining checkpoint of the architecture ``settings`` asks for."""
    from course_lib.models.utr_lm import checkpoint_config, load_pretrained

    size = (settings["hidden_size"], settings["num_layers"], settings["num_heads"])
    checkpoint_config(path, size, f"profile {settings['profile']!r}")
    load_pretrained(path)


def mlm_against_copy(
    history: pd.DataFrame,
    best_epoch: int,
    train_ids: np.ndarray,
    val_ids: np.ndarray,
    vocab: KmerVocabulary,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """The model's validation MLM loss and accuracy beside the copy baseline (issue 16).

    The copy baseline is the best score without using the context under the exact 80/10/10
    corruption: closed form (:func:`course_lib.baselines.nucleotide_copy_baseline`) with base
    frequencies fitted on the training rows ``train_ids`` ``[n, T]``, and the same strategy
    played on ``repeats`` mask draws of the validation rows ``val_ids``
    (:func:`~course_lib.baselines.simulate_nucleotide_copy_baseline`).
    """
    frequencies = token_frequencies(train_ids, vocab)
    closed = nucleotide_copy_baseline(frequencies)
    played = simulate_nucleotide_copy_baseline(
        val_ids, vocab, frequencies, repeats=repeats, seed=seed
    )
    row = history.iloc[best_epoch - 1]
    return {
        "model MLM loss": float(row["val_mlm"]),
        "model MLM accuracy": float(row["val_mlm_accuracy"]),
        "copy loss (closed form)": closed["copy loss"],
        "copy accuracy (closed form)": closed["copy accuracy"],
        "copy loss (simulated)": played["copy loss"],
        "copy accuracy (simulated)": played["copy accuracy"],
        "uniform loss ln 4": closed["uniform loss"],
    }


EXERCISES = {
    1: Exercise(
        "5.1",
        "a frozen backbone",
        (
            "Build the model from backbone (c)'s checkpoint with freeze_backbone=True.",
            "Only parameters with requires_grad reach the optimiser: finetune already does so.",
            "See mrl_model in course_lib.models.utr_lm and finetune in course_lib.mrl_finetuning.",
        ),
    ),
    2: Exercise(
        "5.2",
        "is the MFE head just counting G and C?",
        (
            "Fit on the pretraining corpus and its ViennaRNA MFE, score on the monitoring UTRs.",
            "Use three features per UTR: GC fraction, length and their product.",
            "course_lib.encoding.gc_content, sklearn LinearRegression, metrics.pearson_r.",
        ),
    ),
}


def check_exercise_1(answer: Any, checkpoint: str | Path) -> Verdict:
    """Exercise 5.1: ``answer`` is the fine-tuned model; its backbone must equal the checkpoint."""
    from course_lib.models.utr_lm import load_pretrained

    def compare(model: Any) -> Comparison:
        if not hasattr(model, "esm"):
            return Comparison(False, "expected the UTRLMForMRL model you fine-tuned")
        saved = load_pretrained(checkpoint)[0].esm.state_dict()
        trained = model.esm.state_dict()
        changed = [k for k, w in trained.items() if not torch.equal(w.cpu(), saved[k])]
        if changed:
            return Comparison(False, f"{len(changed)} backbone tensors changed during training")
        return Comparison(True)

    return check(EXERCISES[1], answer, compare)


def check_exercise_2(
    answer: Any,
    corpus: Sequence[str],
    corpus_mfe: np.ndarray,
    monitor: Sequence[str],
    monitor_mfe: np.ndarray,
) -> Verdict:
    """Exercise 5.2: ``answer`` is the composition baseline's Pearson r on the monitoring UTRs."""
    from sklearn.linear_model import LinearRegression

    from course_lib.encoding import gc_content
    from course_lib.metrics import pearson_r

    def features(seqs: Sequence[str]) -> np.ndarray:
        gc, length = gc_content(seqs), np.array([len(x) for x in seqs], dtype=float)
        return np.c_[gc, length, gc * length]

    fit_ = LinearRegression().fit(features(corpus), corpus_mfe)
    expected = pearson_r(monitor_mfe, fit_.predict(features(monitor)))
    return check(EXERCISES[2], answer, lambda a: compare_number(a, expected, 0.0, 0.01))
