"""UTR-LM: an ESM-2-style nucleotide language model for 5' UTRs (Chu et al. 2024).

The backbone is Hugging Face's ``EsmModel`` (rotary position embeddings, pre-layer-norm
transformer blocks, a final layer norm) over single nucleotides with ESM's special tokens
``<cls> <pad> <eos> <unk> A C G U <mask>``, built with the course's shared k-mer tokenizer
(:mod:`course_lib.tokenization`, k = 1).

Pretraining (:func:`pretrain`) combines three switchable objectives on one forward pass:

- ``"mlm"``: masked nucleotide modelling (15 % of nucleotides, BERT's 80/10/10 recipe);
- ``"mfe"``: regression of the ViennaRNA minimum free energy from the ``<cls>`` embedding;
- ``"structure"``: per-nucleotide classification as paired-left ``(``, paired-right ``)`` or
  unpaired ``.`` in the ViennaRNA MFE structure (labels from :mod:`course_lib.structure`).

Fine-tuning (:class:`UTRLMForMRL`, :func:`finetune`) predicts mean ribosome load from the
``<cls>`` embedding or the mean over nucleotides, through a small head, with the backbone
frozen or updated, with a Huber or MSE loss. Both models are Hugging Face ``PreTrainedModel``
subclasses: ``save_pretrained(folder)`` / ``from_pretrained(folder)`` round-trip them, and a
pretraining checkpoint loads straight into :class:`UTRLMForMRL` (the heads are new).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate
from transformers import EsmConfig
from transformers.models.esm.modeling_esm import EsmLMHead, EsmModel, EsmPreTrainedModel

from course_lib.metrics import regression_metrics
from course_lib.progress import progress
from course_lib.structure import STRUCTURE_CLASSES, FoldResult, structure_labels
from course_lib.tokenization import (
    ESM_STYLE,
    IGNORE_INDEX,
    KmerVocabulary,
    TokenBatch,
    build_vocabulary,
    mask_tokens,
    read_vocabulary,
)
from course_lib.training import FitResult, fit, predict, select_device, to_device

OBJECTIVES = ("mlm", "mfe", "structure")
#: UTRSplit part -> name of the published test set.
TEST_SETS = {"test_random": "Random7600", "test_human": "Human7600"}
#: Published figures on the real data (COURSE_DESIGN.md). Optimus reported squared Pearson r.
ANCHORS = {
    "UTR-LM + ResNet head, fine-tuned (Chu et al. 2024)": {
        "Random7600": {"R2": 0.859},
        "Human7600": {"R2": 0.806},
        "source": "Chu Y et al., Nat Mach Intell 6, 449-460 (2024); sklearn R2",
    },
    "Optimus 5-Prime, varying length 25-100 (Sample et al. 2019)": {
        "Random7600": {"Pearson r^2": 0.838},
        "Human7600": {"Pearson r^2": 0.778},
        "source": "Sample PJ et al., Nat Biotechnol 37, 803-809 (2019); squared Pearson r, not R2",
    },
}
POOLINGS = ("cls", "mean")
LOSSES = ("huber", "mse")

#: Settings per profile. ``full`` is the UTR-LM size (6 layers, 16 heads, width 128).
UTR_LM_TABLE: dict[str, dict[str, Any]] = {
    "smoke": {
        "n_train": 800,
        "val_fraction": 0.1,
        "n_test_per_length": 5,
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
        "n_train": 6000,
        "val_fraction": 0.1,
        "n_test_per_length": 100,
        "hidden_size": 64,
        "num_layers": 3,
        "num_heads": 4,
        "pretrain_epochs": 5,
        "finetune_epochs": 6,
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
        "n_train": None,
        "val_fraction": 0.1,
        "n_test_per_length": 100,
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
}


# ----------------------------------------------------------------------------- tokens


def utr_vocabulary() -> KmerVocabulary:
    """ESM-style nucleotide vocabulary: ``<cls> <pad> <eos> <unk> A C G U <mask>`` (ids 0..8).

    A thin adapter over :func:`course_lib.tokenization.build_vocabulary` with ``k = 1``; the
    tokenizer reads T as U, so DNA-alphabet UTRs encode to the same ids.
    """
    return build_vocabulary(1, alphabet="ACGU", **ESM_STYLE)


def encode_utrs(
    seqs: Sequence[str], vocab: KmerVocabulary, max_length: int | None = None
) -> TokenBatch:
    """``<cls> n1 … nL <eos> <pad> …`` ids and attention mask, ``[n, T]`` int64.

    ``max_length`` is ``T`` including both special tokens (default: longest UTR + 2).
    """
    return vocab.encode(list(seqs), max_length=max_length)


def structure_targets(structures: Sequence[str], width: int) -> np.ndarray:
    """Per-token structure labels aligned with :func:`encode_utrs` output of width ``T``.

    Position 0 is ``<cls>``, so nucleotide ``i`` sits at token ``i + 1``. Special and padding
    positions get ``-100`` (ignored by the loss).

    Returns
    -------
    numpy.ndarray
        ``int64`` ``[n, width]`` with values 0 ``(``, 1 ``)``, 2 ``.`` or ``-100``.
    """
    out = np.full((len(structures), width), IGNORE_INDEX, dtype=np.int64)
    for i, structure in enumerate(structures):
        if len(structure) + 2 > width:
            raise ValueError(
                f"structure #{i} has {len(structure)} nt but tokens are only {width} wide "
                "(<cls> and <eos> take two); encode with a larger max_length"
            )
        out[i, 1 : 1 + len(structure)] = structure_labels(structure)
    return out


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of UTRs of similar length, in random order, for less padding per batch.

    Each epoch shuffles the indices, sorts windows of ``50 * batch_size`` of them by length,
    cuts them into batches and shuffles the batches. With :func:`collate_trimmed`, a batch
    is only as wide as its longest UTR: on UTRs of 25-100 nt an epoch holds about 35 % fewer
    tokens than with random batches, which are nearly all as wide as the longest UTR.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int = 0, window: int = 50):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.window = window * batch_size
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self):
        order = self.rng.permutation(len(self.lengths))
        batches = []
        for start in range(0, len(order), self.window):
            chunk = order[start : start + self.window]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        for i in self.rng.permutation(len(batches)):
            yield batches[i].tolist()


def _trim(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    width = int(batch["attention_mask"].sum(1).max())
    return {k: v[:, :width] if v.dim() == 2 else v for k, v in batch.items()}


def collate_trimmed(items: list) -> Any:
    """``default_collate``, then cut every ``[n, T]`` tensor to the longest UTR in the batch.

    Works for dict items (pretraining) and ``(dict, target)`` items (fine-tuning).
    """
    batch = default_collate(items)
    if isinstance(batch, dict):
        return _trim(batch)
    inputs, target = batch
    return _trim(inputs), target


# ----------------------------------------------------------------------------- configuration


def utr_lm_config(
    vocab: KmerVocabulary | None = None,
    *,
    hidden_size: int = 128,
    num_layers: int = 6,
    num_heads: int = 16,
    intermediate_size: int | None = None,
    max_length: int = 102,
    dropout: float = 0.1,
    pooling: str = "cls",
    head_hidden: int = 64,
    head_dropout: float = 0.2,
) -> EsmConfig:
    """An ESM-2-style ``EsmConfig`` for UTRs (defaults: the UTR-LM size).

    Rotary position embeddings (``position_embedding_type="rotary"``), no embedding layer
    norm before the blocks (ESM-2: pre-layer-norm blocks and a final layer norm), no ESM
    token dropout, untied output embeddings. ``intermediate_size`` defaults to
    ``4 * hidden_size``. The fields ``mfe_mean``/``mfe_std`` (set by :func:`set_mfe_scale`),
    ``pooling``, ``head_hidden``, ``head_dropout`` and ``vocab_tokens`` travel with the
    checkpoint.
    """
    vocab = vocab or utr_vocabulary()
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
    if (hidden_size // num_heads) % 2:
        raise ValueError("rotary embeddings need an even head size (hidden_size / num_heads)")
    check_pooling(pooling)
    return EsmConfig(
        vocab_size=len(vocab),
        pad_token_id=vocab.pad_id,
        mask_token_id=vocab.mask_id,
        cls_token_id=vocab.role_id("cls"),
        eos_token_id=vocab.role_id("sep"),
        vocab_tokens=list(vocab.tokens),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=intermediate_size or 4 * hidden_size,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        max_position_embeddings=max_length,
        position_embedding_type="rotary",
        emb_layer_norm_before=False,
        token_dropout=False,
        layer_norm_eps=1e-5,
        tie_word_embeddings=False,
        n_structure_classes=len(STRUCTURE_CLASSES),
        mfe_mean=0.0,
        mfe_std=1.0,
        pooling=pooling,
        head_hidden=head_hidden,
        head_dropout=head_dropout,
    )


def set_mfe_scale(config: EsmConfig, mfe: np.ndarray) -> EsmConfig:
    """Store the mean and sd of the training MFEs (kcal/mol) in ``config`` and return it.

    The MFE head predicts standardised values; the scale makes predictions readable in
    kcal/mol and travels with the checkpoint. Fit it on the pretraining corpus only.
    """
    mfe = np.asarray(mfe, dtype=float)
    if mfe.size < 2 or not np.isfinite(mfe).all():
        raise ValueError("need at least two finite MFE values to set the scale")
    config.mfe_mean = float(mfe.mean())
    config.mfe_std = float(mfe.std()) or 1.0
    return config


def check_pooling(pooling: str) -> str:
    """Return ``pooling`` if it is ``"cls"`` or ``"mean"``, else raise."""
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    return pooling


def check_objectives(objectives: Iterable[str]) -> tuple[str, ...]:
    """Validated, de-duplicated objectives in canonical order; at least one."""
    objectives = tuple(objectives)
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown or not objectives:
        raise ValueError(f"objectives must be a non-empty subset of {OBJECTIVES}, got {objectives}")
    return tuple(o for o in OBJECTIVES if o in objectives)


def nucleotide_mask(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, config: EsmConfig
) -> torch.Tensor:
    """``[n, T]`` bool: True at nucleotide tokens (not ``<cls>``, ``<eos>`` or padding)."""
    keep = attention_mask.bool()
    for special in (config.cls_token_id, config.eos_token_id):
        keep &= input_ids != special
    return keep


def pool_hidden(
    hidden: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    config: EsmConfig,
    pooling: str,
) -> torch.Tensor:
    """Sequence embeddings ``[n, H]`` from hidden states ``[n, T, H]``.

    ``"cls"`` takes the ``<cls>`` token (position 0); ``"mean"`` averages the nucleotide
    tokens only, so padding and special tokens never change a UTR's embedding.
    """
    if check_pooling(pooling) == "cls":
        return hidden[:, 0]
    keep = nucleotide_mask(input_ids, attention_mask, config).unsqueeze(-1).to(hidden.dtype)
    return (hidden * keep).sum(1) / keep.sum(1).clamp(min=1.0)


# ----------------------------------------------------------------------------- pretraining model


@dataclass
class PretrainingOutput:
    """Outputs of :class:`UTRLMForPretraining` for ``n`` sequences of ``T`` tokens.

    Attributes
    ----------
    hidden
        ``[n, T, H]`` last hidden states.
    mlm_logits
        ``[n, T, V]`` nucleotide logits.
    mfe
        ``[n]`` standardised MFE predictions (see :meth:`UTRLMForPretraining.mfe_kcal`).
    structure_logits
        ``[n, T, 3]`` logits of ``(``, ``)``, ``.``.
    """

    hidden: torch.Tensor
    mlm_logits: torch.Tensor
    mfe: torch.Tensor
    structure_logits: torch.Tensor


class UTRLMForPretraining(EsmPreTrainedModel):
    """ESM backbone with a masked-nucleotide head, an MFE head and a structure head."""

    def __init__(self, config: EsmConfig):
        super().__init__(config)
        hidden = config.hidden_size
        self.esm = EsmModel(config, add_pooling_layer=False)
        self.lm_head = EsmLMHead(config)
        self.mfe_head = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))
        self.structure_head = nn.Linear(hidden, config.n_structure_classes)
        self.post_init()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> PretrainingOutput:
        """Run all heads on ``input_ids`` ``[n, T]`` (attention mask ``[n, T]``, 1 = token)."""
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        hidden = self.esm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return PretrainingOutput(
            hidden=hidden,
            mlm_logits=self.lm_head(hidden),
            mfe=self.mfe_head(hidden[:, 0]).squeeze(-1),
            structure_logits=self.structure_head(hidden),
        )

    def mfe_kcal(self, standardised: torch.Tensor | np.ndarray) -> np.ndarray:
        """Standardised MFE predictions back to kcal/mol with the config's scale."""
        values = (
            standardised.detach().cpu().numpy() if torch.is_tensor(standardised) else standardised
        )
        return np.asarray(values, dtype=float) * self.config.mfe_std + self.config.mfe_mean


