"""DNABERT-style transformers for the PUM2 chapter: configuration, masked k-mer pretraining,
fine-tuning in the DNABERT recipe and loading a real DNABERT checkpoint folder.

- :func:`small_bert_config` builds a Hugging Face ``BertConfig`` small enough for a CPU.
- :func:`pretrain_masked_kmers` trains ``BertForMaskedLM`` on k-mer tokens with DNABERT's
  contiguous k-mer span masking (:func:`course_lib.tokenization.mask_tokens`), on training
  sequences only; :func:`transfer_encoder` copies the encoder into a classifier.
- :func:`dnabert_optimizer` is the fine-tuning recipe of DNABERT: AdamW, lr 2e-4, 10 % linear
  warm-up then linear decay, weight decay 0.01 (not on biases and LayerNorm); clip gradients at
  1.0 in the training loop.
- :func:`load_dnabert` opens a local checkpoint folder in the layout of
  ``zhihan1996/DNA_bert_3`` and says what to do when it is missing.
- :data:`PUM2_SETTINGS` is the chapter's settings table per profile.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_lib.interpret import TokenModelView
from course_lib.paths import checkpoints_dir
from course_lib.progress import progress
from course_lib.tokenization import IGNORE_INDEX, KmerVocabulary, mask_tokens, read_vocabulary
from course_lib.training import select_device

#: Chapter 3 settings per profile (resolve with ``course_lib.profiles.chapter_settings``).
PUM2_SETTINGS: dict[str, dict[str, Any]] = {
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

#: Published figures chapter 3 prints beside its own (real data).
PUM2_ANCHORS: dict[str, dict[str, Any]] = {
    "BiLSTM on 3-mers, PUM2": {
        "accuracy": 0.895,
        "ROC AUC": 0.941,
        "source": "original course notebook: 3,101/3,101 PUM2 course set, one split",
    },
    "DNABERT-3 fine-tuned, PUM2": {
        "accuracy": 0.926,
        "ROC AUC": 0.969,
        "source": "original course notebook: 3,101/3,101 PUM2 course set, one split",
    },
    "3-5-mer count logistic regression, RNAProt PUM2": {
        "ROC AUC": 0.907,
        "ROC AUC sd": 0.006,
        "source": "measured on the RNAProt PUM2 files, stratified 5-fold CV (data README)",
    },
}

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def small_bert_config(
    vocab: KmerVocabulary,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 128,
    max_length: int = 128,
    dropout: float = 0.1,
    num_labels: int = 2,
):
    """A ``transformers.BertConfig`` for ``vocab`` (DNABERT-3 itself: 768, 12, 12, 3072, 512).

    Raises ``ValueError`` when ``hidden_size`` is not divisible by ``num_heads``.
    """
    from transformers import BertConfig

    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
    return BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_length,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        pad_token_id=vocab.pad_id,
        num_labels=num_labels,
    )


def bert_classifier(config) -> nn.Module:
    """A fresh ``BertForSequenceClassification`` (two labels, as DNABERT fine-tunes)."""
    from transformers import BertForSequenceClassification

    return BertForSequenceClassification(config)


def bert_logit(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """One logit per sequence, ``logit[positive] - logit[negative]``, shape ``[n]``.

    ``BCEWithLogitsLoss`` on it equals the two-class cross-entropy DNABERT uses, so every model
    of the chapter is trained and scored the same way.
    """
    logits = model(**inputs).logits
    return logits[:, 1] - logits[:, 0]


def bert_view(vocab: KmerVocabulary) -> TokenModelView:
    """How :mod:`course_lib.interpret` feeds sequences to a BERT classifier on ``vocab``."""
    return TokenModelView(
        encode=lambda seqs: vocab.encode(seqs).to_torch(),
        forward=bert_logit,
        embedding=lambda model: model.bert.embeddings.word_embeddings,
        k=vocab.k,
        leading_specials=1,
    )


def dnabert_optimizer(
    model: nn.Module,
    total_steps: int,
    lr: float = 2e-4,
    weight_decay: float = 0.01,
    warmup_fraction: float = 0.1,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with DNABERT's fine-tuning schedule: linear warm-up then linear decay to 0.

    Biases and LayerNorm weights get no weight decay (as in DNABERT's ``run_finetune.py``).
    DNABERT pretrained with ``betas=(0.9, 0.98), eps=1e-6``. Step the scheduler every batch.
    With ``weight_decay=0`` it is Adam with the same schedule (the chapter's BiLSTM uses it).
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
        eps=eps,
        betas=betas,
    )
    warmup = max(1, math.ceil(warmup_fraction * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def pretrain_masked_kmers(
    config,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    vocab: KmerVocabulary,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 5e-4,
    mask_probability: float = 0.15,
    seed: int = 0,
    device: str | torch.device = "auto",
    show_progress: bool = True,
    description: str = "MLM pretraining",
):
    """Masked k-mer modelling: train a ``BertForMaskedLM`` to restore masked k-mer spans.

    Parameters
    ----------
    config
        A ``BertConfig`` (e.g. from :func:`small_bert_config`).
    input_ids, attention_mask
        ``[n, T]`` tokens of the **training** sequences only.
    epochs
        Passes over the data; masks are drawn afresh every batch (dynamic masking).

    Returns
    -------
    (model, history)
        The ``BertForMaskedLM`` (eval mode) and a DataFrame with ``epoch, mlm_loss,
        masked_accuracy`` (the fraction of masked tokens restored).
    """
    from transformers import BertForMaskedLM

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = select_device(device) if isinstance(device, str) else device
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = BertForMaskedLM(config).to(device)
    steps = epochs * math.ceil(len(input_ids) / batch_size)
    optimizer, scheduler = dnabert_optimizer(model, steps, lr=lr, betas=(0.9, 0.98), eps=1e-6)
    rows = []
    for epoch in progress(
        range(1, epochs + 1), desc=description, unit="epoch", disable=not show_progress
    ):
        model.train()
        order = torch.randperm(len(input_ids), generator=generator)
        loss_sum, correct, masked = 0.0, 0, 0
        for start in range(0, len(order), batch_size):
            rows_ = order[start : start + batch_size]
            corrupted, labels = mask_tokens(
                input_ids[rows_], vocab, mask_probability, generator=generator
            )
            if not (labels != IGNORE_INDEX).any():
                continue  # nothing masked in this batch: the loss would be NaN
            out = model(
                input_ids=corrupted.to(device),
                attention_mask=attention_mask[rows_].to(device),
                labels=labels.to(device),
            )
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            chosen = labels.to(device) != IGNORE_INDEX
            n_masked = int(chosen.sum())
            loss_sum += out.loss.item() * n_masked
            masked += n_masked
            correct += int((out.logits.argmax(-1)[chosen] == labels.to(device)[chosen]).sum())
        rows.append(
            {
                "epoch": epoch,
                "mlm_loss": loss_sum / max(masked, 1),
                "masked_accuracy": correct / max(masked, 1),
            }
        )
    model.eval()
    return model, pd.DataFrame(rows)


def transfer_encoder(source: nn.Module, target: nn.Module) -> None:
    """Copy the BERT encoder (embeddings + layers) of ``source`` into ``target`` in place.

    Works between ``BertForMaskedLM`` and ``BertForSequenceClassification``; the pooler and the
    classification head of ``target`` stay freshly initialised.
    """
    missing, unexpected = target.bert.load_state_dict(source.bert.state_dict(), strict=False)
    if unexpected or any(not name.startswith("pooler.") for name in missing):
        raise ValueError(f"encoders differ: missing {missing}, unexpected {unexpected}")


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
        mlm, history = pretrain_masked_kmers(
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
        return {"mlm_history": history}

    return prepare


def load_dnabert(folder: str | Path | None, num_labels: int = 2):
    """Load a local DNABERT checkpoint folder as a sequence classifier, with its vocabulary.

    The folder has the layout of the Hugging Face repository ``zhihan1996/DNA_bert_3``:
    ``config.json``, ``vocab.txt`` and ``pytorch_model.bin`` (or ``model.safetensors``). The
    k-mer size is read from ``vocab.txt``, which must be DNABERT's order.

    Returns
    -------
    (model, vocab)
        ``BertForSequenceClassification`` (new classification head) and the
        :class:`~course_lib.tokenization.KmerVocabulary` that reproduces its ``vocab.txt``.

    Raises
    ------
    FileNotFoundError
        The folder or one of its files is missing; the message says how to get them.
    """
    from transformers import BertForSequenceClassification

    how = (
        "download it once where you have internet, e.g. "
        "`huggingface-cli download zhihan1996/DNA_bert_3 --local-dir checkpoints/DNA_bert_3` "
        "(or the DNABERT-3 release from github.com/jerryji1993/DNABERT), then pass that "
        "folder as dnabert_path; without it, the chapter trains a small BERT instead"
    )
    if folder is None:
        raise FileNotFoundError(f"no DNABERT checkpoint folder given; {how}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"DNABERT checkpoint folder {folder} does not exist; {how}")
    missing = [name for name in ("config.json", "vocab.txt") if not (folder / name).exists()]
    if not any((folder / name).exists() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}; {how}")
    lengths = {
        len(t) for t in (folder / "vocab.txt").read_text().splitlines() if not t.startswith("[")
    }
    if len(lengths) != 1:
        raise ValueError(f"{folder / 'vocab.txt'} mixes k-mer lengths {sorted(lengths)}")
    vocab = read_vocabulary(folder, lengths.pop())
    model = BertForSequenceClassification.from_pretrained(str(folder), num_labels=num_labels)
    if model.config.vocab_size != len(vocab):
        raise ValueError(
            f"{folder}: config.json has vocab_size {model.config.vocab_size} but vocab.txt "
            f"lists {len(vocab)} tokens"
        )
    return model, vocab


def resolve_checkpoint(path: str | Path | None) -> Path | None:
    """``path`` if absolute or existing, else that name inside ``checkpoints_dir()``."""
    if path is None:
        return None
    path = Path(path)
    return path if path.is_absolute() or path.exists() else checkpoints_dir() / path


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
    from course_lib.cross_validation import neural_fold_trainer

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
        checkpoint, checkpoint_vocab = load_dnabert(resolve_checkpoint(dnabert_path))
        if checkpoint_vocab.tokens != vocab.tokens:
            raise ValueError("the checkpoint's vocab.txt differs from the tokenizer's vocabulary")
        name = "DNABERT-3 (fine-tuned)"
        factory = lambda: copy.deepcopy(checkpoint)  # noqa: E731
        return {name: neural_fold_trainer(factory, tokens, labels, name=name, **common)}
    config = small_bert_config(
        vocab,
        hidden_size,
        num_layers,
        num_heads,
        intermediate_size,
        max_length=tokens["input_ids"].shape[1],
    )
    trainers = {
        "BERT (no pretraining)": neural_fold_trainer(
            lambda: bert_classifier(config), tokens, labels, name="BERT", **common
        )
    }
    if pretrain_epochs > 0:
        prepare = mlm_pretraining_hook(
            config,
            tokens,
            vocab,
            epochs=pretrain_epochs,
            batch_size=batch_size,
            lr=pretrain_lr,
            seed=seed,
            device=device,
            show_progress=show_progress,
        )
        trainers["BERT (MLM-pretrained)"] = neural_fold_trainer(
            lambda: bert_classifier(config),
            tokens,
            labels,
            name="BERT+MLM",
            prepare=prepare,
            **common,
        )
    return trainers
