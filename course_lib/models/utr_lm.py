"""UTR-LM: an ESM-2-style nucleotide language model for 5' UTRs (Chu et al. 2024).

The backbone is Hugging Face's ``EsmModel`` (rotary position embeddings, pre-layer-norm
transformer blocks, a final layer norm) over single nucleotides with ESM's special tokens
``<cls> <pad> <eos> <unk> A C G U <mask>``, built with the course's shared k-mer tokenizer
(:mod:`course_lib.tokenization`, k = 1). Introduced in chapter 5. The backbone runs through
:class:`course_lib.models.fused_encoder.FusedEsmModel`: ``EsmModel``'s weights and outputs, a
faster CPU step.

- :class:`UTRLMForPretraining`: the backbone with a masked-nucleotide head, an MFE head and a
  structure head (trained by :func:`course_lib.pretraining.pretrain`);
- :class:`UTRLMForMRL` (:func:`mrl_model`): mean ribosome load through one of two heads, an MLP
  on the ``<cls>`` embedding or the mean over nucleotides (``"mlp"``), or chapter 1's ResNet over
  every nucleotide's state (``"resnet"``, as UTR-LM), with the backbone frozen or updated.

Both are Hugging Face ``PreTrainedModel`` subclasses: :func:`save_checkpoint` /
:func:`load_pretrained` round-trip them with their vocabulary, and a pretraining checkpoint
loads straight into :class:`UTRLMForMRL` (the heads are new).
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from torch import nn
from transformers import EsmConfig
from transformers.models.esm.modeling_esm import EsmLMHead, EsmModel, EsmPreTrainedModel

from course_lib.models.checkpoint import CheckpointError
from course_lib.models.fused_encoder import FusedEsmModel, esm_lm_logits
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
from course_lib.weights import RECIPE_FILE  # how a checkpoint was pretrained

#: Token positions of a UTR of up to 100 nt: ``<cls>``, the nucleotides, ``<eos>``.
MAX_TOKENS = 102
POOLINGS = ("cls", "mean")
#: MRL heads: an MLP on the pooled embedding, or chapter 1's ResNet on the nucleotide states.
HEADS = ("mlp", "resnet")


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
    head: str = "mlp",
    head_hidden: int = 64,
    head_channels: int = 32,
    head_dropout: float = 0.2,
) -> EsmConfig:
    """An ESM-2-style ``EsmConfig`` for UTRs (defaults: the UTR-LM size).

    Rotary position embeddings (``position_embedding_type="rotary"``), no embedding layer
    norm before the blocks (ESM-2: pre-layer-norm blocks and a final layer norm), no ESM
    token dropout, untied output embeddings. ``intermediate_size`` defaults to
    ``4 * hidden_size``. The fields ``mfe_mean``/``mfe_std`` (set by :func:`set_mfe_scale`),
    ``pooling``, ``head``, ``head_hidden``, ``head_channels``, ``head_dropout`` and
    ``vocab_tokens`` travel with the checkpoint (see :func:`mrl_model` for the head fields).
    """
    vocab = vocab or utr_vocabulary()
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
    if (hidden_size // num_heads) % 2:
        raise ValueError("rotary embeddings need an even head size (hidden_size / num_heads)")
    check_pooling(pooling)
    check_head(head)
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
        head=head,
        head_hidden=head_hidden,
        head_channels=head_channels,
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


def check_head(head: str) -> str:
    """Return ``head`` if it is ``"mlp"`` or ``"resnet"``, else raise."""
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    return head


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


def nucleotide_states(
    hidden: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, config: EsmConfig
) -> torch.Tensor:
    """Per-nucleotide states ``[n, T - 2, H]`` from hidden states ``[n, T, H]``.

    Drops the ``<cls>`` position and the last one; positions that hold ``<eos>`` or padding are
    zero, so UTR ``i`` occupies rows ``0 .. len_i - 1`` (right-padded, as chapter 1's heads read).
    """
    keep = nucleotide_mask(input_ids, attention_mask, config)[:, 1:-1]
    return hidden[:, 1:-1] * keep.unsqueeze(-1).to(hidden.dtype)


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
        self.esm = FusedEsmModel(config, add_pooling_layer=False)
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
        fused = self.esm.implementation == "fused"
        return PretrainingOutput(
            hidden=hidden,
            mlm_logits=esm_lm_logits(self.lm_head, hidden) if fused else self.lm_head(hidden),
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


#: What ``config.json`` must name for :func:`load_pretrained` to accept a folder.
PRETRAINING_ARCHITECTURE = "UTRLMForPretraining"


def save_checkpoint(
    model: EsmPreTrainedModel,
    folder: str | Path,
    vocab: KmerVocabulary,
    *,
    recipe: Mapping[str, Any] | None = None,
    replace: bool = True,
) -> Path:
    """Write ``model`` (``config.json``, ``model.safetensors``), ``vocab.txt`` and, when given,
    ``recipe`` (:data:`RECIPE_FILE`) into ``folder``, atomically. Returns ``folder``.

    Everything is written into a hidden temporary sibling of ``folder`` that is renamed to
    ``folder`` at the end, so a reader (another chapter running at the same time) sees either
    no checkpoint or a whole one, and a failure leaves nothing behind. ``replace=False``
    keeps a ``folder`` that already exists (another process finished first).
    """
    folder = Path(folder)
    if list(vocab.tokens) != list(model.config.vocab_tokens):
        raise ValueError("vocab does not match the model's config.vocab_tokens")
    folder.parent.mkdir(parents=True, exist_ok=True)
    part = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    part.chmod(0o755)  # mkdtemp's folder is private; a checkpoint folder is not
    try:
        with quiet_transformers():
            model.save_pretrained(part)
        vocab.write(part)
        if recipe is not None:
            (part / RECIPE_FILE).write_text(json.dumps(dict(recipe), indent=1, default=str))
        _move_into_place(part, folder, replace)
    finally:
        shutil.rmtree(part, ignore_errors=True)  # gone already after a successful rename
    return folder


def _move_into_place(part: Path, folder: Path, replace: bool, attempts: int = 3) -> None:
    """Rename the finished ``part`` folder to ``folder`` (a directory rename is atomic).

    With ``replace`` an existing ``folder`` is first renamed aside and removed after; a
    folder that another writer renames in meanwhile is moved aside again (``attempts``).
    """
    for _ in range(attempts):
        aside = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.old")
        if replace:
            with suppress(FileNotFoundError):
                folder.rename(aside)
        try:
            part.rename(folder)
            return
        except OSError:
            if not folder.exists():
                raise
            if not replace:
                return
        finally:
            shutil.rmtree(aside, ignore_errors=True)
    raise OSError(f"could not move the new checkpoint into {folder}: other writers kept racing")


def read_recipe(folder: str | Path) -> dict[str, Any]:
    """The :data:`RECIPE_FILE` of a checkpoint folder (``{}`` when it has none)."""
    path = Path(folder) / RECIPE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def checkpoint_config(
    folder: str | Path, size: tuple[int, int, int] | None = None, wanted_by: str = "the caller"
) -> EsmConfig:
    """``config.json`` of a :class:`UTRLMForPretraining` checkpoint, or a clear error.

    ``size``: the ``(hidden size, layers, heads)`` that ``wanted_by`` needs (``None``: any).

    Raises
    ------
    FileNotFoundError
        ``folder`` has no ``config.json``.
    CheckpointError
        The file is unreadable, names another architecture (an MRL model, a BERT), or holds
        another size than ``size``.
    """
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"no checkpoint at {folder}: config.json is missing")
    try:
        config = EsmConfig.from_pretrained(folder)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{folder}/config.json cannot be read: {err}") from err
    found = getattr(config, "architectures", None) or []
    if PRETRAINING_ARCHITECTURE not in found or not hasattr(config, "vocab_tokens"):
        raise CheckpointError(
            f"{folder} holds {found or 'an unnamed architecture'}, not a UTR-LM pretraining "
            f"checkpoint ({PRETRAINING_ARCHITECTURE}, written by chapter 5's save_checkpoint); "
            "point to the right folder, or delete this one so that it is built again"
        )
    found = (config.hidden_size, config.num_hidden_layers, config.num_attention_heads)
    if size is not None and found != tuple(size):
        raise CheckpointError(
            f"{folder} holds a UTR-LM of width {found[0]}, {found[1]} layers, {found[2]} heads, "
            f"but {wanted_by} asks for width {size[0]}, {size[1]} layers, {size[2]} heads; "
            "delete the folder (it is built again) or point to another one"
        )
    return config


def load_pretrained(folder: str | Path) -> tuple[UTRLMForPretraining, KmerVocabulary]:
    """Reload a :func:`save_checkpoint` folder: ``(UTRLMForPretraining, vocabulary)``.

    Raises ``FileNotFoundError`` without ``config.json`` and :class:`CheckpointError` when the
    folder names another architecture or its weights are missing, truncated, of other shapes
    or incomplete (no tensor is silently initialised at random).
    """
    folder = Path(folder)
    config = checkpoint_config(folder)
    fix = "delete the folder so that it is built again (or rerun chapter 5)"
    try:
        vocab = read_vocabulary(
            folder, k=1, **{f"{r}_token": t for r, t in utr_vocabulary().roles.items()}
        )
        with quiet_transformers():
            model, info = UTRLMForPretraining.from_pretrained(
                folder, config=config, output_loading_info=True
            )
    except (OSError, RuntimeError, ValueError, SafetensorError) as err:
        raise CheckpointError(f"{folder} is not a complete checkpoint ({err}); {fix}") from err
    if info["missing_keys"] or info["mismatched_keys"]:
        missing = sorted(info["missing_keys"]) + sorted(map(str, info["mismatched_keys"]))
        raise CheckpointError(f"{folder} lacks weights {missing[:5]}...; {fix}")
    if list(vocab.tokens) != list(model.config.vocab_tokens):
        raise CheckpointError(f"{folder}/vocab.txt does not match config.json's vocab_tokens")
    return model, vocab


class UTRLMForMRL(EsmPreTrainedModel):
    """ESM backbone and a regression head for MRL: an MLP on the pooled embedding or a ResNet
    on the nucleotide states.

    The head comes from the config (``head``, ``pooling``, ``head_hidden``, ``head_channels``,
    ``head_dropout``); :func:`mrl_model` sets them. ``forward`` returns ``[n]`` predictions.
    The ``"resnet"`` head is initialised as the one-hot ResNet it shares its code with
    (:func:`~course_lib.models.utr_resnet.tutorial_weights_init`, Kaiming-normal convolutions),
    also when :meth:`from_pretrained` fills in a head the checkpoint lacks: Hugging Face's
    N(0, 0.02) for every convolution leaves it barely trainable (chapter 5).
    """

    def __init__(self, config: EsmConfig):
        super().__init__(config)
        self.esm = FusedEsmModel(config, add_pooling_layer=False)
        config.head = check_head(getattr(config, "head", "mlp"))  # configs saved before heads: mlp
        if config.head == "resnet":
            from course_lib.models.utr_resnet import Human5PrimeUTRPredictor

            self.head = Human5PrimeUTRPredictor(
                ("emb-utrlm",),
                embed_dim=config.hidden_size,
                channels=config.head_channels,
                dropout=config.head_dropout,
            )
        else:
            check_pooling(config.pooling)
            self.head = nn.Sequential(
                nn.Dropout(config.head_dropout),
                nn.Linear(config.hidden_size, config.head_hidden),
                nn.ReLU(),
                nn.Dropout(config.head_dropout),
                nn.Linear(config.head_hidden, 1),
            )
        self.backbone_frozen = False
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Hugging Face's initialisation (weights and buffers, e.g. batch-norm statistics); the
        ``"resnet"`` head's own layers then get the one-hot ResNet's weights."""
        super()._init_weights(module)
        head = self.__dict__.get("_modules", {}).get("head")
        if self.config.head == "resnet" and head is not None:
            if any(module is m for m in head.modules()):
                from course_lib.models.utr_resnet import tutorial_weights_init

                tutorial_weights_init(module)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled sequence embeddings ``[n, H]``."""
        hidden = self.esm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return pool_hidden(hidden, input_ids, attention_mask, self.config, self.config.pooling)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Predicted (scaled) MRL ``[n]`` of ``input_ids`` ``[n, T]``."""
        if self.config.head == "resnet":
            return self.head(emb=self.head_inputs(input_ids, attention_mask))
        return self.head(self.embed(input_ids, attention_mask)).squeeze(-1)

    def head_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """What the ``"resnet"`` head reads: every nucleotide's last-layer state, right-padded
        with zeros to ``max_position_embeddings - 2`` positions, ``[n, W, H]``. A fixed width,
        so that the ResNet's average over positions never depends on the longest UTR in the
        batch (batches are trimmed to it); a frozen backbone's are computed once (chapter 5)."""
        hidden = self.esm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        states = nucleotide_states(hidden, input_ids, attention_mask, self.config)
        width = self.config.max_position_embeddings - 2
        if states.shape[1] > width:
            raise ValueError(
                f"{states.shape[1]} nucleotide positions but the head reads at most {width}"
            )
        return nn.functional.pad(states, (0, 0, 0, width - states.shape[1]))

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
    head: str = "mlp",
    head_hidden: int = 64,
    head_channels: int = 32,
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
        ``"cls"`` or ``"mean"``: what the ``"mlp"`` head reads (the ``"resnet"`` one pools
        after its convolutions).
    head
        ``"mlp"``: dropout, linear (``head_hidden`` units), ReLU, dropout, linear on the pooled
        embedding. ``"resnet"``: chapter 1's ``Human5PrimeUTRPredictor`` (``head_channels``
        wide, :mod:`course_lib.models.utr_resnet`) on every nucleotide's last-layer state, like
        the ResNet head UTR-LM was fine-tuned with for MRL. Both heads are initialised by
        Hugging Face's defaults.
    freeze_backbone
        Train only the head (the backbone is a fixed feature extractor).
    """
    check_pooling(pooling)
    check_head(head)
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
    config.pooling, config.head, config.head_dropout = pooling, head, head_dropout
    config.head_hidden, config.head_channels = head_hidden, head_channels
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


@dataclass
class UTRLMBackbone:
    """A frozen pretrained UTR-LM encoder with the interface of
    :class:`~course_lib.models.rnafm.RNAFMBackbone`, for
    :func:`course_lib.chapters.ch1_embedding_cache.build_embedding_cache` (chapter 1's second
    backbone).

    Attributes
    ----------
    model
        The checkpoint's ``EsmModel`` in eval mode with ``requires_grad`` off.
    vocab
        The checkpoint's nucleotide vocabulary.
    checkpoint
        The checkpoint folder it was loaded from.
    checkpoint_sha256
        sha256 of its ``model.safetensors`` (keys the embedding cache: new weights, new key).
    pretrained
        Always ``True``: the folder holds trained weights.
    recipe
        The folder's :data:`RECIPE_FILE` (corpus, objectives, epochs; ``{}`` when absent).
    """

    model: EsmModel
    vocab: KmerVocabulary
    checkpoint: Path
    checkpoint_sha256: str
    pretrained: bool = True
    recipe: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_checkpoint(
        cls, folder: str | Path, device: torch.device | str = "cpu"
    ) -> UTRLMBackbone:
        """Load and freeze the encoder of a :func:`save_checkpoint` folder (see
        :func:`load_pretrained` for the errors); the pretraining heads are dropped."""
        from course_lib.registry import sha256sum

        folder = Path(folder)
        full, vocab = load_pretrained(folder)
        model = full.esm.eval().requires_grad_(False).to(select_device(device))
        return cls(
            model, vocab, folder, sha256sum(folder / "model.safetensors"), True, read_recipe(folder)
        )

    @property
    def embed_dim(self) -> int:
        """Width of the embeddings (the encoder's hidden size)."""
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def label(self) -> str:
        """What the embeddings are, for tables: ``"UTR-LM pretrained on 720 real UTRs,
        chapter 5's recipe at smoke"`` (from the recipe file; ``tiny`` when it was)."""
        r = self.recipe
        if "corpus UTRs" not in r:
            return f"UTR-LM pretrained by chapter 5 (no recipe file in {self.checkpoint.name})"
        at = f"{r['profile']}{' --tiny' if r.get('tiny') else ''}"
        return (
            f"UTR-LM pretrained on {r['corpus UTRs']:,} {r['corpus provenance']} UTRs, "
            f"chapter 5's recipe at {at}"
        )

    def describe(self) -> str:
        """One line: the folder, the size and the recipe's corpus."""
        config = self.model.config
        corpus = self.recipe.get("corpus", "recipe not recorded")
        return (
            f"UTR-LM backbone from {self.checkpoint}: {config.num_hidden_layers} layers, width "
            f"{self.embed_dim}, {sum(p.numel() for p in self.model.parameters()):,} parameters, "
            f"pretrained ({corpus})"
        )

    @torch.no_grad()
    def embed(self, seqs: Sequence[str]) -> torch.Tensor:
        """Last-layer states ``[n, L_max, embed_dim]`` of the nucleotides (no ``<cls>``/``<eos>``).

        Padding is masked out of attention and rotary positions are relative, so a UTR's
        states do not depend on the batch it is in; positions beyond its length are zero.
        """
        tokens = encode_utrs(seqs, self.vocab)  # [n, L_max + 2]
        ids = torch.from_numpy(tokens.input_ids).to(self.device)
        mask = torch.from_numpy(tokens.attention_mask).to(self.device)
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return nucleotide_states(hidden, ids, mask, self.model.config)