# ----------------------------------------------------------------------------- pretraining data


class PretrainingData(Dataset):
    """Tokens of a UTR corpus with optional ViennaRNA labels, for :func:`pretrain`.

    Items are dicts of tensors: ``input_ids`` and ``attention_mask`` ``[T]``, and when folds
    are given ``mfe`` (kcal/mol, scalar) and ``structure`` ``[T]`` (``-100`` off nucleotides).
    """

    def __init__(self, tokens: TokenBatch, fold: FoldResult | None = None):
        self.input_ids = torch.from_numpy(tokens.input_ids)
        self.attention_mask = torch.from_numpy(tokens.attention_mask)
        self.mfe: torch.Tensor | None = None
        self.structure: torch.Tensor | None = None
        if fold is not None:
            if len(fold) != len(tokens):
                raise ValueError(f"{len(fold)} folds for {len(tokens)} token rows; fold the corpus")
            width = tokens.input_ids.shape[1]
            self.mfe = torch.from_numpy(np.asarray(fold.mfe, dtype=np.float32))
            self.structure = torch.from_numpy(structure_targets(fold.structures, width))

    @classmethod
    def from_sequences(
        cls,
        seqs: Sequence[str],
        vocab: KmerVocabulary,
        fold: FoldResult | None = None,
        max_length: int | None = None,
    ) -> PretrainingData:
        """Tokenize ``seqs`` (``fold`` must hold the same sequences in the same order)."""
        if fold is not None:
            rna = [s.upper().replace("T", "U") for s in seqs]
            if rna != fold.sequences:
                raise ValueError("fold does not match seqs; pass fold_cached(seqs) for this corpus")
        return cls(encode_utrs(seqs, vocab, max_length), fold)

    @property
    def has_labels(self) -> bool:
        """Whether MFE and structure labels are present."""
        return self.mfe is not None

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"input_ids": self.input_ids[index], "attention_mask": self.attention_mask[index]}
        if self.mfe is not None:
            item["mfe"] = self.mfe[index]
            item["structure"] = self.structure[index]
        return item


