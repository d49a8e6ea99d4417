"""Chapter 5, ``notebooks/05_utr_lm.ipynb``: pretrain and fine-tune a 5' UTR language model.

The chapter's recipe: settings per profile (:data:`SETTINGS`), the published anchors
(:data:`ANCHORS`), the pretraining corpus, labels and config (:func:`pretraining_corpus`,
:func:`pretraining_folds`, :func:`pretraining_config`, :func:`pretraining_data`), one variant
pretrained and saved atomically (:func:`pretrain_variant`), backbone (c) for other chapters,
built with this recipe when its checkpoint is absent (:func:`utr_lm_checkpoint`), fine-tuning
:class:`~course_lib.models.utr_lm.UTRLMForMRL` selected on validation R² (:func:`finetune`),
and test metrics in MRL units (:func:`evaluate_mrl`). Embedding projections, linear probes and
the comparison table live in :mod:`course_lib.plotting`, :mod:`course_lib.metrics` and
:mod:`course_lib.results`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import EsmConfig

from course_lib.baselines import (
    nucleotide_copy_baseline,
    simulate_nucleotide_copy_baseline,
    token_frequencies,
)
from course_lib.exercises import Comparison, Exercise, Verdict, check, compare_number
from course_lib.metrics import r2, regression_metrics
from course_lib.models.utr_lm import UTRLMForMRL, UTRLMForPretraining
from course_lib.pretraining import PretrainingData, check_objectives, pretrain
from course_lib.structure import FoldedRNA
from course_lib.tokenization import KmerVocabulary
from course_lib.training import FitResult, fit, predict, warmup_linear_schedule
from course_lib.utr_corpus import CorpusSplit, real_corpus, stand_in_corpus
from course_lib.utr_protocol import FoldSplit, FoldTables, RealUTRProtocol, fold_tables

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


LOSSES = ("huber", "mse")
#: Token positions of a UTR of up to 100 nt: ``<cls>``, the nucleotides, ``<eos>``.
MAX_TOKENS = 102


#: Sizes laid over ``laptop``/``full`` by ``--tiny`` (same code paths, seconds not minutes).
TINY = {
    "real_folds": 2,
    "real_n_fit": 300,
    "corpus_size": 400,
    "n_mfe_check": 200,
    "utrlm_check_max_length": 150,
    "hidden_size": 16,
    "num_layers": 1,
    "num_heads": 2,
    "pretrain_epochs": 1,
    "finetune_epochs": 1,
    "batch_size": 64,
    "n_projection": 200,
}

#: Settings per profile. ``full`` is the UTR-LM size (6 layers, 16 heads, width 128).
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        "real_folds": 2,
        "real_n_fit": 400,
        "corpus_size": 800,
        "n_mfe_check": 500,
        "utrlm_check_max_length": 150,
        "val_fraction": 0.1,
        "hidden_size": 32,
        "num_layers": 2,
        "num_heads": 4,
        "pretrain_epochs": 3,
        "finetune_epochs": 2,
        "batch_size": 32,
        "pretrain_lr": 3e-3,
        "finetune_lr": 2e-3,
        "pooling": "mean",
        "loss": "huber",
        "freeze_backbone": False,
        "patience": None,
        "projection": "pca",
        "n_projection": 500,
        "fold_processes": 2,
    },
    "laptop": {
        "real_folds": 3,
        "real_n_fit": 4000,
        "corpus_size": 20000,
        "n_mfe_check": 20000,
        "utrlm_check_max_length": None,
        "val_fraction": 0.1,
        "hidden_size": 64,
        "num_layers": 3,
        "num_heads": 4,
        "pretrain_epochs": 4,
        "finetune_epochs": 4,
        "batch_size": 64,
        "pretrain_lr": 1e-3,
        "finetune_lr": 1e-3,
        "pooling": "mean",
        "loss": "huber",
        "freeze_backbone": False,
        "patience": 3,
        "projection": "umap",
        "n_projection": 2000,
        "fold_processes": 2,
    },
    "full": {
        "real_folds": 5,
        "real_n_fit": None,
        "corpus_size": None,
        "n_mfe_check": None,
        "utrlm_check_max_length": None,
        "val_fraction": 0.1,
        "hidden_size": 128,
        "num_layers": 6,
        "num_heads": 16,
        "pretrain_epochs": 50,
        "finetune_epochs": 50,
        "batch_size": 256,
        "pretrain_lr": 5e-4,
        "finetune_lr": 2e-4,
        "pooling": "cls",
        "loss": "huber",
        "freeze_backbone": False,
        "patience": 8,
        "projection": "umap",
        "n_projection": 5000,
        "fold_processes": 8,
    },
    "tiny": TINY,
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
) -> Path:
    """Chapter 5's backbone (c) for ``profile``: its checkpoint folder, built when absent.

    The folder is ``folder/mlm_mfe_structure`` (default ``folder``:
    ``checkpoints_dir()/"utr_lm"/profile``, where the notebook saves it). A present one is
    checked (:func:`check_backbone_checkpoint`) and returned; an absent one is pretrained with
    chapter 5's recipe at the profile's size (:data:`SETTINGS` through
    :func:`~course_lib.profiles.chapter_settings`, so ``--tiny`` applies), saved atomically,
    and the time it took is printed.

    Raises
    ------
    course_lib.models.utr_lm.CheckpointError
        The folder holds another architecture or size, or incomplete weights.
    """
    from course_lib.paths import checkpoints_dir
    from course_lib.profiles import chapter_settings

    settings = chapter_settings(SETTINGS, profile)
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
            "See mrl_model in course_lib.models.utr_lm and finetune in this chapter's module.",
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


def fold_training_rows(split: FoldSplit, n_fit: int | None, seed: int = 0) -> np.ndarray:
    """A fold's training rows: all of ``split.fit``, or a subset of ``n_fit`` of them.

    The subset is drawn with ``seed + split.fold``, so a fold's rows are the same whichever
    cell asks for them (the detailed look at fold 0 and the ablation over folds).
    """
    index = split.fit
    if n_fit is not None and n_fit < len(index):
        rng = np.random.default_rng(seed + split.fold)
        index = np.sort(rng.choice(index, n_fit, replace=False))
    return index


def fold_loaders(
    protocol: RealUTRProtocol, split: FoldSplit, n_fit: int | None, batch_size: int, seed: int = 0
) -> tuple[FoldTables, dict[str, DataLoader]]:
    """One fold's tables (training-only scaler) and token loaders with scaled targets.

    Loader names: ``train`` (shuffled), ``val`` (selection), ``test_random`` (the fold's
    held-out Random7600 UTRs) and ``test_human`` (all of Human7600), as in
    :data:`course_lib.datasets.utr.TEST_NAMES`.
    """
    from course_lib.datasets.utr import scale_labels
    from course_lib.models.utr_lm import encode_utrs, utr_vocabulary
    from course_lib.token_batches import mrl_loader

    parts = fold_tables(protocol.random, split, fold_training_rows(split, n_fit, seed))
    tables = {"train": parts.fit, "val": parts.val, "test_random": parts.test}
    tables["test_human"] = protocol.human
    vocab = utr_vocabulary()
    loaders = {
        name: mrl_loader(
            encode_utrs(t["utr"], vocab, MAX_TOKENS),
            scale_labels(t, parts.scaler),
            batch_size,
            shuffle=name == "train",
            seed=seed,
        )
        for name, t in tables.items()
    }
    return parts, loaders


@dataclass
class Ablation:
    """The pretraining ablation over real Random7600 folds.

    Attributes
    ----------
    per_fold
        One row per variant and fold: ``n fit`` and ``R2``, ``Pearson r^2`` of
        ``Random7600 fold`` (the fold's held-out UTRs) and ``Human7600``.
    human
        ``{variant: [n_human]}`` Human7600 predictions (MRL) averaged over folds.
    fits
        ``{variant: [FitResult per fold]}`` (training curves, selected epochs).
    first_models
        ``{variant: model}`` fine-tuned on the first fold, for a closer look.
    """

    per_fold: pd.DataFrame
    human: dict[str, np.ndarray]
    fits: dict[str, list[FitResult]]
    first_models: dict[str, nn.Module]


def real_fold_ablation(
    sources: Mapping[str, Any],
    protocol: RealUTRProtocol,
    settings: Mapping[str, Any],
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> Ablation:
    """Fine-tune every variant on real Random7600 folds; test on the fold and on Human7600.

    ``sources`` maps a variant to a config (no pretraining) or a checkpoint folder. Each of the
    first ``settings["real_folds"]`` folds trains on its fit rows (a seeded subset of
    ``settings["real_n_fit"]``, :func:`fold_training_rows`) with a scaler fitted on them,
    selects on the fold's inner validation rows, and scores its held-out rows and all of
    Human7600.
    """
    from course_lib.training import seed_everything

    rows, human, fits, first = [], {}, {}, {}
    for split in protocol.folds[: settings["real_folds"]]:
        parts, loaders = fold_loaders(
            protocol, split, settings["real_n_fit"], settings["batch_size"], seed
        )
        for variant, source in sources.items():
            seed_everything(seed + split.fold)
            model, fit_ = _finetune_variant(
                source, loaders, settings, device, f"fold {split.fold}: {variant}"
            )
            scores, human_pred = _fold_scores(model, loaders, parts.scaler, device)
            rows.append({"variant": variant, "fold": split.fold, "n fit": len(parts.fit), **scores})
            human.setdefault(variant, []).append(human_pred)
            fits.setdefault(variant, []).append(fit_)
            first.setdefault(variant, model)
    human_mean = {v: np.mean(p, axis=0) for v, p in human.items()}
    return Ablation(pd.DataFrame(rows), human_mean, fits, first)


def _finetune_variant(
    source: Any,
    loaders: Mapping[str, DataLoader],
    settings: Mapping[str, Any],
    device: torch.device | str,
    description: str,
) -> tuple[nn.Module, FitResult]:
    """Build one variant's MRL model from ``source`` and fine-tune it on a fold's loaders."""
    from course_lib.models.utr_lm import mrl_model

    model = mrl_model(
        source, pooling=settings["pooling"], freeze_backbone=settings["freeze_backbone"]
    )
    fit_ = finetune(
        model,
        loaders["train"],
        loaders["val"],
        loss=settings["loss"],
        epochs=settings["finetune_epochs"],
        lr=settings["finetune_lr"],
        patience=settings["patience"],
        device=device,
        description=description,
    )
    return model, fit_


def _fold_scores(
    model: nn.Module, loaders: Mapping[str, DataLoader], scaler: Any, device: torch.device | str
) -> tuple[dict[str, float], np.ndarray]:
    """R2 and Pearson r^2 on a fold's two test sets, and the ``[n_human]`` MRL predictions."""
    from course_lib.datasets.utr import unscale

    scores, human_pred = {}, None
    for name, label in (("test_random", "Random7600 fold"), ("test_human", "Human7600")):
        y, pred = predict(model, loaders[name], device)
        y, pred = unscale(y, scaler), unscale(pred, scaler)
        metrics = regression_metrics(y, pred)
        scores.update({f"{label} {m}": metrics[m] for m in ("R2", "Pearson r^2")})
        human_pred = pred
    return scores, human_pred


def published_fold_scores(
    predict_mrl: Callable[[Sequence[str]], np.ndarray],
    protocol: RealUTRProtocol,
    n_folds: int,
    name: str,
) -> pd.DataFrame:
    """A published model's rows for the ablation table, on the same folds and Human7600.

    ``predict_mrl(utrs) -> [n]`` MRL (e.g. chapter 1's Framepool predictor; Framepool was
    trained with Random7600 and Human7600 held out). Same columns as
    :attr:`Ablation.per_fold`, ``n fit`` 0 (nothing is trained here).
    """
    human = regression_metrics(protocol.human["rl"], predict_mrl(protocol.human["utr"]))
    rows = []
    for split in protocol.folds[:n_folds]:
        test = protocol.random.iloc[split.test]
        metrics = regression_metrics(test["rl"], predict_mrl(test["utr"]))
        scores = {f"Random7600 fold {m}": metrics[m] for m in ("R2", "Pearson r^2")}
        scores |= {f"Human7600 {m}": human[m] for m in ("R2", "Pearson r^2")}
        rows.append({"variant": name, "fold": split.fold, "n fit": 0, **scores})
    return pd.DataFrame(rows)


def regression_loss(name: str) -> nn.Module:
    """``"huber"`` (``HuberLoss(delta=1)``, robust to noisy low-read labels) or ``"mse"``."""
    if name == "huber":
        return nn.HuberLoss(delta=1.0)
    if name == "mse":
        return nn.MSELoss()
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


def finetune(
    model: UTRLMForMRL,
    train_loader: DataLoader,
    val_loader: DataLoader,
    *,
    loss: str = "huber",
    epochs: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    patience: int | None = None,
    grad_clip: float | None = 1.0,
    device: torch.device | str = "auto",
    show_progress: bool = True,
    description: str = "fine-tuning",
) -> FitResult:
    """Train the MRL model with :func:`course_lib.training.fit`, selecting on validation R².

    Only trainable parameters go to AdamW, so a frozen backbone stays exactly as loaded.
    Returns the ``FitResult`` (history with ``val_R2``); the model holds the best state.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = warmup_linear_schedule(optimizer, epochs * len(train_loader))
    return fit(
        model,
        train_loader,
        val_loader,
        loss_fn=regression_loss(loss),
        epochs=epochs,
        optimizer=optimizer,
        device=device,
        val_score=r2,
        val_score_name="val_R2",
        patience=patience,
        scheduler=scheduler,
        scheduler_per_batch=True,
        grad_clip=grad_clip,
        show_progress=show_progress,
        description=description,
    )


def evaluate_mrl(
    model: nn.Module,
    loaders: Mapping[str, DataLoader],
    inverse: Callable[[np.ndarray], np.ndarray],
    device: torch.device | str = "auto",
) -> dict[str, dict[str, float]]:
    """Regression metrics per named test loader, in MRL units.

    ``inverse`` maps scaled values back to MRL (e.g. ``lambda v: unscale(v, scaler)``). Each
    entry holds ``MSE, MAE, R2, Pearson r, Pearson r^2, Spearman rho`` and ``n``.
    """
    out = {}
    for name, loader in loaders.items():
        y, p = predict(model, loader, device)
        out[name] = {**regression_metrics(inverse(y), inverse(p)), "n": int(len(y))}
    return out
