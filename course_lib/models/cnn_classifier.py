"""A small one-hot convolutional classifier: the baseline a k-mer model must beat.

Two convolution blocks (motif detectors of width 9, then 5) with max pooling, a global max
over positions (where is the best motif match) and a linear head giving one logit.
"""

from __future__ import annotations

import torch
from torch import nn


class OneHotCNN(nn.Module):
    """Conv(4->c, 9) + ReLU + MaxPool(2) -> Conv(c->c, 5) + ReLU -> global max -> logit.

    Input ``[n, 4, L]`` one-hot (``channels_first=True`` in :func:`course_lib.encoding.one_hot`);
    output ``[n]`` logits.
    """

    def __init__(self, channels: int = 64, dropout: float = 0.2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(4, channels, kernel_size=9, padding=4),
            nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Dropout(dropout),
            nn.Conv1d(channels, channels, kernel_size=5, padding=2),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, 1))

    def forward(self, one_hot: torch.Tensor) -> torch.Tensor:
        if one_hot.dim() != 3 or one_hot.shape[1] != 4:
            raise ValueError(f"expected one-hot input [n, 4, L], got shape {tuple(one_hot.shape)}")
        pooled = self.features(one_hot).amax(dim=-1)
        return self.head(pooled).squeeze(-1)