def pretraining_losses(
    output: PretrainingOutput,
    batch: Mapping[str, torch.Tensor],
    objectives: Sequence[str],
    config: EsmConfig,
) -> dict[str, torch.Tensor]:
    """One scalar loss per objective.

    ``batch`` holds ``mlm_labels`` (``[n, T]``, ``-100`` where not masked) for ``"mlm"``,
    ``mfe`` (kcal/mol, standardised here with the config's scale) for ``"mfe"`` and
    ``structure`` (``[n, T]``) for ``"structure"``.
    """
    losses = {}
    if "mlm" in objectives:
        labels = batch["mlm_labels"]
        if (labels != IGNORE_INDEX).any():
            losses["mlm"] = F.cross_entropy(
                output.mlm_logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX
            )
        else:  # nothing masked in this batch (tiny batches only)
            losses["mlm"] = output.mlm_logits.sum() * 0.0
    if "mfe" in objectives:
        target = (batch["mfe"] - config.mfe_mean) / config.mfe_std
        losses["mfe"] = F.mse_loss(output.mfe, target)
    if "structure" in objectives:
        losses["structure"] = F.cross_entropy(
            output.structure_logits.flatten(0, 1),
            batch["structure"].flatten(),
            ignore_index=IGNORE_INDEX,
        )
    return losses


