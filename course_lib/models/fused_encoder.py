"""Faster transformer steps on a CPU: fused attention for the course's ESM and BERT models.

A pretraining step of chapter 5's UTR-LM at ``laptop`` size (width 64, 3 layers, 64 UTRs of
52 tokens) spends about half its time outside matrix multiplies: with attention dropout,
PyTorch's ``sdpa`` falls back to its unfused "math" path; dropout draws one Mersenne-twister
number per element; the rotary embedding, ESM's erf GELU and the slicing of queries, keys and
values run as chains of element-wise passes whose backward fills zero tensors. On a CPU this
module does the same arithmetic with fewer passes (elsewhere it uses PyTorch's own dropout):

- :func:`dropout`: inverted dropout whose mask (:func:`dropout_mask`) comes from 16 random bits
  per element, four per 64-bit draw of PyTorch's generator (``torch.manual_seed`` still fixes
  it), compared straight into a float mask; an element is dropped with probability
  ``round(p * 65536) / 65536`` (``p`` within 8e-6) and the kept ones are scaled by the inverse
  of that keep probability (unbiased); :func:`add_dropout` adds it to a residual in one pass;
- :func:`attention`: scaled dot-product attention; PyTorch's fused kernel without attention
  dropout (evaluation), else scores, an additive padding bias, softmax, :func:`dropout` and the
  weighted sum;
- :class:`FusedEsmModel`: Hugging Face's ``EsmModel`` with the same parameters and state-dict
  keys whose ``forward`` runs :func:`esm_hidden_states`: one matrix multiply for the query, key
  and value projections, split (not sliced) into heads, the rotary embedding of queries and
  keys in one pass with the query scale folded into its tables (a roll for ``rotate_half``),
  ``torch.nn.functional.gelu`` for ESM's erf GELU; :func:`esm_lm_logits` does the same for the
  masked-nucleotide head. ``implementation = "transformers"`` (:func:`set_implementation`)
  runs the original code;
- :class:`FusedBertModel`: Hugging Face's ``BertModel`` (chapter 3's small BERTs) likewise:
  :func:`bert_hidden_states` runs the post-layer-norm blocks with one matrix multiply for the
  query, key and value projections, :func:`attention`, and its dropouts drawn by
  :func:`dropout` and added to the residual by :func:`add_dropout`;
- :data:`ATTENTION_NAME`: :func:`attention` registered with Hugging Face's attention interface,
  for the BERT calls :class:`FusedBertModel` hands to ``BertModel.forward``
  (``attn_implementation`` of :func:`course_lib.models.bert.small_bert_config`).

Both paths compute the same function: ``tests/test_attention_speed.py`` checks outputs on padded
batches and loss curves without dropout, and the statistics of :func:`dropout`;
``benchmarks/bench_pretraining_throughput.py`` times them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndCrossAttentions
from transformers.models.bert.modeling_bert import BertLayer, BertModel
from transformers.models.esm.modeling_esm import EsmLayer, EsmLMHead, EsmModel
from transformers.utils.output_capturing import _CAN_RECORD_REGISTRY

#: The two code paths of :class:`FusedEsmModel` and :class:`FusedBertModel`.
IMPLEMENTATIONS = ("fused", "transformers")
#: Name of :func:`hf_attention` in Hugging Face's attention and mask interfaces.
ATTENTION_NAME = "course_fused"
#: Random levels per element of :func:`dropout` (16 bits).
DROPOUT_LEVELS = 1 << 16


def dropout_mask(
    shape: torch.Size | tuple[int, ...], p: float, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """A random inverted-dropout mask of ``shape`` (float32): 0 where an element is dropped,
    one over the keep probability elsewhere.

    Each element reads 16 random bits (four per ``int64`` draw of PyTorch's generator of
    ``device``) and is dropped when they fall among the lowest ``round(p * 65536)`` of the
    65,536 levels.
    """
    numel = math.prod(shape)
    words = torch.randint(
        -(2**63), 2**63 - 1, ((numel + 3) // 4,), dtype=torch.int64, device=device
    )
    levels = words.view(torch.int16)[:numel].view(shape)
    dropped = round(p * DROPOUT_LEVELS)
    mask = torch.ge(levels, dropped - DROPOUT_LEVELS // 2, out=torch.empty(shape, device=device))
    return mask.mul_(DROPOUT_LEVELS / (DROPOUT_LEVELS - dropped))


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout of ``x`` (any shape, float32): zero elements with probability ``p``
    (to 1/65,536), scale the others by one over the keep probability (:func:`dropout_mask`);
    ``x`` itself when not ``training`` or ``p = 0``. Off the CPU: ``F.dropout``."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, True)
    return x * checked_mask(x, p)


def add_dropout(residual: torch.Tensor, x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``residual + dropout(x, p)`` in one pass on a CPU (same shapes)."""
    if not training or p == 0.0:
        return residual + x
    if x.device.type != "cpu":
        return residual + F.dropout(x, p, True)
    return torch.addcmul(residual, x, checked_mask(x, p))


