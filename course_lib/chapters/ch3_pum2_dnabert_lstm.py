"""Chapter 3, ``notebooks/03_pum2_dnabert_lstm.ipynb``: PUM2 binding sites, DNABERT versus a BiLSTM.

The chapter's recipe: settings per profile (:data:`SETTINGS`), the published anchors
(:data:`ANCHORS`), how :mod:`course_lib.interpret` feeds sequences to the BiLSTM and to BERT
(:func:`bilstm_view`, :func:`bert_view`), and the chapter's BERT variants as cross-validation
trainers (:func:`bert_fold_trainers`, with per-fold masked k-mer pretraining through
:func:`mlm_pretraining_hook`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib.cross_validation import neural_fold_trainer
from course_lib.interpret.attribution import TokenModelView
from course_lib.models.bert import (
    bert_classifier,
    bert_logit,
    load_dnabert,
    small_bert_config,
    transfer_encoder,
)
from course_lib.models.bilstm import lstm_token_ids
from course_lib.paths import resolve_checkpoint
from course_lib.pretraining import pretrain_masked_kmers
from course_lib.tokenization import KmerVocabulary
from course_lib.training import default_forward, dnabert_optimizer

NOTEBOOK = "03_pum2_dnabert_lstm.ipynb"

#: Settings per profile (resolve with :func:`course_lib.profiles.chapter_settings`).
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        "n_sequences": 900,
        "n_folds": 3,
        "val_fraction": 0.15,
        "k": 3,
        "batch_size": 64,
        "lstm_epochs": 6,
        "lstm_lr": 1e-2,
        "lstm_readout": "max",
        "lstm_embedding": 32,
        "lstm_hidden": 32,
        "cnn_epochs": 8,
        "cnn_channels": 32,
        "bert_hidden": 32,
        "bert_layers": 1,
        "bert_heads": 2,
        "bert_intermediate": 64,
        "bert_lr": 3e-3,
        "bert_batch_size": 32,
        "bert_epochs": 5,
        "pretrain_epochs": 3,
        "pretrain_lr": 3e-3,
        "patience": None,
        "logreg_c_grid": (1e-3, 1e-2),
        "n_interpret": 40,
        "dnabert_path": None,
    },
    "laptop": {
        "n_sequences": None,
        "n_folds": 5,
        "val_fraction": 0.1,
        "k": 3,
        "batch_size": 64,
        "lstm_epochs": 6,
        "lstm_lr": 2e-3,
        "lstm_readout": "max",
        "lstm_embedding": 128,
        "lstm_hidden": 100,
        "cnn_epochs": 12,
        "cnn_channels": 64,
        "bert_hidden": 64,
        "bert_layers": 2,
        "bert_heads": 4,
        "bert_intermediate": 128,
        "bert_lr": 1e-3,
        "bert_batch_size": 64,
        "bert_epochs": 4,
        "pretrain_epochs": 2,
        "pretrain_lr": 1e-3,
        "patience": None,
        "logreg_c_grid": (1e-3, 1e-2),
        "n_interpret": 100,
        "dnabert_path": None,
    },
    "full": {
        "n_sequences": None,
        "n_folds": 5,
        "val_fraction": 0.1,
        "k": 3,
        "batch_size": 32,
        "lstm_epochs": 30,
        "lstm_lr": 2e-3,
        "lstm_readout": "max",
        "lstm_embedding": 128,
        "lstm_hidden": 100,
        "cnn_epochs": 30,
        "cnn_channels": 128,
        "bert_hidden": 768,
        "bert_layers": 12,
        "bert_heads": 12,
        "bert_intermediate": 3072,
        "bert_lr": 2e-4,
        "bert_batch_size": 32,
        "bert_epochs": 5,
        "pretrain_epochs": 0,
        "pretrain_lr": 2e-4,
        "patience": 5,
        "logreg_c_grid": (1e-4, 1e-3, 1e-2),
        "n_interpret": 1000,
        "dnabert_path": "DNA_bert_3",
    },
}


#: Published figures chapter 3 prints beside its own (real data), each with its protocol label.
ANCHORS: dict[str, dict[str, Any]] = {
    "BiLSTM on 3-mers, PUM2": {
        "accuracy": 0.895,
        "ROC AUC": 0.941,
        "protocol": "one split, test-selected",
        "source": "original course notebook: 3,101/3,101 PUM2 course set, one split",
    },
    "DNABERT-3 fine-tuned, PUM2": {
        "accuracy": 0.926,
        "ROC AUC": 0.969,
        "protocol": "one split, test-selected",
        "source": "original course notebook: 3,101/3,101 PUM2 course set, one split",
    },
    "3-5-mer count logistic regression, RNAProt PUM2": {
        "ROC AUC": 0.907,
        "ROC AUC sd": 0.006,
        "protocol": "stratified 5-fold CV",
        "source": "measured on the RNAProt PUM2 files, stratified 5-fold CV (data README)",
    },
}


def bert_view(vocab: KmerVocabulary) -> TokenModelView:
    """How :mod:`course_lib.interpret` feeds sequences to a BERT classifier on ``vocab``."""
    return TokenModelView(
        encode=lambda seqs: vocab.encode(seqs).to_torch(),
        forward=bert_logit,
        embedding=lambda model: model.bert.embeddings.word_embeddings,
        k=vocab.k,
        leading_specials=1,
    )


def mlm_pretraining_hook(
    config,
    tokens: dict[str, torch.Tensor],
    vocab: KmerVocabulary,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    device: str = "auto",
    show_progress: bool = True,
):
    """A ``prepare`` for :func:`course_lib.cross_validation.neural_fold_trainer`.

    For each fold, pretrain on that fold's fit rows only (never validation or test rows) and
    copy the encoder into the fresh classifier. Returns ``{"mlm_history": DataFrame}``.
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
        return {"mlm_history": result.history}

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
) -> dict[str, Callable]:
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
) -> Callable:
    """A ``train_fold`` fine-tuning a fresh copy of the DNABERT checkpoint folder per fold."""
    checkpoint, checkpoint_vocab = load_dnabert(resolve_checkpoint(dnabert_path))
    if checkpoint_vocab.tokens != vocab.tokens:
        raise ValueError("the checkpoint's vocab.txt differs from the tokenizer's vocabulary")
    factory = partial(copy.deepcopy, checkpoint)
    return neural_fold_trainer(factory, tokens, labels, name="DNABERT-3 (fine-tuned)", **options)


def bilstm_view(k: int = 3) -> TokenModelView:
    """How :mod:`course_lib.interpret` feeds sequences to a :class:`BiLSTMClassifier`."""
    return TokenModelView(
        encode=lambda seqs: torch.from_numpy(lstm_token_ids(seqs, k)),
        forward=default_forward,
        embedding=lambda model: model.embedding,
        k=k,
        leading_specials=0,
    )