def _masked_batch(
    batch: dict[str, torch.Tensor],
    vocab: KmerVocabulary,
    use_mlm: bool,
    probability: float,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    if not use_mlm:
        return dict(batch)
    corrupted, labels = mask_tokens(batch["input_ids"], vocab, probability, generator=generator)
    return {**batch, "input_ids": corrupted, "mlm_labels": labels}


def warmup_linear_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float = 0.1
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_fraction`` of the steps, then linear decay to 10 %."""
    warmup = max(1, int(round(warmup_fraction * total_steps)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.1, 1.0 - 0.9 * (step - warmup) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class PretrainResult:
    """What :func:`pretrain` returns; the model holds the best-on-validation state.

    ``history`` has one row per epoch: ``epoch, train_loss, val_loss``, ``train_<objective>``
    and ``val_<objective>`` for each active objective, ``val_mlm_accuracy`` and
    ``val_structure_accuracy`` when those objectives are on, ``lr`` and ``seconds``.
    """

    history: pd.DataFrame
    objectives: tuple[str, ...]
    best_epoch: int
    seconds: float


def pretrain(
    model: UTRLMForPretraining,
    vocab: KmerVocabulary,
    train: PretrainingData,
    val: PretrainingData,
    *,
    objectives: Iterable[str] = OBJECTIVES,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.01,
    mask_probability: float = 0.15,
    weights: Mapping[str, float] | None = None,
    grad_clip: float | None = 1.0,
    device: torch.device | str = "auto",
    seed: int = 0,
    show_progress: bool = True,
    description: str = "pretraining",
) -> PretrainResult:
    """Pretrain ``model`` on ``train`` with the chosen objectives; validate on ``val``.

    Parameters
    ----------
    objectives
        Any non-empty subset of ``("mlm", "mfe", "structure")``. Without ``"mlm"`` the input
        is not masked; with it, the MFE and structure heads see the masked input too (one
        forward pass serves all objectives, as in UTR-LM).
    weights
        Loss weight per objective (default 1 each); the total is their weighted sum.
    mask_probability
        Fraction of nucleotides selected for masked modelling (BERT's 80/10/10 recipe).
    seed
        Seeds shuffling and masking; validation masks are the same every epoch.

    Returns
    -------
    PretrainResult
        History per epoch; the model keeps the state with the lowest validation loss.
    """
    objectives = check_objectives(objectives)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    needs_labels = {"mfe", "structure"} & set(objectives)
    for name, data in (("train", train), ("val", val)):
        if needs_labels and not data.has_labels:
            raise ValueError(
                f"objectives {sorted(needs_labels)} need ViennaRNA labels but the {name} data "
                "has none; build it with PretrainingData.from_sequences(seqs, vocab, fold=...)"
            )
    weights = {o: float((weights or {}).get(o, 1.0)) for o in objectives}
    device = select_device(device) if isinstance(device, str) else device
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    lengths = train.attention_mask.sum(1).numpy()
    sampler = LengthBucketSampler(lengths, batch_size, seed=seed)
    loader = DataLoader(train, batch_sampler=sampler, collate_fn=collate_trimmed)
    val_loader = DataLoader(val, batch_size=batch_size, collate_fn=collate_trimmed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = warmup_linear_schedule(optimizer, epochs * len(loader))
    use_mlm = "mlm" in objectives
    rows, best, best_state, best_epoch = [], math.inf, None, 0
    start = time.perf_counter()
    bar = progress(range(1, epochs + 1), desc=description, disable=not show_progress, unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        sums = dict.fromkeys(("total", *objectives), 0.0)
        count = 0
        for raw in loader:
            batch = to_device(
                _masked_batch(raw, vocab, use_mlm, mask_probability, generator), device
            )
            out = model(batch["input_ids"], batch["attention_mask"])
            losses = pretraining_losses(out, batch, objectives, model.config)
            total = sum(weights[o] * losses[o] for o in objectives)
            if not torch.isfinite(total):
                raise FloatingPointError(f"pretraining loss became {total.item()}; lower lr")
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            scheduler.step()
            n = len(batch["input_ids"])
            count += n
            sums["total"] += total.item() * n
            for o in objectives:
                sums[o] += losses[o].item() * n
        val_scores = evaluate_pretraining(
            model, vocab, val_loader, objectives, weights, mask_probability, device, seed
        )
        row = {"epoch": epoch, "train_loss": sums["total"] / count, "val_loss": val_scores["loss"]}
        for o in objectives:
            row[f"train_{o}"] = sums[o] / count
            row[f"val_{o}"] = val_scores[o]
        row.update({f"val_{k}": v for k, v in val_scores.items() if k.endswith("accuracy")})
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        if row["val_loss"] < best:
            best, best_epoch = row["val_loss"], epoch
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(train=f"{row['train_loss']:.3f}", val=f"{row['val_loss']:.3f}")
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return PretrainResult(pd.DataFrame(rows), objectives, best_epoch, time.perf_counter() - start)


@torch.no_grad()
def evaluate_pretraining(
    model: UTRLMForPretraining,
    vocab: KmerVocabulary,
    loader: DataLoader,
    objectives: Sequence[str],
    weights: Mapping[str, float] | None = None,
    mask_probability: float = 0.15,
    device: torch.device | str = "auto",
    seed: int = 0,
) -> dict[str, float]:
    """Mean loss per objective, weighted total (``"loss"``) and accuracies on ``loader``.

    Masks come from a generator seeded with ``seed`` so that repeated calls are comparable.
    ``mlm_accuracy`` is the fraction of masked nucleotides recovered; ``structure_accuracy``
    the fraction of nucleotides whose ``(``/``)``/``.`` class is right.
    """
    objectives = check_objectives(objectives)
    weights = {o: float((weights or {}).get(o, 1.0)) for o in objectives}
    device = select_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    generator = torch.Generator().manual_seed(seed + 1)
    sums = dict.fromkeys(objectives, 0.0)
    hits = {"mlm": [0, 0], "structure": [0, 0]}
    count = 0
    for raw in loader:
        batch = _masked_batch(raw, vocab, "mlm" in objectives, mask_probability, generator)
        batch = to_device(batch, device)
        out = model(batch["input_ids"], batch["attention_mask"])
        losses = pretraining_losses(out, batch, objectives, model.config)
        n = len(batch["input_ids"])
        count += n
        for o in objectives:
            sums[o] += losses[o].item() * n
        for name, logits, key in (
            ("mlm", out.mlm_logits, "mlm_labels"),
            ("structure", out.structure_logits, "structure"),
        ):
            if name in objectives:
                labels = batch[key]
                scored = labels != IGNORE_INDEX
                hits[name][0] += int((logits.argmax(-1)[scored] == labels[scored]).sum())
                hits[name][1] += int(scored.sum())
    if count == 0:
        raise ValueError("the validation loader is empty")
    scores = {o: sums[o] / count for o in objectives}
    scores["loss"] = sum(weights[o] * scores[o] for o in objectives)
    for name in ("mlm", "structure"):
        if name in objectives:
            scores[f"{name}_accuracy"] = hits[name][0] / max(hits[name][1], 1)
    return scores


@torch.no_grad()
def predict_mfe(
    model: UTRLMForPretraining,
    data: PretrainingData,
    batch_size: int = 256,
    device: torch.device | str = "auto",
) -> np.ndarray:
    """MFE predictions in kcal/mol ``[n]`` from unmasked input."""
    device = select_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    out = []
    for batch in DataLoader(data, batch_size=batch_size, collate_fn=collate_trimmed):
        batch = to_device(batch, device)
        out.append(model(batch["input_ids"], batch["attention_mask"]).mfe.cpu())
    return model.mfe_kcal(torch.cat(out))


@contextmanager
def quiet_transformers():
    """Silence Hugging Face's loading report and progress bars for a ``with`` block."""
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def save_checkpoint(model: EsmPreTrainedModel, folder: str | Path, vocab: KmerVocabulary) -> Path:
    """``model.save_pretrained(folder)`` (``config.json``, ``model.safetensors``) plus the
    vocabulary as ``vocab.txt``, so the folder is self-contained. Returns the folder."""
    folder = Path(folder)
    if list(vocab.tokens) != list(model.config.vocab_tokens):
        raise ValueError("vocab does not match the model's config.vocab_tokens")
    with quiet_transformers():
        model.save_pretrained(folder)
    vocab.write(folder)
    return folder


def load_pretrained(folder: str | Path) -> tuple[UTRLMForPretraining, KmerVocabulary]:
    """Reload a :func:`save_checkpoint` folder: ``(UTRLMForPretraining, vocabulary)``."""
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"no checkpoint at {folder}: config.json is missing")
    vocab = read_vocabulary(
        folder, k=1, **{f"{r}_token": t for r, t in utr_vocabulary().roles.items()}
    )
    with quiet_transformers():
        model = UTRLMForPretraining.from_pretrained(folder)
    if list(vocab.tokens) != list(model.config.vocab_tokens):
        raise ValueError(f"{folder}/vocab.txt does not match config.json's vocab_tokens")
    return model, vocab


# ----------------------------------------------------------------------------- fine-tuning model


class UTRLMForMRL(EsmPreTrainedModel):
    """ESM backbone, ``<cls>`` or mean pooling, and a small regression head for MRL.

    The pooling and head sizes come from the config (``pooling``, ``head_hidden``,
    ``head_dropout``); :func:`mrl_model` sets them. ``forward`` returns ``[n]`` predictions.
    """

    def __init__(self, config: EsmConfig):
        super().__init__(config)
        check_pooling(config.pooling)
        self.esm = EsmModel(config, add_pooling_layer=False)
        self.head = nn.Sequential(
            nn.Dropout(config.head_dropout),
            nn.Linear(config.hidden_size, config.head_hidden),
            nn.ReLU(),
            nn.Dropout(config.head_dropout),
            nn.Linear(config.head_hidden, 1),
        )
        self.backbone_frozen = False
        self.post_init()

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled sequence embeddings ``[n, H]``."""
        hidden = self.esm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return pool_hidden(hidden, input_ids, attention_mask, self.config, self.config.pooling)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Predicted (scaled) MRL ``[n]`` of ``input_ids`` ``[n, T]``."""
        return self.head(self.embed(input_ids, attention_mask)).squeeze(-1)

    def freeze_backbone(self, frozen: bool = True) -> UTRLMForMRL:
        """Stop (or restart) gradient updates of the backbone; a frozen one stays in eval mode
        (no dropout), so it is a fixed feature extractor."""
        self.backbone_frozen = frozen
        self.esm.requires_grad_(not frozen)
        if frozen:
            self.esm.eval()
        return self

    def train(self, mode: bool = True) -> UTRLMForMRL:
        super().train(mode)
        if self.backbone_frozen:
            self.esm.eval()
        return self


def mrl_model(
    source: EsmConfig | str | Path,
    *,
    pooling: str = "cls",
    head_hidden: int = 64,
    head_dropout: float = 0.2,
    freeze_backbone: bool = False,
) -> UTRLMForMRL:
    """An MRL model from a config (random backbone) or a checkpoint folder (pretrained one).

    Parameters
    ----------
    source
        An ``EsmConfig`` (e.g. :func:`utr_lm_config`) or a folder written by
        ``save_pretrained`` of :class:`UTRLMForPretraining` or :class:`UTRLMForMRL`: its
        backbone weights are loaded, the head is new unless the folder holds an MRL model.
    pooling
        ``"cls"`` or ``"mean"``.
    freeze_backbone
        Train only the head (the backbone is a fixed feature extractor).
    """
    check_pooling(pooling)
    if isinstance(source, EsmConfig):
        config = copy.deepcopy(source)
    else:
        folder = Path(source)
        if not (folder / "config.json").exists():
            raise FileNotFoundError(
                f"no checkpoint at {folder} (config.json missing); pretrain and call "
                "model.save_pretrained(folder) first, or pass a config for a random backbone"
            )
        config = EsmConfig.from_pretrained(folder)
    config.pooling, config.head_hidden, config.head_dropout = pooling, head_hidden, head_dropout
    if isinstance(source, EsmConfig):
        model = UTRLMForMRL(config)
    else:
        with quiet_transformers():  # a pretraining checkpoint has no MRL head: that is expected
            model = UTRLMForMRL.from_pretrained(folder, config=config)
    return model.freeze_backbone(freeze_backbone)


def mrl_loader(
    tokens: TokenBatch,
    targets: np.ndarray,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 0,
) -> DataLoader:
    """Batches ``({"input_ids", "attention_mask"}, target)`` for :func:`course_lib.training.fit`.

    ``shuffle=True`` (training) groups UTRs of similar length (:class:`LengthBucketSampler`);
    otherwise the order of ``tokens`` is kept. Batches are trimmed to their longest UTR.
    """
    targets = np.asarray(targets, dtype=np.float32)
    if len(targets) != len(tokens):
        raise ValueError(f"{len(tokens)} token rows but {len(targets)} targets")
    dataset = _MRLDataset(tokens, targets)
    if shuffle:
        sampler = LengthBucketSampler(tokens.attention_mask.sum(1), batch_size, seed=seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_trimmed)
    return DataLoader(dataset, batch_size=batch_size, collate_fn=collate_trimmed)


class _MRLDataset(Dataset):
    def __init__(self, tokens: TokenBatch, targets: np.ndarray):
        self.input_ids = torch.from_numpy(tokens.input_ids)
        self.attention_mask = torch.from_numpy(tokens.attention_mask)
        self.targets = torch.from_numpy(targets)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return {
            "input_ids": self.input_ids[i],
            "attention_mask": self.attention_mask[i],
        }, self.targets[i]


def regression_loss(name: str) -> nn.Module:
    """``"huber"`` (``HuberLoss(delta=1)``, robust to noisy low-read labels) or ``"mse"``."""
    if name == "huber":
        return nn.HuberLoss(delta=1.0)
    if name == "mse":
        return nn.MSELoss()
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    y, p = np.asarray(y, dtype=float).ravel(), np.asarray(p, dtype=float).ravel()
    return float(1.0 - np.sum((y - p) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-12))


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
        val_score=_r2,
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


@torch.no_grad()
def embed_utrs(
    model: UTRLMForMRL | UTRLMForPretraining,
    tokens: TokenBatch,
    pooling: str = "mean",
    batch_size: int = 256,
    device: torch.device | str = "auto",
) -> np.ndarray:
    """Pooled backbone embeddings ``[n, H]`` (float32) of tokenized UTRs."""
    check_pooling(pooling)
    device = select_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    ids = torch.from_numpy(tokens.input_ids)
    mask = torch.from_numpy(tokens.attention_mask)
    out = []
    for start in range(0, len(ids), batch_size):
        batch = _trim(
            {
                "input_ids": ids[start : start + batch_size],
                "attention_mask": mask[start : start + batch_size],
            }
        )
        i, m = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        hidden = model.esm(input_ids=i, attention_mask=m).last_hidden_state
        out.append(pool_hidden(hidden, i, m, model.config, pooling).float().cpu())
    return torch.cat(out).numpy()


def project_2d(embeddings: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D projection ``[n, 2]`` of ``[n, H]`` embeddings by PCA or UMAP (``umap-learn``)."""
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(embeddings)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, random_state=seed, n_jobs=1).fit_transform(embeddings)
    raise ValueError(f"method must be 'pca' or 'umap', got {method!r}")


def linear_probe_r2(embeddings: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated R² of a ridge regression from frozen embeddings ``[n, H]`` to ``y``.

    A *linear probe*: how much of ``y`` a backbone's embedding exposes without fine-tuning.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(embeddings) != len(y) or len(y) < 2 * folds:
        raise ValueError(f"need matching embeddings and labels, at least {2 * folds} rows")
    probe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 11)))
    split = KFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(probe, embeddings, np.asarray(y), cv=split, scoring="r2").mean())


# ----------------------------------------------------------------------------- comparison


def metric_rows(
    metrics: Mapping[str, Any], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], dict]]:
    """Every dict holding an ``"R2"`` in a nested metrics mapping, with its key path."""
    if not isinstance(metrics, Mapping):
        return []
    if "R2" in metrics:
        return [(path, dict(metrics))]
    rows = []
    for key, value in metrics.items():
        rows.extend(metric_rows(value, (*path, str(key))))
    return rows


def comparison_table(
    own: Mapping[str, Mapping[str, Mapping[str, float]]],
    records: Mapping[str, Mapping[str, Any]],
    anchors: Mapping[str, Mapping[str, Any]],
    provenance: str,
    profile: str,
    columns: Sequence[str] = ("R2", "Pearson r", "Pearson r^2", "Spearman rho"),
    skip: Sequence[str] = ("scaled", "val"),
) -> pd.DataFrame:
    """One table: this chapter's models, other chapters' results files, and the anchors.

    Parameters
    ----------
    own
        ``{model: {split: metrics}}`` of this chapter.
    records
        ``{chapter: results record}`` as from :func:`course_lib.results.read_results`; every
        metrics dict with an ``R2`` is listed, labelled by its key path, unless a key of the
        path is in ``skip`` (scaled-unit duplicates and validation scores by default).
    anchors
        ``{label: {split: {metric: value}, "source": str}}`` (non-mapping entries are skipped).
    provenance, profile
        This chapter's data provenance and profile.

    Returns
    -------
    pandas.DataFrame
        Columns ``source, model, split, data, profile`` and ``columns`` (missing values NaN:
        e.g. the Optimus anchor reports only the squared Pearson r).
    """
    header = ["source", "model", "split", "data", "profile"]
    rows = []

    def add(source: str, model: str, split: str, data: str, prof: str, values: Mapping) -> None:
        rows.append([source, model, split, data, prof, *(values.get(c) for c in columns)])

    for model, splits in own.items():
        for split, values in splits.items():
            add("this chapter", model, split, provenance, profile, values)
    for chapter, record in records.items():
        data = record.get("provenance", "")
        if isinstance(data, Mapping):
            data = ", ".join(f"{k}: {v}" for k, v in data.items())
        for path, values in metric_rows(record.get("metrics", {})):
            if set(path) & set(skip):
                continue
            model = path[0] if path else ""
            add(chapter, model, " / ".join(path[1:]), data, record.get("profile", ""), values)
    for label, entry in anchors.items():
        for split, values in entry.items():
            if isinstance(values, Mapping):
                add("anchor", label, split, "real", "published", values)
    table = pd.DataFrame(rows, columns=[*header, *columns])
    return table.astype({c: float for c in columns})
