"""DNABERT-style transformers (introduced in chapter 3): configuration, classifier, checkpoints.

- :func:`small_bert_config` builds a Hugging Face ``BertConfig`` small enough for a CPU,
  optionally with a convolution over the token embeddings (:class:`LocalContextEmbedding`);
  :func:`masked_lm` and :func:`bert_classifier` build the masked-LM and two-label models of a
  config (with that convolution when the config asks for it), :func:`load_masked_lm` reads a
  saved masked LM back, and :func:`bert_logit` scores a classifier.
- :func:`transfer_encoder` copies a pretrained encoder (from
  :func:`course_lib.kmer_pretraining.pretrain_masked_kmers`) into a classifier.
- :func:`load_dnabert` opens a local checkpoint folder in the layout of
  ``zhihan1996/DNA_bert_3`` and says what to do when it is missing.

DNABERT's fine-tuning optimizer is :func:`course_lib.training.dnabert_optimizer`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from course_lib.models.checkpoint import checkpoint_error, first_line
from course_lib.models.fused_encoder import ATTENTION_NAME, fuse_bert
from course_lib.tokenization import KmerVocabulary, read_vocabulary

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


#: The ``BertConfig`` attribute holding the width of :class:`LocalContextEmbedding` (0: none).
LOCAL_KERNEL = "local_context_kernel"


class LocalContextEmbedding(nn.Embedding):
    """Token embeddings plus a convolution over neighbouring tokens' embeddings.

    ``forward(input_ids [b, T]) -> [b, T, d]``: ``e + conv(e)``, where ``e`` is the embedding
    of each token and ``conv`` a 1-D convolution of width ``kernel`` (odd, zero-padded) over
    positions. A token's vector then holds what its neighbours spell before any attention
    layer, so copying from neighbours (the copy baseline of masked k-mer modelling) needs no
    learned attention pattern: a small BERT with absolute positions learns nothing of the
    sequence in a CPU's budget of steps without it (chapter 3 shows the measurement). Being an
    ``nn.Embedding``, its ``weight`` is still tied to the masked-LM decoder.
    """

    def __init__(self, num_embeddings: int, dim: int, kernel: int, padding_idx: int | None):
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"the local context kernel must be odd and positive, got {kernel}")
        super().__init__(num_embeddings, dim, padding_idx=padding_idx)
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``[b, T]`` token ids to ``[b, T, d]`` vectors with their neighbours' context."""
        embedded = super().forward(input_ids)
        return embedded + self.conv(embedded.transpose(1, 2)).transpose(1, 2)


def with_local_context(model: nn.Module) -> nn.Module:
    """Give a fresh Hugging Face BERT model the :class:`LocalContextEmbedding` its config asks
    for (``config.local_context_kernel`` > 0); otherwise return it unchanged."""
    kernel = int(getattr(model.config, LOCAL_KERNEL, 0) or 0)
    if kernel:
        plain = model.bert.embeddings.word_embeddings
        local = LocalContextEmbedding(
            plain.num_embeddings, plain.embedding_dim, kernel, plain.padding_idx
        )
        local.weight.data.copy_(plain.weight.data)
        model.bert.embeddings.word_embeddings = local
        model.tie_weights()
    return model


def masked_lm(config) -> nn.Module:
    """A fresh ``BertForMaskedLM`` of ``config`` (with its local-context convolution, if any),
    whose encoder runs :class:`~course_lib.models.fused_encoder.FusedBertModel`'s ``forward``."""
    from transformers import BertForMaskedLM

    return fuse_bert(with_local_context(BertForMaskedLM(config)))


