"""UTR-LM: an ESM-2-style nucleotide language model for 5' UTRs (Chu et al. 2024).

The backbone is Hugging Face's ``EsmModel`` (rotary position embeddings, pre-layer-norm
transformer blocks, a final layer norm) over single nucleotides with ESM's special tokens
``<cls> <pad> <eos> <unk> A C G U <mask>``, built with the course's shared k-mer tokenizer
(:mod:`course_lib.tokenization`, k = 1). Introduced in chapter 5.

- :class:`UTRLMForPretraining`: the backbone with a masked-nucleotide head, an MFE head and a
  structure head (trained by :func:`course_lib.pretraining.pretrain`);
- :class:`UTRLMForMRL` (:func:`mrl_model`): mean ribosome load from the ``<cls>`` embedding or
  the mean over nucleotides, through a small head, with the backbone frozen or updated.

Both are Hugging Face ``PreTrainedModel`` subclasses: :func:`save_checkpoint` /
:func:`load_pretrained` round-trip them with their vocabulary, and a pretraining checkpoint
loads straight into :class:`UTRLMForMRL` (the heads are new).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import EsmConfig
from transformers.models.esm.modeling_esm import EsmLMHead, EsmModel, EsmPreTrainedModel

from course_lib.structure import STRUCTURE_CLASSES
from course_lib.token_batches import trim_to_longest
from course_lib.tokenization import (
    ESM_STYLE,
    KmerVocabulary,
    TokenBatch,
    build_vocabulary,
    read_vocabulary,
)
from course_lib.training import select_device

POOLINGS = ("cls", "mean")


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
    device = select_device(device)
    model.to(device).eval()
    ids = torch.from_numpy(tokens.input_ids)
    mask = torch.from_numpy(tokens.attention_mask)
    out = []
    for start in range(0, len(ids), batch_size):
        batch = trim_to_longest(
            {
                "input_ids": ids[start : start + batch_size],
                "attention_mask": mask[start : start + batch_size],
            }
        )
        i, m = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        hidden = model.esm(input_ids=i, attention_mask=m).last_hidden_state
        out.append(pool_hidden(hidden, i, m, model.config, pooling).float().cpu())
    return torch.cat(out).numpy()
