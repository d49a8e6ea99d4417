"""Chapter 3's models (``notebooks/03_pum2_dnabert_lstm.ipynb``) as fold trainers, one CV loop.

Each model kind of the chapter has one function here that returns a ``train_fold(fit_index,
val_index, fold) -> TrainedFold`` for :func:`course_lib.cross_validation.cross_validate`, which
builds a fresh model per fold:

- :func:`kmer_trainer`: the k-mer count logistic regression
  (:mod:`course_lib.chapters.ch3_kmer_baseline`), the shallow baseline;
- :func:`cnn_trainer`: a one-hot CNN (:class:`~course_lib.models.cnn_classifier.OneHotCNN`);
- :func:`bilstm_trainer`: the chapter's central model, the BiLSTM on k-mer ids
  (:class:`~course_lib.models.bilstm.BiLSTMClassifier`);
- :func:`bert_fold_trainers`: the BERT variants (a small BERT with and without masked k-mer
  pretraining on each fold's fit rows, :func:`mlm_pretraining_hook`; or the real DNABERT-3,
  :func:`dnabert_trainer`).

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
from course_lib.chapters.ch3_kmer_baseline import kmer_count_features, kmer_fold_trainer
from course_lib.cross_validation import CVResult, TrainedFold, cross_validate, neural_fold_trainer
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
from course_lib.pretraining import pretrain_masked_kmers
from course_lib.profiles import check_long_run
from course_lib.tokenization import KmerVocabulary
from course_lib.training import dnabert_optimizer

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
    """
    ids = torch.from_numpy(lstm_token_ids(seqs, settings.k))
    chosen = settings.lstm_readout if readout is None else readout
    return neural_fold_trainer(
        lambda: BiLSTMClassifier(
            settings.k, settings.lstm_embedding, settings.lstm_hidden, readout=chosen
        ),
        ids,
        labels,
        epochs=settings.lstm_epochs,
        batch_size=settings.batch_size,
        optimizer_factory=lambda model, steps: dnabert_optimizer(
            model, steps, lr=settings.lstm_lr, weight_decay=0.0
        ),
        grad_clip=1.0,
        patience=settings.patience,
        device=device,
        seed=seed,
        name=name,
    )


def mlm_pretraining_hook(
    config: BertConfig,
    tokens: dict[str, torch.Tensor],
    vocab: KmerVocabulary,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    device: str = "auto",
    show_progress: bool = True,
) -> Callable[[nn.Module, np.ndarray, int], dict[str, Any]]:
    """A ``prepare`` for :func:`course_lib.cross_validation.neural_fold_trainer`.

    For each fold, pretrain on that fold's fit rows only (never validation or test rows) and
    copy the encoder into the fresh classifier. Returns ``{"mlm_history": DataFrame,
    "fit_index": [n_fit] rows pretrained on}``.
    """

    def prepare(model: nn.Module, fit_index: np.ndarray, fold: int) -> dict[str, Any]:
        index = torch.as_tensor(fit_index, dtype=torch.long)
        mlm, result = pretrain_masked_kmers(
            config,
            tokens["input_ids"][index],
            tokens["attention_mask"][index],
            vocab,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed + fold,
            device=device,
            show_progress=show_progress,
            description=f"MLM pretraining fold {fold}",
        )
        transfer_encoder(mlm, model)
        return {"mlm_history": result.history, "fit_index": np.asarray(fit_index)}

    return prepare


def bert_fold_trainers(
    tokens: dict[str, torch.Tensor],
    labels: np.ndarray,
    vocab: KmerVocabulary,
    *,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    epochs: int,
    lr: float,
    pretrain_epochs: int,
    pretrain_lr: float,
    batch_size: int,
    dnabert_path: str | Path | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    show_progress: bool = True,
) -> dict[str, FoldTrainer]:
    """The chapter's BERT variants as ``train_fold`` functions for ``cross_validate``.

    Without ``dnabert_path``: ``"BERT (no pretraining)"`` and, when ``pretrain_epochs > 0``,
    ``"BERT (MLM-pretrained)"`` (same architecture and seed, masked k-mer pretraining on each
    fold's fit rows first). With ``dnabert_path``: ``"DNABERT-3 (fine-tuned)"``, a fresh copy of
    the checkpoint per fold. All are fine-tuned in the DNABERT recipe (AdamW, warm-up 10 %,
    weight decay 0.01, gradient clipping 1.0), the epoch kept on validation ROC AUC.
    """
    common = {
        "epochs": epochs,
        "batch_size": batch_size,
        "device": device,
        "forward": bert_logit,
        "optimizer_factory": lambda model, steps: dnabert_optimizer(model, steps, lr=lr),
        "grad_clip": 1.0,
        "seed": seed,
        "show_progress": show_progress,
    }
    if dnabert_path is not None:
        return {
            "DNABERT-3 (fine-tuned)": dnabert_trainer(dnabert_path, tokens, labels, vocab, common)
        }
    config = small_bert_config(
        vocab, hidden_size, num_layers, num_heads, intermediate_size, tokens["input_ids"].shape[1]
    )
    new_bert = partial(bert_classifier, config)
    trainers = {
        "BERT (no pretraining)": neural_fold_trainer(
            new_bert, tokens, labels, name="BERT", **common
        )
    }
    if pretrain_epochs > 0:
        pretraining = {"epochs": pretrain_epochs, "batch_size": batch_size, "lr": pretrain_lr}
        pretraining.update(seed=seed, device=device, show_progress=show_progress)
        prepare = mlm_pretraining_hook(config, tokens, vocab, **pretraining)
        trainers["BERT (MLM-pretrained)"] = neural_fold_trainer(
            new_bert, tokens, labels, name="BERT+MLM", prepare=prepare, **common
        )
    return trainers


