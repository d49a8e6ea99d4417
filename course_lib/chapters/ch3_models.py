"""Chapter 3's models (``notebooks/03_pum2_dnabert_lstm.ipynb``) as fold trainers, one CV loop.

Each model kind of the chapter has one function here that returns a ``train_fold(fit_index,
val_index, fold) -> TrainedFold`` for :func:`course_lib.cross_validation.cross_validate`, which
builds a fresh model per fold:

- :func:`kmer_trainer`: the k-mer count logistic regression
  (:mod:`course_lib.chapters.ch3_kmer_baseline`), the shallow baseline;
- :func:`cnn_trainer`: a one-hot CNN (:class:`~course_lib.models.cnn_classifier.OneHotCNN`);
- :func:`bilstm_trainer`: the chapter's central model, the BiLSTM on k-mer ids
  (:class:`~course_lib.models.bilstm.BiLSTMClassifier`);
- :func:`bert_fold_trainers`: the BERT arms (a small BERT from random weights and from each
  backbone pretrained once per profile by :mod:`course_lib.chapters.ch3_pretraining`,
  :func:`bert_arm`; the real DNABERT-3 when its folder is there, :func:`dnabert_trainer`),
  each with its learning rate chosen on validation by the one-standard-error rule
  (:func:`tuned_trainer`).

:func:`chapter_trainers` lists them in the chapter's order and :func:`cross_validate_all`
scores every one on the same folds, so that they can be compared fold by fold.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from course_lib.chapters.ch3_config import Ch3Config
from course_lib.chapters.ch3_efficiency import epochs_for_steps
from course_lib.chapters.ch3_kmer_baseline import kmer_count_features, kmer_fold_trainer
from course_lib.cross_validation import (
    CVResult,
    FoldResult,
    TrainedFold,
    check_withheld,
    first_validation_rows,
    neural_fold_trainer,
    repeated_stratified_folds,
    score_fold,
    withholding,
)
from course_lib.encoding import one_hot
from course_lib.models.bert import (
    bert_classifier,
    bert_logit,
    load_dnabert,
    small_bert_config,
    transfer_encoder,
)
from course_lib.models.bilstm import BiLSTMClassifier, lstm_token_ids
from course_lib.models.cnn_classifier import OneHotCNN
from course_lib.profiles import check_long_run
from course_lib.tokenization import KmerVocabulary
from course_lib.training import dnabert_optimizer
from course_lib.training_pool import TrainingPool

if TYPE_CHECKING:
    from transformers import BertConfig

#: ``train_fold(fit_index, val_index, fold) -> TrainedFold``, as ``cross_validate`` calls it.
FoldTrainer = Callable[[np.ndarray, np.ndarray, int], TrainedFold]
#: The k-mer sizes counted by the logistic regression (64 + 256 + 1,024 features).
KMER_SIZES = (3, 4, 5)


def kmer_trainer(
    seqs: Sequence[str], labels: np.ndarray, settings: Ch3Config, seed: int = 0
) -> FoldTrainer:
    """The k-mer count logistic regression, ``C`` chosen per fold from ``settings.logreg_c_grid``.

    Parameters
    ----------
    seqs
        ``n`` sequences; their 3-, 4- and 5-mer counts ``[n, 1344]`` are the features.
    labels
        ``[n]`` binary labels.
    settings
        The chapter's configuration (``logreg_c_grid``).
    seed
        Seed of the solver.
    """
    features = kmer_count_features(seqs, KMER_SIZES)
    return kmer_fold_trainer(features, labels, settings.logreg_c_grid, seed)


def cnn_trainer(
    seqs: Sequence[str],
    labels: np.ndarray,
    settings: Ch3Config,
    device: str | torch.device = "auto",
    seed: int = 0,
) -> FoldTrainer:
    """A fresh one-hot CNN per fold (``settings.cnn_channels``, ``cnn_epochs``, ``patience``).

    Parameters
    ----------
    seqs
        ``n`` sequences of one length ``L``, one-hot encoded ``[n, 4, L]``.
    labels
        ``[n]`` binary labels.
    settings
        The chapter's configuration.
    device, seed
        Where to train; fold ``f`` is seeded with ``seed + f``.
    """
    onehot = torch.from_numpy(one_hot(seqs, channels_first=True))
    return neural_fold_trainer(
        lambda: OneHotCNN(settings.cnn_channels),
        onehot,
        labels,
        epochs=settings.cnn_epochs,
        batch_size=settings.batch_size,
        patience=settings.patience,
        device=device,
        seed=seed,
        name="CNN",
    )


def bilstm_trainer(
    seqs: Sequence[str],
    labels: np.ndarray,
    settings: Ch3Config,
    device: str | torch.device = "auto",
    seed: int = 0,
    readout: str | None = None,
    name: str = "BiLSTM",
    *,
    lr: float | None = None,
    epochs: int | None = None,
    show_progress: bool = True,
) -> FoldTrainer:
    """A fresh BiLSTM per fold on k-mer ids ``[n, L - k + 1]``, trained in the DNABERT schedule.

    AdamW with a 10 % warm-up and linear decay from ``settings.lstm_lr`` (no weight decay),
    gradient clipping at 1.0, the epoch kept on validation ROC AUC.

    Parameters
    ----------
    seqs
        ``n`` sequences (ids from :func:`~course_lib.models.bilstm.lstm_token_ids`).
    labels
        ``[n]`` binary labels.
    settings
        The chapter's configuration (``k``, ``lstm_*``, ``batch_size``, ``patience``).
    device, seed
        Where to train; fold ``f`` is seeded with ``seed + f``.
    readout
        ``"max"`` or ``"last"``; ``None``: ``settings.lstm_readout``.
    name
        Name in progress messages.
    lr, epochs
        Replace ``settings.lstm_lr`` and ``settings.lstm_epochs`` (``None``: keep them).
    show_progress
        Show a progress bar per fold.
    """
    ids = torch.from_numpy(lstm_token_ids(seqs, settings.k))
    peak = settings.lstm_lr if lr is None else lr
    chosen = settings.lstm_readout if readout is None else readout
    return neural_fold_trainer(
        lambda: BiLSTMClassifier(
            settings.k, settings.lstm_embedding, settings.lstm_hidden, readout=chosen
        ),
        ids,
        labels,
        epochs=epochs or settings.lstm_epochs,
        batch_size=settings.batch_size,
        optimizer_factory=lambda model, steps: dnabert_optimizer(
            model, steps, lr=peak, weight_decay=0.0
        ),
        grad_clip=1.0,
        patience=settings.patience,
        device=device,
        seed=seed,
        name=name,
        show_progress=show_progress,
    )


def still_rising(trained: TrainedFold) -> bool:
    """Whether ``trained`` kept the last of its epochs (of more than one): its validation score
    was still improving when training stopped, so its rate was too small for the epochs."""
    epochs = 0 if trained.history is None else len(trained.history)
    return epochs > 1 and trained.best_epoch == epochs


def tuned_trainer(trainers: Mapping[float, FoldTrainer], once: bool = False) -> FoldTrainer:
    """A ``train_fold`` that trains one model per learning rate and keeps one by the
    one-standard-error rule on validation, passing over rates still improving at the end.

    Among the rates whose validation ROC AUC lies within one standard error of the best one's
    (Hastie, Tibshirani and Friedman, *Elements of Statistical Learning*, section 7.10; the
    error from :func:`course_lib.metrics.auc_standard_error`), the smallest is kept: the
    validation rows cannot tell those rates apart, and the smallest is the least likely to make
    training diverge on another fold, where a rate chosen ``once`` is reused. A rate whose kept
    epoch is the last one (:func:`still_rising`) is passed over when another within the error
    has stopped improving: its score reflects the epoch budget more than the rate, and reused
    on other folds it under-trains (chapter 3's genome arm at ``laptop``: 0.5x the base rate
    kept epoch 4 of 4 on every fold and scored 0.90-0.94 test ROC AUC, 2x 0.95 on the two folds
    checked). When every rate within the error is still rising, the best is kept.

    Parameters
    ----------
    trainers
        ``{learning rate: train_fold}``; each must record ``best_val_auc`` and
        ``best_val_auc_se`` in its ``info`` (:func:`~course_lib.cross_validation.
        neural_fold_trainer` does).
    once
        Choose on the first fold trained only and reuse that learning rate for the other
        folds (saves ``len(trainers) - 1`` trainings per later fold); the choice still looks
        at validation rows only, which :func:`chapter_folds` withholds from every test fold.

    Returns
    -------
    FoldTrainer
        Its :class:`~course_lib.cross_validation.TrainedFold` is the chosen one, with
        ``info["lr"]``, ``info["val ROC AUC by lr"]``, ``info["still rising by lr"]``,
        ``info["best lr"]`` (the rate with the best validation AUC) and ``info["best val ROC
        AUC"]`` (its AUC and standard error); the test rows are never looked at.
    """
    chosen: list[float] = []

    def train_fold(fit_index: np.ndarray, val_index: np.ndarray, fold: int) -> TrainedFold:
        grid = chosen[:1] if once and chosen else list(trainers)
        trained = {lr: trainers[lr](fit_index, val_index, fold) for lr in grid}
        by_lr = {lr: float(t.info["best_val_auc"]) for lr, t in trained.items()}
        rising = {lr: still_rising(t) for lr, t in trained.items()}
        best = max(by_lr, key=by_lr.get)
        se = float(trained[best].info["best_val_auc_se"])
        near = [lr for lr, auc in by_lr.items() if auc >= by_lr[best] - se]
        settled = [lr for lr in near if not rising[lr]]
        kept = min(settled) if settled else best
        chosen[:] = [kept]
        trained[kept].info.update(
            {
                "lr": kept,
                "val ROC AUC by lr": by_lr,
                "still rising by lr": rising,
                "best lr": best,
                "best val ROC AUC": (by_lr[best], se),
            }
        )
        return trained[kept]

    return train_fold


def encoder_transfer(backbone: nn.Module) -> Callable[[nn.Module, np.ndarray, int], dict]:
    """A ``prepare`` for :func:`neural_fold_trainer`: copy ``backbone``'s encoder into the fresh
    classifier of each fold (the backbone never saw a PUM2 row, so no fold leaks)."""

    def prepare(model: nn.Module, fit_index: np.ndarray, fold: int) -> dict[str, Any]:
        transfer_encoder(backbone, model)
        return {}

    return prepare


def bert_arm(
    config: BertConfig,
    tokens: dict[str, torch.Tensor],
    labels: np.ndarray,
    backbone: nn.Module | None,
    *,
    lrs: Sequence[float],
    epochs: int,
    batch_size: int,
    device: str | torch.device = "auto",
    seed: int = 0,
    show_progress: bool = True,
    name: str = "BERT",
    once: bool = False,
) -> FoldTrainer:
    """A small BERT classifier per fold, from ``backbone``'s encoder or from random weights.

    Fine-tuned in the DNABERT recipe (AdamW, warm-up 10 %, weight decay 0.01, clipping 1.0),
    once per learning rate of ``lrs``; the epoch and the learning rate are kept on validation
    ROC AUC (:func:`tuned_trainer`, ``once``: the rate chosen on the first fold is reused).
    Every arm gets the same grid, so the arm without pretraining is tuned as carefully as
    the pretrained ones.
    """
    prepare = None if backbone is None else encoder_transfer(backbone)
    options = {"epochs": epochs, "batch_size": batch_size, "device": device, "seed": seed}
    options.update(forward=bert_logit, grad_clip=1.0, show_progress=show_progress)
    return tuned_trainer(
        {
            lr: neural_fold_trainer(
                partial(bert_classifier, config),
                tokens,
                labels,
                optimizer_factory=partial(_dnabert_schedule, lr=lr),
                prepare=prepare,
                name=f"{name} lr {lr:g}",
                **options,
            )
            for lr in lrs
        },
        once,
    )


def _dnabert_schedule(model: nn.Module, steps: int, lr: float) -> tuple[Any, Any]:
    """:func:`~course_lib.training.dnabert_optimizer` at ``lr`` (picklable, unlike a lambda)."""
    return dnabert_optimizer(model, steps, lr=lr)


def bert_fold_trainers(
    tokens: dict[str, torch.Tensor],
    labels: np.ndarray,
    vocab: KmerVocabulary,
    settings: Ch3Config,
    backbones: Mapping[str, nn.Module],
    *,
    epochs: int | None = None,
    dnabert_path: str | Path | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    show_progress: bool = True,
) -> dict[str, FoldTrainer]:
    """The chapter's BERT arms as ``train_fold`` functions for ``cross_validate``.

    ``"DNABERT-3 (fine-tuned)"`` when ``dnabert_path`` is given (a fresh copy of the checkpoint
    per fold), then ``"BERT (no pretraining)"`` and one arm per pretrained backbone
    (``{arm name: BertForMaskedLM}``, e.g. the genome and the random-sequence control of
    :mod:`course_lib.chapters.ch3_pretraining`), all of ``settings``' sizes, each with the
    learning rate chosen from ``settings.bert_lr x settings.lr_factors`` on validation.
    In cross-validation (``epochs`` ``None``) the rate is chosen on the first fold's validation
    rows and reused for the others; ``epochs`` replaces ``settings.bert_epochs`` and chooses
    the rate at every call (the sample-efficiency curve).
    """
    lrs = [settings.bert_lr * f for f in settings.lr_factors]
    options = {"epochs": epochs or settings.bert_epochs, "batch_size": settings.bert_batch_size}
    options["once"] = epochs is None
    options.update(device=device, seed=seed, show_progress=show_progress)
    trainers = {}
    if dnabert_path is not None:
        trainers["DNABERT-3 (fine-tuned)"] = dnabert_trainer(
            dnabert_path, tokens, labels, vocab, lrs, options
        )
    sizes = (settings.bert_hidden, settings.bert_layers, settings.bert_heads)
    width = tokens["input_ids"].shape[1]
    kernel = settings.bert_local_kernel
    config = small_bert_config(
        vocab, *sizes, settings.bert_intermediate, width, local_kernel=kernel
    )
    arms = {"BERT (no pretraining)": None, **backbones}
    for name, backbone in arms.items():
        trainers[name] = bert_arm(config, tokens, labels, backbone, lrs=lrs, name=name, **options)
    return trainers


def dnabert_trainer(
    dnabert_path: str | Path,
    tokens: dict[str, torch.Tensor],
    labels: np.ndarray,
    vocab: KmerVocabulary,
    lrs: Sequence[float],
    options: dict[str, Any],
) -> FoldTrainer:
    """A ``train_fold`` fine-tuning a fresh copy of the DNABERT checkpoint folder per fold, per
    learning rate of ``lrs`` (kept on validation, :func:`tuned_trainer`; ``options["once"]``
    as there)."""
    checkpoint, checkpoint_vocab = load_dnabert(dnabert_path)
    if checkpoint_vocab.tokens != vocab.tokens:
        raise ValueError("the checkpoint's vocab.txt differs from the tokenizer's vocabulary")
    factory = partial(copy.deepcopy, checkpoint)
    options = {**options, "forward": bert_logit, "grad_clip": 1.0}
    once = options.pop("once", False)
    return tuned_trainer(
        {
            lr: neural_fold_trainer(
                factory,
                tokens,
                labels,
                optimizer_factory=partial(_dnabert_schedule, lr=lr),
                name=f"DNABERT-3 lr {lr:g}",
                **options,
            )
            for lr in lrs
        },
        once,
    )


def chapter_trainers(
    seqs: Sequence[str],
    labels: np.ndarray,
    tokens: dict[str, torch.Tensor],
    vocab: KmerVocabulary,
    settings: Ch3Config,
    backbones: Mapping[str, nn.Module],
    dnabert_path: Path | None,
    device: str | torch.device = "auto",
    seed: int = 0,
) -> dict[str, FoldTrainer]:
    """Every model of the chapter, in the order they are trained and reported.

    ``"k-mer LR"``, ``"CNN"``, ``"BiLSTM"``, then the BERT arms of :func:`bert_fold_trainers`
    (``backbones``: ``{arm name: BertForMaskedLM}``); arguments as there and in
    :func:`bilstm_trainer`.
    """
    return {
        "k-mer LR": kmer_trainer(seqs, labels, settings, seed),
        "CNN": cnn_trainer(seqs, labels, settings, device, seed),
        "BiLSTM": bilstm_trainer(seqs, labels, settings, device, seed),
        **bert_fold_trainers(
            tokens,
            labels,
            vocab,
            settings,
            backbones,
            dnabert_path=dnabert_path,
            device=device,
            seed=seed,
        ),
    }


def efficiency_trainers(
    seqs: Sequence[str],
    labels: np.ndarray,
    tokens: dict[str, torch.Tensor],
    vocab: KmerVocabulary,
    settings: Ch3Config,
    backbones: Mapping[str, nn.Module],
    n_fit: int,
    dnabert_path: Path | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
) -> dict[str, FoldTrainer]:
    """The arms of the sample-efficiency curve for ``n_fit`` fitting rows.

    The BERT arms of :func:`bert_fold_trainers` and the BiLSTM, each trained for at least
    ``settings.efficiency_steps`` optimizer steps and at least ``settings.efficiency_epochs``
    passes over the ``n_fit`` rows, its learning rate chosen from its base rate (``bert_lr``,
    ``lstm_lr``) times ``settings.lr_factors`` on validation.
    """
    steps, passes = settings.efficiency_steps, settings.efficiency_epochs
    bert_epochs = max(passes, epochs_for_steps(steps, n_fit, settings.bert_batch_size))
    lstm_epochs = max(passes, epochs_for_steps(steps, n_fit, settings.batch_size))
    options = {"device": device, "seed": seed, "show_progress": False}
    trainers = bert_fold_trainers(
        tokens,
        labels,
        vocab,
        settings,
        backbones,
        epochs=bert_epochs,
        dnabert_path=dnabert_path,
        **options,
    )
    lstm = {
        lr: bilstm_trainer(
            seqs, labels, settings, device, seed, lr=lr, epochs=lstm_epochs, show_progress=False
        )
        for lr in (settings.lstm_lr * f for f in settings.lr_factors)
    }
    return {**trainers, "BiLSTM": tuned_trainer(lstm)}


def check_bert_run(settings: Ch3Config, device: Any, n_fit: int, n_arms: int) -> None:
    """Stop a ``full`` run on a CPU before pretraining and fine-tuning BERTs for hours.

    The estimate: ``epochs x n_fit / batch`` fine-tuning steps per arm and test fold (of every
    repetition), on the first fold once per learning rate (:func:`tuned_trainer` with
    ``once``), plus the two backbones' pretraining steps (scaled by their batch), at about 2 s
    per step of BERT-base (768 wide) on a CPU, scaled with the width squared
    (:func:`~course_lib.profiles.check_long_run`).
    """
    fold_steps = settings.bert_epochs * n_fit / settings.bert_batch_size
    trainings = len(settings.lr_factors) + settings.n_test_folds - 1
    fine_tuning = fold_steps * n_arms * trainings
    batch_ratio = settings.pretrain_batch_size / settings.bert_batch_size
    pretraining = 2 * settings.pretrain_steps * batch_ratio
    seconds = (fine_tuning + pretraining) * 2.0 * (settings.bert_hidden / 768) ** 2
    what = (
        f"pretraining 2 BERT backbones and fine-tuning {n_arms} BERT arm(s) at "
        f"{len(settings.lr_factors)} learning rates on {settings.n_test_folds} "
        "test folds"
    )
    check_long_run(settings, device, seconds, what)


def chapter_folds(
    labels: np.ndarray, settings: Ch3Config, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The chapter's ``n_folds x cv_repeats`` test folds
    (:func:`~course_lib.cross_validation.repeated_stratified_folds`), with the first fold's
    validation rows withheld from every test fold: the BERT arms choose their learning rate
    there once and reuse it on every fold (:func:`tuned_trainer`), so no fold scores a model on
    rows that chose it."""
    folds = repeated_stratified_folds(labels, settings.n_folds, settings.cv_repeats, seed)
    return withholding(folds, first_validation_rows(folds, labels, settings.val_fraction, seed))


def cross_validate_all(
    trainers: Mapping[str, FoldTrainer],
    labels: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    val_fraction: float,
    seed: int = 0,
    pool: TrainingPool | None = None,
) -> dict[str, CVResult]:
    """Cross-validate every trainer on the same ``folds``: fold 0 of every model, then the others.

    Parameters
    ----------
    trainers
        ``{name: train_fold}``, e.g. from :func:`chapter_trainers`.
    labels
        ``[n]`` binary labels.
    folds
        ``(train_index, test_index)`` pairs from
        :func:`~course_lib.cross_validation.repeated_stratified_folds`, shared by every
        model.
    val_fraction, seed
        The validation share carved out of each fold's training rows, and its seed.
    pool
        Where the trainings run (default: this process, in order). Fold 0 of every model runs
        first, since a tuned model chooses its learning rate there (:func:`tuned_trainer`
        with ``once``); each trainer comes back with its choice and trains the other folds,
        side by side when the pool has workers.

    Returns
    -------
    dict
        ``{name: CVResult}`` in the order of ``trainers``: a fresh model per fold, each test
        fold scored once (:func:`~course_lib.cross_validation.score_fold`).

    Raises
    ------
    ValueError
        A test fold holds rows of the first fold's validation split, where the neural arms
        choose the learning rate they reuse on every fold (:func:`chapter_folds` withholds
        them).
    """
    rows = first_validation_rows(folds, labels, val_fraction, seed)
    check_withheld(folds, rows, "the learning rate, chosen on the first fold's validation rows,")
    pool = pool or TrainingPool()
    task = partial(
        _scored_fold, labels=np.asarray(labels), folds=folds, val_fraction=val_fraction, seed=seed
    )
    names = list(trainers)
    first = pool.map(task, [(trainers[n], 0) for n in names], desc="fold 0 of every model")
    tuned = {name: trainer for name, (trainer, _) in zip(names, first, strict=True)}
    later = [(name, fold) for name in names for fold in range(1, len(folds))]
    rest = pool.map(task, [(tuned[n], fold) for n, fold in later], desc="the other folds")
    results = {name: [result] for name, (_, result) in zip(names, first, strict=True)}
    for (name, _), (_, result) in zip(later, rest, strict=True):
        results[name].append(result)
    return {name: CVResult(name, results[name]) for name in names}


def _scored_fold(
    task: tuple[FoldTrainer, int],
    labels: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    val_fraction: float,
    seed: int,
) -> tuple[FoldTrainer, FoldResult]:
    """``task`` = ``(train_fold, fold)``: the trainer (with any choice it made) and its
    :func:`~course_lib.cross_validation.score_fold` result, from wherever the task ran."""
    train_fold, fold = task
    return train_fold, score_fold(train_fold, labels, fold, folds[fold], val_fraction, seed)
