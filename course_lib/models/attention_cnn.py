"""A CNN with attention pooling for MRL regression, in two- and three-convolution variants.

Architecture (the course's homework model):

    Conv1d(4->64, width 8, padding 4) + ReLU + MaxPool(2)
    Conv1d(64->c, width 5, padding 2) + ReLU            (three-conv variant only, c = 64)
    Conv1d(c->128, width 5, padding 2) + ReLU + MaxPool(2)
    attention: a linear score per position, softmax over positions, weighted sum
    Dropout -> Linear(128->64) + ReLU -> Linear(64->1)

The forward pass returns the prediction and the attention weights, one per pooled position;
:func:`attention_per_nucleotide` spreads them back over the input nucleotides for plotting.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from course_lib.models.optimus import check_one_hot_batch

#: The two max-pool layers shrink the sequence by this factor.
POOL_STRIDE = 4


class AttentionCNN(nn.Module):
    """Convolutions, softmax attention pooling over positions, and a small regression head.

    Parameters
    ----------
    n_conv
        2 or 3 convolution layers.
    dropout
        Dropout before the dense head.

    Shapes
    ------
    ``forward(x)``: ``x`` is ``[n, L, 4]`` one-hot; returns ``(prediction [n],
    attention [n, P])`` where ``P = ((L + 1) // 2) // 2`` pooled positions and every row of
    ``attention`` sums to 1.
    """

    def __init__(self, n_conv: int = 3, dropout: float = 0.2) -> None:
        super().__init__()
        if n_conv not in (2, 3):
            raise ValueError(f"n_conv must be 2 or 3, got {n_conv}")
        self.n_conv = n_conv
        layers: list[nn.Module] = [
            nn.Conv1d(4, 64, kernel_size=8, padding=4),
            nn.ReLU(),
            nn.MaxPool1d(2),
        ]
        if n_conv == 3:
            layers += [nn.Conv1d(64, 64, kernel_size=5, padding=2), nn.ReLU()]
        layers += [nn.Conv1d(64, 128, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool1d(2)]
        self.features = nn.Sequential(*layers)
        self.score = nn.Linear(128, 1)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 1)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_one_hot_batch(x)
        hidden = self.features(x.transpose(1, 2)).transpose(1, 2)  # [n, P, 128]
        weights = torch.softmax(self.score(hidden).squeeze(-1), dim=1)  # [n, P]
        pooled = torch.einsum("np,npc->nc", weights, hidden)
        return self.head(pooled).squeeze(-1), weights


def prediction_only(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """A ``forward`` for :func:`course_lib.training.fit` that drops the attention weights."""
    return model(inputs)[0]


def attention_per_nucleotide(weights: np.ndarray, length: int) -> np.ndarray:
    """Spread pooled-position attention ``[n, P]`` over ``length`` nucleotides ``[n, length]``.

    Pooled position ``p`` summarises about nucleotides ``4p .. 4p + 3`` (two max-pools of
    2); each weight is shared evenly among them and nucleotides past ``4P`` get none. Rows
    are renormalised to sum to 1 (this matters only when ``4P > length``).
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(f"weights must be [n, P], got shape {weights.shape}")
    n, positions = weights.shape
    if positions * POOL_STRIDE > length + POOL_STRIDE:
        raise ValueError(f"{positions} pooled positions do not fit a {length}-nt sequence")
    spread = np.repeat(weights / POOL_STRIDE, POOL_STRIDE, axis=1)
    out = np.zeros((n, length))
    width = min(length, spread.shape[1])
    out[:, :width] = spread[:, :width]
    return out / out.sum(axis=1, keepdims=True)