def dnabert_trainer(
    dnabert_path: str | Path,
    tokens: dict[str, torch.Tensor],
    labels: np.ndarray,
    vocab: KmerVocabulary,
    options: dict[str, Any],
) -> FoldTrainer:
    """A ``train_fold`` fine-tuning a fresh copy of the DNABERT checkpoint folder per fold."""
    checkpoint, checkpoint_vocab = load_dnabert(dnabert_path)
    if checkpoint_vocab.tokens != vocab.tokens:
        raise ValueError("the checkpoint's vocab.txt differs from the tokenizer's vocabulary")
    factory = partial(copy.deepcopy, checkpoint)
    return neural_fold_trainer(factory, tokens, labels, name="DNABERT-3 (fine-tuned)", **options)


def chapter_bert_trainers(
    tokens: dict[str, torch.Tensor],
    labels: np.ndarray,
    vocab: KmerVocabulary,
    settings: Ch3Config,
    dnabert_path: Path | None,
    device: str | torch.device = "auto",
    seed: int = 0,
) -> dict[str, FoldTrainer]:
    """:func:`bert_fold_trainers` with the sizes and schedules of ``settings``.

    Parameters
    ----------
    tokens
        ``input_ids`` and ``attention_mask`` ``[n, T]`` of every sequence.
    labels
        ``[n]`` binary labels.
    vocab
        The k-mer vocabulary of ``tokens``.
    settings
        The chapter's configuration (``bert_*``, ``pretrain_*``).
    dnabert_path
        The real DNABERT-3 folder, or ``None`` for the small BERT stand-in.
    device, seed
        Where to train; fold ``f`` is seeded with ``seed + f``.
    """
    return bert_fold_trainers(
        tokens,
        labels,
        vocab,
        hidden_size=settings.bert_hidden,
        num_layers=settings.bert_layers,
        num_heads=settings.bert_heads,
        intermediate_size=settings.bert_intermediate,
        epochs=settings.bert_epochs,
        lr=settings.bert_lr,
        pretrain_epochs=settings.pretrain_epochs,
        pretrain_lr=settings.pretrain_lr,
        batch_size=settings.bert_batch_size,
        dnabert_path=dnabert_path,
        device=device,
        seed=seed,
    )


def chapter_trainers(
    seqs: Sequence[str],
    labels: np.ndarray,
    tokens: dict[str, torch.Tensor],
    vocab: KmerVocabulary,
    settings: Ch3Config,
    dnabert_path: Path | None,
    device: str | torch.device = "auto",
    seed: int = 0,
) -> dict[str, FoldTrainer]:
    """Every model of the chapter, in the order they are trained and reported.

    ``"k-mer LR"``, ``"CNN"``, ``"BiLSTM"``, then the BERT variants of
    :func:`chapter_bert_trainers`; arguments as there and in :func:`bilstm_trainer`.
    """
    return {
        "k-mer LR": kmer_trainer(seqs, labels, settings, seed),
        "CNN": cnn_trainer(seqs, labels, settings, device, seed),
        "BiLSTM": bilstm_trainer(seqs, labels, settings, device, seed),
        **chapter_bert_trainers(tokens, labels, vocab, settings, dnabert_path, device, seed),
    }


def check_bert_run(settings: Ch3Config, device: Any, n_fit: int, bert_names: Sequence[str]) -> None:
    """Stop a ``full`` run on a CPU before fine-tuning BERTs that would take hours.

    The estimate: ``n_folds x epochs x n_fit / batch`` steps per model at about 2 s per step
    of BERT-base (768 wide) on a CPU, scaled with the width squared
    (:func:`~course_lib.profiles.check_long_run`).
    """
    fold_steps = settings.bert_epochs * n_fit / settings.bert_batch_size
    seconds_per_step = 2.0 * (settings.bert_hidden / 768) ** 2
    seconds = settings.n_folds * fold_steps * len(bert_names) * seconds_per_step
    what = f"fine-tuning {len(bert_names)} BERT model(s) on {settings.n_folds} folds"
    check_long_run(settings, device, seconds, what)


def cross_validate_all(
    trainers: Mapping[str, FoldTrainer],
    labels: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    val_fraction: float,
    seed: int = 0,
) -> dict[str, CVResult]:
    """Cross-validate every trainer on the same ``folds``, in the order of ``trainers``.

    Parameters
    ----------
    trainers
        ``{name: train_fold}``, e.g. from :func:`chapter_trainers`.
    labels
        ``[n]`` binary labels.
    folds
        ``(train_index, test_index)`` pairs from
        :func:`~course_lib.cross_validation.stratified_folds`, shared by every model.
    val_fraction, seed
        The validation share carved out of each fold's training rows, and its seed.

    Returns
    -------
    dict
        ``{name: CVResult}``: a fresh model per fold, each test fold scored once.
    """
    return {
        name: cross_validate(name, trainer, labels, folds, val_fraction, seed)
        for name, trainer in trainers.items()
    }