def checked_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """:func:`dropout_mask` of ``x``'s shape, after checking ``p``."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    return dropout_mask(x.shape, p, x.device)


def padding_bias(mask: torch.Tensor | None) -> torch.Tensor | None:
    """Additive attention bias from a boolean mask (``True``: attend): 0 or ``-inf``, float32."""
    if mask is None:
        return None
    return torch.zeros(mask.shape, device=mask.device).masked_fill_(~mask, float("-inf"))


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    p: float = 0.0,
    scale: float | None = None,
) -> torch.Tensor:
    """``softmax(q k^T * scale + bias) v`` with dropout ``p`` on the attention weights.

    Parameters
    ----------
    q, k, v
        ``[n, heads, T, d]``.
    mask
        Boolean, ``True`` where a key may be attended to, broadcastable to ``[n, heads, T, T]``
        (a key-padding mask ``[n, 1, 1, T]``), or ``None``: every key.
    p
        Dropout probability of the attention weights (pass 0 outside training); on a CPU drawn
        by :func:`dropout`, elsewhere by PyTorch's kernel.
    scale
        Factor of the scores (default ``d ** -0.5``).

    Returns
    -------
    torch.Tensor
        ``[n, T, heads * d]``, the heads side by side.
    """
    n, heads, length, d = q.shape
    if p == 0.0 or q.device.type != "cpu":  # GPU kernels drop attention weights themselves
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, scale=scale)
    else:
        scale = d**-0.5 if scale is None else scale
        scores = torch.matmul(q if scale == 1.0 else q * scale, k.transpose(-1, -2))
        if mask is not None:
            scores = scores.add_(padding_bias(mask))
        out = torch.matmul(dropout(scores.softmax(-1), p), v)
    return out.transpose(1, 2).reshape(n, length, heads * d)


def rotary_tables(
    cos: torch.Tensor, sin: torch.Tensor, query_scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, signed sin)`` ``[2, 1, 1, T, d]`` for :func:`rotate_queries_keys`, from ESM's
    ``[1, T, d]`` tables: row 0 (queries) times ``query_scale``; the sine's first half negated,
    so that ``rotate_half(x) * sin == x.roll(d / 2, -1) * signed_sin``."""
    half = sin.shape[-1] // 2
    signed = torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)
    factor = torch.tensor([query_scale, 1.0], dtype=cos.dtype, device=cos.device)
    factor = factor.view(2, 1, 1, 1, 1)
    return cos.unsqueeze(1) * factor, signed.unsqueeze(1) * factor