def load_masked_lm(folder: str | Path) -> nn.Module:
    """The masked LM saved by ``save_pretrained`` in ``folder``, in eval mode.

    Built from the folder's ``config.json`` by :func:`masked_lm` and filled from its weights
    file, refusing any weight missing (apart from the decoder tied to the embeddings) or
    unexpected, so that no weight (the local-context convolution included) is silently left
    at random. Raises ``OSError`` (missing file) or ``ValueError`` (weights of another model).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import BertConfig

    folder = Path(folder)
    model = masked_lm(BertConfig.from_pretrained(str(folder), attn_implementation=ATTENTION_NAME))
    try:
        state = load_file(str(folder / WEIGHT_FILES[0]))
    except SafetensorError as err:  # a truncated or foreign file
        raise ValueError(f"{folder / WEIGHT_FILES[0]} is not a weights file ({err})") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    untied = [name for name in missing if not name.startswith("cls.predictions.decoder.")]
    if untied or unexpected:
        raise ValueError(
            f"{folder} holds the weights of another model: missing {untied}, "
            f"unexpected {unexpected}"
        )
    model.tie_weights()
    return model.eval()


def small_bert_config(
    vocab: KmerVocabulary,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 128,
    max_length: int = 128,
    dropout: float = 0.1,
    num_labels: int = 2,
    local_kernel: int = 0,
):
    """A ``transformers.BertConfig`` for ``vocab`` (DNABERT-3 itself: 768, 12, 12, 3072, 512).

    ``local_kernel`` > 0 asks :func:`masked_lm` and :func:`bert_classifier` for a
    :class:`LocalContextEmbedding` of that width (DNABERT has none: 0).

    Attention runs through :data:`course_lib.models.fused_encoder.ATTENTION_NAME` (the same
    function as PyTorch's ``sdpa``, faster with attention dropout on a CPU; switch with
    :func:`course_lib.models.fused_encoder.set_implementation`). Raises ``ValueError`` when
    ``hidden_size`` is not divisible by ``num_heads``.
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
        attn_implementation=ATTENTION_NAME,
        **{LOCAL_KERNEL: int(local_kernel)},
    )


def bert_classifier(config) -> nn.Module:
    """A fresh ``BertForSequenceClassification`` (two labels, as DNABERT fine-tunes), with the
    local-context convolution when ``config`` asks for it, whose encoder runs
    :class:`~course_lib.models.fused_encoder.FusedBertModel`'s ``forward``."""
    from transformers import BertForSequenceClassification

    return fuse_bert(with_local_context(BertForSequenceClassification(config)))


def bert_logit(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """One logit per sequence, ``logit[positive] - logit[negative]``, shape ``[n]``.

    ``BCEWithLogitsLoss`` on it equals the two-class cross-entropy DNABERT uses, so every model
    of the chapter is trained and scored the same way.
    """
    logits = model(**inputs).logits
    return logits[:, 1] - logits[:, 0]


def transfer_encoder(source: nn.Module, target: nn.Module) -> None:
    """Copy the BERT encoder (embeddings + layers) of ``source`` into ``target`` in place.

    Works between ``BertForMaskedLM`` and ``BertForSequenceClassification``; the pooler and the
    classification head of ``target`` stay freshly initialised.
    """
    missing, unexpected = target.bert.load_state_dict(source.bert.state_dict(), strict=False)
    if unexpected or any(not name.startswith("pooler.") for name in missing):
        raise ValueError(f"encoders differ: missing {missing}, unexpected {unexpected}")


def _folder_vocabulary(folder: Path, expected: str, how: str) -> KmerVocabulary:
    """The k-mer vocabulary of a DNABERT folder's ``vocab.txt`` (k read from its tokens).

    Raises
    ------
    CheckpointError
        ``vocab.txt`` is not text, mixes k-mer lengths or is not in DNABERT's order.
    """
    try:
        lines = (folder / "vocab.txt").read_text().splitlines()
        lengths = {len(t) for t in lines if not t.startswith("[")}
        if len(lengths) != 1:
            raise ValueError(f"vocab.txt mixes k-mer lengths {sorted(lengths)}")
        return read_vocabulary(folder, lengths.pop())
    except ValueError as err:  # UnicodeDecodeError included: a binary file
        found = f"vocab.txt is not DNABERT's ({err})"
        raise checkpoint_error(folder, expected, found, how) from None


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
    expected = "a DNABERT checkpoint folder (layout of zhihan1996/DNA_bert_3)"
    vocab = _folder_vocabulary(folder, expected, how)
    try:
        model = BertForSequenceClassification.from_pretrained(
            str(folder), num_labels=num_labels, attn_implementation=ATTENTION_NAME
        )
    except Exception as err:  # noqa: BLE001 -- a garbage weights file fails in any way
        found = f"transformers cannot load it ({first_line(err)})"
        raise checkpoint_error(folder, expected, found, how) from None
    if model.config.vocab_size != len(vocab):
        raise checkpoint_error(
            folder,
            expected,
            f"config.json has vocab_size {model.config.vocab_size} but vocab.txt lists "
            f"{len(vocab)} tokens",
            how,
        )
    return fuse_bert(model), vocab
