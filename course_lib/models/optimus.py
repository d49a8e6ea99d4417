"""Optimus 5-Prime: the convolutional MRL regressor of Sample et al. (2019), in PyTorch.

The published model (Keras) reads a one-hot 50-nt 5' UTR and predicts its scaled mean
ribosome load (MRL):

    3 x [Conv1D(120 filters, width 8, "same" padding) + ReLU]
    -> flatten -> Dense(40) + ReLU -> Dropout(0.2) -> Dense(1) (linear)

It was trained with Adam (learning rate 0.001) on mean squared error for 3 epochs,
batch size 128. Widths are parameters so that the ``smoke`` profile can shrink the model;
the defaults are the published ones.
"""

from __future__ import annotations

import torch
from torch import nn


def check_one_hot_batch(x: torch.Tensor, length: int | None = None) -> None:
    """Raise a clear ``ValueError`` unless ``x`` is a one-hot batch ``[n, L, 4]``.

    Parameters
    ----------
    x
        Input tensor, channels last (the layout of :func:`course_lib.encoding.one_hot`).
    length
        Required ``L``, or ``None`` for any length.
    """
    if x.ndim != 3 or x.shape[-1] != 4:
        raise ValueError(
            f"expected a one-hot batch of shape [n, L, 4] (channels last), got {tuple(x.shape)}; "
            "encode with course_lib.encoding.one_hot(seqs)"
        )
    if length is not None and x.shape[1] != length:
        raise ValueError(
            f"this model was built for {length}-nt sequences but got length {x.shape[1]}; "
            "pad or trim the UTRs, or build the model with length=" + str(x.shape[1])
        )


class Optimus5Prime(nn.Module):
    """Three same-padded convolutions, a dense layer and a linear output.

    Parameters
    ----------
    length
        Sequence length ``L`` (the dense layer sees ``n_filters * L`` features).
    n_filters
        Filters per convolution (published: 120).
    kernel_size
        Convolution width (published: 8).
    n_conv
        Number of convolution layers (published: 3).
    dense
        Units of the hidden dense layer (published: 40).
    dropout
        Dropout after the dense layer (published: 0.2).

    Shapes
    ------
    ``forward(x)``: ``x`` is ``[n, L, 4]`` one-hot; returns ``[n]`` (scaled MRL).
    """

    def __init__(
        self,
        length: int = 50,
        n_filters: int = 120,
        kernel_size: int = 8,
        n_conv: int = 3,
        dense: int = 40,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if n_conv < 1:
            raise ValueError(f"n_conv must be at least 1, got {n_conv}")
        self.length = length
        layers: list[nn.Module] = []
        channels = 4
        for _ in range(n_conv):
            layers += [nn.Conv1d(channels, n_filters, kernel_size, padding="same"), nn.ReLU()]
            channels = n_filters
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_filters * length, dense),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(dense, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_one_hot_batch(x, self.length)
        hidden = self.convs(x.transpose(1, 2))
        return self.head(hidden).squeeze(-1)
