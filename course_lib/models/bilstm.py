"""Bidirectional LSTM over k-mer tokens, the recurrent model of the PUM2 chapter.

Architecture of the original course notebook: embedding of ``4**k + 1`` tokens (id 0 for
padding or N-containing k-mers) into 128 dimensions, two bidirectional LSTM layers of 100
units, dropout 0.1, a dense layer of 64 with ReLU and one output logit (train it with
``BCEWithLogitsLoss``). The original summarises the sequence by the last hidden state of each
direction, as a Keras ``Bidirectional(LSTM(..., return_sequences=False))`` gives
(``readout="last"``); ``readout="max"`` takes the maximum of the last layer's outputs over
positions instead, so a motif anywhere in the window reaches the head in one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from course_lib.encoding import kmer_ids


def lstm_token_ids(seqs: Sequence[str], k: int = 3) -> np.ndarray:
    """k-mer ids for :class:`BiLSTMClassifier`: ``1..4**k`` (ACGT rank + 1), ``0`` for N/padding.

    Returns
    -------
    numpy.ndarray
        ``int64`` ``[n, L - k + 1]``.
    """
    ids = kmer_ids(list(seqs), k, offset=1)
    ids[ids < 0] = 0
    return ids


class BiLSTMClassifier(nn.Module):
    """Embedding -> 2 x BiLSTM -> dense + ReLU -> one logit.

    Parameters
    ----------
    k
        k-mer size; the embedding has ``4**k + 1`` rows (row 0 is padding).
    embedding_dim, hidden_size, num_layers, dropout, dense_size
        Defaults reproduce the original: 128, 100, 2, 0.1, 64.
    readout
        ``"last"`` (the original: final hidden state of each direction) or ``"max"`` (maximum
        over positions of the last layer's outputs).

    Input ``[n, T]`` token ids from :func:`lstm_token_ids`; output ``[n]`` logits.
    """

    def __init__(
        self,
        k: int = 3,
        embedding_dim: int = 128,
        hidden_size: int = 100,
        num_layers: int = 2,
        dropout: float = 0.1,
        dense_size: int = 64,
        readout: Literal["last", "max"] = "last",
    ) -> None:
        super().__init__()
        if readout not in ("last", "max"):
            raise ValueError(f"readout must be 'last' or 'max', got {readout!r}")
        self.k = k
        self.readout = readout
        self.embedding = nn.Embedding(4**k + 1, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(
            nn.Linear(2 * hidden_size, dense_size), nn.ReLU(), nn.Linear(dense_size, 1)
        )

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        if token_ids.dim() != 2:
            raise ValueError(f"expected token ids [n, T], got shape {tuple(token_ids.shape)}")
        if int(token_ids.max()) > 4**self.k:
            raise ValueError(f"token id {int(token_ids.max())} exceeds 4**k = {4**self.k}")
        return self.from_embeddings(self.embedding(token_ids))

    def from_embeddings(self, embedded: torch.Tensor) -> torch.Tensor:
        """Logits from embedded tokens ``[n, T, embedding_dim]`` (for gradient x input)."""
        outputs, (h, _) = self.lstm(embedded)
        if self.readout == "max":
            summary = outputs.amax(dim=1)  # [n, 2 * hidden]
        else:
            summary = torch.cat([h[-2], h[-1]], dim=1)  # last layer, forward and backward
        return self.head(self.dropout(summary)).squeeze(-1)
