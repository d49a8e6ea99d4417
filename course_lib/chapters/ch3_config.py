"""Chapter 3's configuration (``notebooks/03_pum2_dnabert_lstm.ipynb``): parameters per profile."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

from course_lib.config import ChapterConfig, Rule, parameter


@dataclass(frozen=True)
class Ch3Config(ChapterConfig):
    """Chapter 3's parameters; field defaults are ``laptop``, other profiles differ by ``PROFILES``.

    Attributes
    ----------
    n_sequences
        Class-balanced subset of the binding-site data (sequences, >= 2; ``None``: all).
    n_folds
        Cross-validation folds (count, >= 2; ``laptop``: 3, so that the repeated CV fits the
        chapter's 30 minutes on 2 CPU cores).
    cv_repeats
        Repetitions of the k-fold cross-validation, each on folds drawn with another seed
        (count, >= 1); every model is scored on all ``n_folds x cv_repeats`` test folds.
    val_fraction
        Share of each fold's training rows held out to choose the epoch (fraction, 0.01-0.5).
    k
        k-mer length of the tokens (nucleotides, 1-6; DNABERT-3: 3).
    batch_size
        Sequences per optimizer step of the BiLSTM and the CNN (count, >= 1).
    lstm_epochs
        Maximum epochs of the BiLSTM per fold (count, >= 1).
    lstm_lr
        Learning rate of the BiLSTM (Adam, > 0).
    lstm_readout
        How the BiLSTM summarises the sequence: ``"max"`` over positions or ``"last"`` (the
        original).
    lstm_embedding
        Width of the BiLSTM's k-mer embedding (features, >= 1).
    lstm_hidden
        Hidden units of the BiLSTM per direction (count, >= 1).
    cnn_epochs
        Maximum epochs of the CNN per fold (count, >= 1).
    cnn_channels
        Channels of the CNN's convolutions (count, >= 1).
    bert_hidden
        Width of the transformers (features, >= 1; DNABERT-3: 768).
    bert_layers
        Transformer layers (count, >= 1; DNABERT-3: 12).
    bert_heads
        Attention heads per layer (count, >= 1; divides ``bert_hidden``).
    bert_intermediate
        Width of the feed-forward layers (features, >= 1; DNABERT-3: 3072).
    bert_local_kernel
        Width (tokens, 0 or odd) of the convolution over the token embeddings before the first
        attention layer of the course's small BERTs (0: none, as in DNABERT-3; see
        :class:`course_lib.models.bert.LocalContextEmbedding`).
    bert_lr
        Base fine-tuning learning rate of the transformers (AdamW, > 0); each BERT arm picks
        its own from ``bert_lr x lr_factors`` on validation.
    lr_factors
        Multiples of the base learning rate tried by every fine-tuned arm (each > 0); the
        smallest whose validation ROC AUC lies within one standard error of the best is kept
        (:func:`course_lib.chapters.ch3_models.tuned_trainer`).
    bert_batch_size
        Sequences per fine-tuning step of the transformers (count, >= 1).
    bert_epochs
        Fine-tuning epochs of the transformers per fold (count, >= 1).
    pretrain_steps
        Optimizer steps of the masked k-mer pretraining, once per profile on genome windows
        and once on the random-sequence control (count, >= 0; 0: no pretrained arms).
    pretrain_lr
        Peak learning rate of the masked k-mer pretraining (AdamW, warm-up then linear
        decay; > 0).
    pretrain_batch_size
        Windows per pretraining step (count, >= 1).
    pretrain_stride
        Distance between the starts of consecutive genome windows (nt, >= 1).
    efficiency_counts
        Labelled sites of the sample-efficiency curve (counts, >= 20 each, increasing).
    efficiency_steps
        Fine-tuning steps of every arm at each labelled-site count, at least (count, >= 1).
    efficiency_epochs
        Passes over each labelled draw, at least (count, >= 1): with a fixed number of steps
        the largest draw would get only a few, too few for a pretrained backbone to adapt.
    patience
        Epochs without a better validation loss before stopping (count, >= 1; ``None``: never).
    logreg_c_grid
        Inverse regularisation strengths tried by the k-mer logistic regression (each > 0).
    n_interpret
        Positives explained by in-silico mutagenesis and gradient x input (count, >= 1).
    dnabert_path
        A local DNABERT-3 checkpoint folder (layout of zhihan1996/DNA_bert_3; ``None``: none).
    motif
        Regular expression (DNA alphabet) of the motif looked for; PUM2: ``"TGTA.ATA"``.
    n_random_explained
        Random held-out positives explained besides the top-scored ones (count, >= 1).
    """

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "n_sequences": 900,
            "n_folds": 3,
            "cv_repeats": 1,
            "val_fraction": 0.15,
            "lstm_epochs": 6,
            "lstm_lr": 1e-2,
            "lstm_embedding": 32,
            "lstm_hidden": 32,
            "cnn_epochs": 8,
            "cnn_channels": 32,
            "bert_hidden": 32,
            "bert_layers": 1,
            "bert_heads": 2,
            "bert_intermediate": 64,
            "bert_lr": 3e-3,
            "lr_factors": (0.3, 1.0),
            "bert_batch_size": 32,
            "bert_epochs": 5,
            "pretrain_steps": 250,
            "pretrain_lr": 1e-2,
            "pretrain_batch_size": 32,
            "pretrain_stride": 20,
            "efficiency_counts": (60, 150, 400),
            "efficiency_steps": 25,
            "efficiency_epochs": 1,
            "n_interpret": 40,
            "n_random_explained": 20,
        },
        "full": {
            "n_folds": 5,
            "batch_size": 32,
            "lstm_epochs": 30,
            "cnn_epochs": 30,
            "cnn_channels": 128,
            "bert_hidden": 768,
            "bert_layers": 12,
            "bert_heads": 12,
            "bert_intermediate": 3072,
            "bert_lr": 2e-4,
            "bert_batch_size": 32,
            "bert_epochs": 5,
            "pretrain_steps": 10000,
            "pretrain_lr": 4e-4,
            "pretrain_batch_size": 128,
            "lr_factors": (0.5, 1.0, 2.0),
            "efficiency_counts": (100, 300, 1000, 3000),
            "efficiency_steps": 500,
            "patience": 5,
            "logreg_c_grid": (1e-4, 1e-3, 1e-2),
            "n_interpret": 1000,
            "dnabert_path": "DNA_bert_3",
            "n_random_explained": 200,
        },
    }
    TINY: ClassVar[dict[str, Any]] = {
        "n_sequences": 300,
        "n_folds": 3,
        "lstm_epochs": 2,
        "lstm_embedding": 16,
        "lstm_hidden": 16,
        "cnn_epochs": 2,
        "cnn_channels": 16,
        "bert_hidden": 32,
        "bert_layers": 1,
        "bert_heads": 2,
        "bert_intermediate": 64,
        "bert_epochs": 2,
        "pretrain_steps": 20,
        "pretrain_stride": 200,
        "efficiency_counts": (40, 80, 120),
        "efficiency_steps": 4,
        "efficiency_epochs": 1,
        "n_interpret": 10,
        "n_random_explained": 10,
    }

    n_sequences: int | None = parameter(
        None, "class-balanced subset of the data", int, minimum=2, optional=True
    )
    n_folds: int = parameter(3, "cross-validation folds", minimum=2)
    cv_repeats: int = parameter(2, "repetitions of the k-fold CV", minimum=1)
    val_fraction: float = parameter(
        0.1, "share of training rows held out for validation", minimum=0.01, maximum=0.5
    )
    k: int = parameter(3, "k-mer length of the tokens", minimum=1, maximum=6)
    batch_size: int = parameter(64, "sequences per BiLSTM and CNN step", minimum=1)
    lstm_epochs: int = parameter(5, "maximum epochs of the BiLSTM per fold", minimum=1)
    lstm_lr: float = parameter(2e-3, "learning rate of the BiLSTM", minimum=1e-8)
    lstm_readout: str = parameter("max", "BiLSTM sequence summary", choices=("max", "last"))
    lstm_embedding: int = parameter(128, "width of the BiLSTM's k-mer embedding", minimum=1)
    lstm_hidden: int = parameter(100, "hidden units of the BiLSTM per direction", minimum=1)
    cnn_epochs: int = parameter(12, "maximum epochs of the CNN per fold", minimum=1)
    cnn_channels: int = parameter(64, "channels of the CNN", minimum=1)
    bert_hidden: int = parameter(64, "width of the transformers", minimum=1)
    bert_layers: int = parameter(2, "transformer layers", minimum=1)
    bert_heads: int = parameter(4, "attention heads per layer", minimum=1)
    bert_intermediate: int = parameter(128, "width of the feed-forward layers", minimum=1)
    bert_local_kernel: int = parameter(
        7, "width of the convolution before attention (0: none)", choices=(0, 3, 5, 7, 9)
    )
    bert_lr: float = parameter(1e-3, "base fine-tuning learning rate", minimum=1e-8)
    lr_factors: tuple[float, ...] = parameter(
        (0.5, 2.0, 8.0),
        "multiples of the base learning rate tried by every arm",
        item=Rule("a learning-rate multiple", float, minimum=1e-6),
    )
    bert_batch_size: int = parameter(64, "sequences per fine-tuning step", minimum=1)
    bert_epochs: int = parameter(4, "fine-tuning epochs per fold", minimum=1)
    pretrain_steps: int = parameter(1500, "masked k-mer pretraining steps", minimum=0)
    pretrain_lr: float = parameter(1e-3, "peak pretraining learning rate", minimum=1e-8)
    pretrain_batch_size: int = parameter(64, "windows per pretraining step", minimum=1)
    pretrain_stride: int = parameter(10, "distance between genome window starts", minimum=1)
    efficiency_counts: tuple[int, ...] = parameter(
        (100, 300, 1000),
        "labelled sites of the sample-efficiency curve",
        item=Rule("a labelled-site count", int, minimum=20),
    )
    efficiency_steps: int = parameter(
        60, "fine-tuning steps per labelled-site count, at least", minimum=1
    )
    efficiency_epochs: int = parameter(
        15, "passes over each labelled draw of the curve, at least", minimum=1
    )
    patience: int | None = parameter(
        None, "epochs without improvement before stopping", int, minimum=1, optional=True
    )
    logreg_c_grid: tuple[float, ...] = parameter(
        (1e-3, 1e-2),
        "regularisation strengths of the logistic regression",
        item=Rule("an inverse regularisation strength", float, minimum=1e-12),
    )
    n_interpret: int = parameter(100, "positives explained by ISM", minimum=1)
    dnabert_path: str | os.PathLike | None = parameter(
        None, "local DNABERT-3 checkpoint folder", os.PathLike, optional=True
    )
    motif: str = parameter("TGTA.ATA", "regular expression of the motif looked for")
    n_random_explained: int = parameter(50, "random held-out positives explained", minimum=1)

    @property
    def n_test_folds(self) -> int:
        """Test folds every model is scored on: ``n_folds x cv_repeats`` (count)."""
        return self.n_folds * self.cv_repeats

    @property
    def cv_design(self) -> str:
        """The cross-validation in words, e.g. ``"3-fold CV repeated 2 times, 6 test folds"``."""
        if self.cv_repeats == 1:
            return f"{self.n_folds}-fold CV"
        return (
            f"{self.n_folds}-fold CV repeated {self.cv_repeats} times, "
            f"{self.n_test_folds} test folds"
        )
