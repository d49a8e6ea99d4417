"""The RNA-FM tutorial's 5' UTR head: a small 1-D ResNet on one-hot and/or embeddings.

``Human5PrimeUTRPredictor`` follows the RNA-FM UTR tutorial: one-hot sequence (4 channels)
and/or the backbone's embeddings reduced by a linear layer to 32 channels, concatenated
along channels; a 3-wide convolution to 64 channels; six pre-activation residual blocks with
strides 2, 1, 2, 1, 2, 1; global average pooling; dropout 0.2; a linear output. Weights are
initialised as in the tutorial (:func:`tutorial_weights_init`). The embedding width comes from
the backbone (640 for RNA-FM), so a small backbone works too; an embedding input type names
its backbone (``"emb-rnafm"``, ``"emb-utrlm"``: chapter 5's UTR-LM), at most one per head.
Chapter 1 (:mod:`course_lib.chapters.ch1_utr_rnafm`) trains it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: Embedding input types, one per backbone: RNA-FM's and chapter 5's UTR-LM's.
EMBEDDING_TYPES = ("emb-rnafm", "emb-utrlm")
#: What a head reads: the one-hot sequence and/or one backbone's embeddings.
INPUT_TYPES = ("seq", *EMBEDDING_TYPES)


def embedding_type(input_types: Sequence[str]) -> str | None:
    """The embedding input type among ``input_types`` (``None``: sequence only).

    Raises ``ValueError`` for an unknown type, none at all, or two embedding types.
    """
    unknown = set(input_types) - set(INPUT_TYPES)
    found = [t for t in EMBEDDING_TYPES if t in input_types]
    if unknown or not input_types or len(found) > 1:
        raise ValueError(
            f"input_types must be a non-empty subset of {INPUT_TYPES} with at most one "
            f"embedding type, got {tuple(input_types)!r}"
        )
    return found[0] if found else None


class ResBlock1d(nn.Module):
    """Pre-activation residual block: BN-ReLU-conv3(stride)-BN-ReLU-conv3, 1x1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm1d(in_channels),
            nn.ReLU(),
            nn.Conv1d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm1d(out_channels),
            nn.ReLU(),
            nn.Conv1d(out_channels, out_channels, 3, padding=1, bias=False),
        )
        self.shortcut = (
            nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm1d(out_channels),
            )
            if stride > 1 or in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[b, in_channels, L]`` -> ``[b, out_channels, ceil(L / stride)]``."""
        return self.body(x) + self.shortcut(x)


def tutorial_weights_init(module: nn.Module) -> None:
    """The tutorial's initialisation: linear N(0, 0.001); conv Kaiming-normal; BN (1, 0)."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.001)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv1d):
        nn.init.kaiming_normal_(module.weight, a=0, mode="fan_in")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm1d) and module.affine:
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class Human5PrimeUTRPredictor(nn.Module):
    """Predict (scaled) mean ribosome load from one-hot UTRs and/or backbone embeddings.

    Parameters
    ----------
    input_types
        Non-empty subset of :data:`INPUT_TYPES` with at most one embedding type.
    embed_dim
        Width of the backbone embeddings (640 for RNA-FM); ignored without an embedding.
    reduced_dim
        Channels the embeddings are reduced to by a linear layer (32 in the tutorial).
    channels, strides, dropout
        Width of the ResNet, stride of each residual block, dropout before the output.
    """

    def __init__(
        self,
        input_types: Sequence[str] = ("seq", "emb-rnafm"),
        embed_dim: int = 640,
        reduced_dim: int = 32,
        channels: int = 64,
        strides: Sequence[int] = (2, 1, 2, 1, 2, 1),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.embedding = embedding_type(input_types)
        self.input_types = tuple(input_types)
        in_channels = 0
        if "seq" in self.input_types:
            in_channels += 4
        self.reduction = None
        if self.embedding is not None:
            self.reduction = nn.Linear(embed_dim, reduced_dim)
            in_channels += reduced_dim
        blocks = [ResBlock1d(channels, channels, stride) for stride in strides]
        self.predictor = nn.Sequential(
            nn.Conv1d(in_channels, channels, 3, padding=1),
            *blocks,
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels, 1),
        )
        self.apply(tutorial_weights_init)

    def forward(self, seq: torch.Tensor | None = None, emb: torch.Tensor | None = None):
        """Scaled MRL ``[b]``.

        Parameters
        ----------
        seq
            One-hot ``[b, L, 4]`` (padding rows all zero); needed with ``"seq"``.
        emb
            Embeddings ``[b, L, embed_dim]`` padded on the same side; needed with an
            embedding input type.
        """
        parts = []
        if "seq" in self.input_types:
            if seq is None:
                raise ValueError("this model uses input type 'seq': pass seq=[b, L, 4]")
            parts.append(seq.transpose(1, 2))
        if self.reduction is not None:
            if emb is None:
                raise ValueError(f"this model uses {self.embedding!r}: pass emb=[b, L, D]")
            parts.append(self.reduction(emb).transpose(1, 2))
        if len(parts) == 2 and parts[0].shape[2] != parts[1].shape[2]:
            raise ValueError(
                f"seq has length {parts[0].shape[2]} but emb has {parts[1].shape[2]}; pad both "
                "to the same length"
            )
        return self.predictor(torch.cat(parts, dim=1)).squeeze(-1)