def rotate_queries_keys(
    qk: torch.Tensor, tables: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """ESM's rotary embedding of queries and keys in one pass, queries also scaled.

    ``qk`` ``[2, n, heads, T, d]`` (queries, keys); ``tables`` from :func:`rotary_tables`.
    Returns ``[2, n, heads, T, d]``: ``x cos + rotate_half(x) sin`` as in ``transformers``'
    ``apply_rotary_pos_emb`` (``rotate_half`` as a roll, whose backward is a roll too).
    """
    cos, signed_sin = tables
    return torch.addcmul(qk * cos, qk.roll(qk.shape[-1] // 2, -1), signed_sin)


def esm_layer(
    layer: EsmLayer,
    x: torch.Tensor,
    tables: tuple[torch.Tensor, torch.Tensor],
    mask: torch.Tensor | None,
    training: bool,
) -> torch.Tensor:
    """One pre-layer-norm ESM block on ``x`` ``[n, T, H]`` with its own parameters.

    ``tables``: :func:`rotary_tables`; ``mask``: key-padding mask ``[n, 1, 1, T]`` (bool) or
    ``None``. Returns ``[n, T, H]``.
    """
    block = layer.attention.self
    n, length, hidden = x.shape
    heads, d = block.num_attention_heads, block.attention_head_size
    weight = torch.cat((block.query.weight, block.key.weight, block.value.weight))
    bias = torch.cat((block.query.bias, block.key.bias, block.value.bias))
    qk, v = F.linear(layer.attention.LayerNorm(x), weight, bias).split((2 * hidden, hidden), -1)
    qk = rotate_queries_keys(qk.view(n, length, 2, heads, d).permute(2, 0, 3, 1, 4), tables)
    v = v.view(n, length, heads, d).transpose(1, 2)
    context = attention(*qk.unbind(0), v, mask, block.dropout if training else 0.0, 1.0)
    out = layer.attention.output
    x = add_dropout(x, out.dense(context), out.dropout.p, training)
    hidden_states = F.gelu(layer.intermediate.dense(layer.LayerNorm(x)))
    return add_dropout(x, layer.output.dense(hidden_states), layer.output.dropout.p, training)


def esm_hidden_states(
    model: EsmModel, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
) -> torch.Tensor:
    """Last hidden states ``[n, T, H]`` of ``model`` for ``input_ids`` ``[n, T]``.

    The same function as ``EsmModel.forward`` for the configurations :func:`supports_fused`
    accepts (rotary positions, no embedding layer norm, no token dropout, an encoder):
    embeddings zeroed at padding, the blocks, the final layer norm.
    """
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    x = model.embeddings.word_embeddings(input_ids) * attention_mask.unsqueeze(-1)
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
    cos, sin = model.rotary_embeddings(x, positions)
    head_size = model.config.hidden_size // model.config.num_attention_heads
    tables = rotary_tables(cos, sin, head_size**-0.5)
    keys = attention_mask.bool()
    mask = None if bool(keys.all()) else keys[:, None, None, :]
    for layer in model.encoder.layer:
        x = esm_layer(layer, x, tables, mask, model.training)
    return model.encoder.emb_layer_norm_after(x)


def esm_lm_logits(head: EsmLMHead, hidden: torch.Tensor) -> torch.Tensor:
    """``EsmLMHead(hidden)`` (``[n, T, H]`` to ``[n, T, V]``) with ``F.gelu`` for its erf GELU
    and the output bias added by the matrix multiply."""
    x = head.layer_norm(F.gelu(head.dense(hidden)))
    return F.linear(x, head.decoder.weight, head.bias)


def bert_layer(
    layer: BertLayer, x: torch.Tensor, mask: torch.Tensor | None, training: bool
) -> torch.Tensor:
    """One post-layer-norm BERT block on ``x`` ``[n, T, H]`` with its own parameters.

    ``mask``: key-padding mask ``[n, 1, 1, T]`` (bool) or ``None``. Returns ``[n, T, H]``.
    """
    block = layer.attention.self
    n, length, _ = x.shape
    heads, d = block.num_attention_heads, block.attention_head_size
    weight = torch.cat((block.query.weight, block.key.weight, block.value.weight))
    bias = torch.cat((block.query.bias, block.key.bias, block.value.bias))
    qkv = F.linear(x, weight, bias).view(n, length, 3, heads, d).permute(2, 0, 3, 1, 4)
    context = attention(*qkv.unbind(0), mask, block.dropout.p if training else 0.0)
    out = layer.attention.output
    x = out.LayerNorm(add_dropout(x, out.dense(context), out.dropout.p, training))
    hidden_states = F.gelu(layer.intermediate.dense(x))
    out = layer.output
    return out.LayerNorm(add_dropout(x, out.dense(hidden_states), out.dropout.p, training))


def bert_hidden_states(
    model: BertModel,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    token_type_ids: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Last hidden states ``[n, T, H]`` of ``model`` for ``input_ids`` ``[n, T]``, and the
    pooled first token ``[n, H]`` (``None`` without a pooler).

    The same function as ``BertModel.forward`` for the configurations
    :func:`supports_fused_bert` accepts: token, absolute position and token-type embeddings
    (type 0 when ``token_type_ids`` is ``None``), layer norm and dropout, the blocks, the
    pooler's ``tanh`` layer.
    """
    embeddings = model.embeddings
    training = model.training
    length = input_ids.shape[1]
    types = embeddings.token_type_embeddings
    x = embeddings.word_embeddings(input_ids) + embeddings.position_embeddings.weight[:length]
    x = x + (types.weight[0] if token_type_ids is None else types(token_type_ids))
    x = dropout(embeddings.LayerNorm(x), embeddings.dropout.p, training)
    keys = None if attention_mask is None else attention_mask.bool()
    mask = None if keys is None or bool(keys.all()) else keys[:, None, None, :]
    for layer in model.encoder.layer:
        x = bert_layer(layer, x, mask, training)
    pooled = None if model.pooler is None else model.pooler(x)
    return x, pooled


def supports_fused_bert(config) -> bool:
    """Whether :func:`bert_hidden_states` computes what ``BertModel.forward`` does for
    ``config``."""
    return (
        getattr(config, "position_embedding_type", "absolute") == "absolute"
        and config.hidden_act == "gelu"
        and not config.is_decoder
        and not getattr(config, "add_cross_attention", False)
    )


def supports_fused(config) -> bool:
    """Whether :func:`esm_hidden_states` computes what ``EsmModel.forward`` does for ``config``."""
    return (
        getattr(config, "position_embedding_type", "absolute") == "rotary"
        and not config.emb_layer_norm_before
        and not config.token_dropout
        and not config.is_decoder
    )


class FusedEsmModel(EsmModel):
    """``EsmModel`` (same parameters, state-dict keys and outputs) with a faster ``forward``.

    ``implementation``: ``"fused"`` (default; :func:`esm_hidden_states`) or ``"transformers"``
    (``EsmModel.forward``). Calls the fused path does not cover (``inputs_embeds``,
    ``position_ids``, attentions or hidden states of every layer, cross-attention, or a
    configuration :func:`supports_fused` rejects) run ``EsmModel.forward``.
    """

    implementation: str = "fused"

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs,
    ):
        """Hidden states of ``input_ids`` ``[n, T]`` (``last_hidden_state`` ``[n, T, H]``)."""
        asked = {k for k, v in kwargs.items() if v not in (None, False)} - {"return_dict"}
        if (
            self.implementation == "transformers"
            or input_ids is None
            or asked
            or not supports_fused(self.config)
        ):
            return super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        hidden = esm_hidden_states(self, input_ids, attention_mask)
        return BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state=hidden)


class FusedBertModel(BertModel):
    """``BertModel`` (same parameters, state-dict keys and outputs) with a faster ``forward``.

    ``implementation``: ``"fused"`` (default; :func:`bert_hidden_states`) or ``"transformers"``
    (``BertModel.forward``). Calls the fused path does not cover (``inputs_embeds``,
    ``position_ids``, attentions or hidden states of every layer, a cache, cross-attention, or
    a configuration :func:`supports_fused_bert` rejects) run ``BertModel.forward``.
    :func:`fuse_bert` gives a Hugging Face BERT model this ``forward``.
    """

    implementation: str = "fused"

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **kwargs,
    ):
        """Hidden states of ``input_ids`` ``[n, T]`` (``last_hidden_state`` ``[n, T, H]``,
        ``pooler_output`` ``[n, H]``)."""
        asked = {k for k, v in kwargs.items() if v not in (None, False)} - {"return_dict"}
        if (
            self.implementation == "transformers"
            or input_ids is None
            or asked
            or not supports_fused_bert(self.config)
        ):
            return super().forward(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
                **kwargs,
            )
        hidden, pooled = bert_hidden_states(self, input_ids, attention_mask, token_type_ids)
        return BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=hidden, pooler_output=pooled
        )


def fuse_bert(model: nn.Module) -> nn.Module:
    """Give ``model``'s ``BertModel`` (``model.bert``, e.g. of ``BertForMaskedLM`` or
    ``BertForSequenceClassification``) the ``forward`` of :class:`FusedBertModel`, in place;
    its parameters, and the random draws that initialised them, stay as they are. Returns
    ``model``."""
    if type(model.bert) is BertModel:
        model.bert.__class__ = FusedBertModel
        # transformers registers what a model class can record (hidden states, attentions)
        # by class name when an instance is built; this one was built as a BertModel
        _CAN_RECORD_REGISTRY[model.bert] = model.bert._can_record_outputs
    return model


def set_implementation(model: nn.Module, implementation: str) -> nn.Module:
    """Switch every :class:`FusedEsmModel`, :class:`FusedBertModel` and Hugging Face BERT
    config inside ``model`` to ``implementation`` (``"fused"`` or ``"transformers"``); returns
    ``model``.

    For a BERT config, ``"fused"`` selects :data:`ATTENTION_NAME` and ``"transformers"``
    PyTorch's ``"sdpa"`` (Hugging Face's default on a CPU).
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    for module in model.modules():
        if isinstance(module, FusedEsmModel | FusedBertModel):
            module.implementation = implementation
        elif hasattr(module, "config") and getattr(module.config, "model_type", "") == "bert":
            module.config._attn_implementation = (
                ATTENTION_NAME if implementation == "fused" else "sdpa"
            )
    return model


def hf_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """:func:`attention` with Hugging Face's attention-interface signature (``[n, heads, T, d]``
    inputs, a boolean mask from ``sdpa_mask``); returns ``([n, T, heads, d], None)``."""
    n, heads, length, d = query.shape
    out = attention(query, key, value, attention_mask, dropout, scaling)
    return out.view(n, length, heads, d), None


AttentionInterface.register(ATTENTION_NAME, hf_attention)
AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
