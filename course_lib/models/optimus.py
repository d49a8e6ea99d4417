"""Optimus 5-Prime: the convolutional MRL regressor of Sample et al. (2019), in PyTorch.

The published model (Keras) reads a one-hot 50-nt 5' UTR and predicts its scaled mean
ribosome load (MRL):

    3 x [Conv1D(120 filters, width 8, "same" padding) + ReLU]
    -> flatten -> Dense(40) + ReLU -> Dropout(0.2) -> Dense(1) (linear)

It was trained with Adam (learning rate 0.001) on mean squared error for 3 epochs,
batch size 128. Widths are parameters so that the ``smoke`` profile can shrink the model;
the defaults are the published ones.

The *evolution model* of the same paper (``evolution_model.hdf5``, used for the genetic
algorithm) is the same family with ``padding="valid"``: input ``[54, 4]`` (the 50-nt UTR and
the first four coding bases, ATGG), two Conv1D(40, 8), Dense(40), dropout 0.2, Dense(1).
:func:`load_optimus_keras` reads it (Keras 1.2 or 2.x layout) into :class:`Optimus5Prime`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from course_lib.models.keras_weights import KerasWeightsError, check_shapes, read_keras_weights

#: The evolution model's input: the UTR followed by the first four coding bases.
EVOLUTION_LENGTH = 54
EVOLUTION_SUFFIX = "ATGG"


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
    padding
        ``"same"`` (the main model) or ``"valid"`` (the evolution model: each convolution
        shortens the sequence by ``kernel_size - 1``).

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
        padding: Literal["same", "valid"] = "same",
    ) -> None:
        super().__init__()
        if n_conv < 1:
            raise ValueError(f"n_conv must be at least 1, got {n_conv}")
        positions = length if padding == "same" else length - n_conv * (kernel_size - 1)
        if padding not in ("same", "valid") or positions < 1:
            raise ValueError(
                f"padding must be 'same' or 'valid' (and leave at least one position), got "
                f"{padding!r} for length {length}"
            )
        self.length = length
        layers: list[nn.Module] = []
        channels = 4
        for _ in range(n_conv):
            layers += [nn.Conv1d(channels, n_filters, kernel_size, padding=padding), nn.ReLU()]
            channels = n_filters
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_filters * positions, dense),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(dense, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_one_hot_batch(x, self.length)
        # Keras flattens [positions, channels]: transpose so the dense weights line up
        hidden = self.convs(x.transpose(1, 2)).transpose(1, 2)
        return self.head(hidden).squeeze(-1)


def _optimus_from_weights(
    layers: dict[str, dict[str, np.ndarray]], length: int, padding: str
) -> tuple[Optimus5Prime, list[str], list[str]]:
    convs = [name for name, a in layers.items() if a["kernel"].ndim == 3]
    denses = [name for name, a in layers.items() if a["kernel"].ndim == 2]
    if not convs or len(denses) != 2:
        raise KerasWeightsError(
            f"expected Conv1D layers and two Dense layers (an Optimus model), found "
            f"{ {n: a['kernel'].shape for n, a in layers.items()} }"
        )
    width, _, filters = layers[convs[0]]["kernel"].shape
    model = Optimus5Prime(
        length=length,
        n_filters=filters,
        kernel_size=width,
        n_conv=len(convs),
        dense=layers[denses[0]]["kernel"].shape[1],
        padding=padding,
    )
    return model, convs, denses


def load_optimus_keras(
    path: str | Path,
    length: int = EVOLUTION_LENGTH,
    padding: Literal["same", "valid"] = "valid",
) -> Optimus5Prime:
    """Load an Optimus-family Keras file (1.2 or 2.x layout); defaults fit the evolution model.

    The number of convolutions, filters, width and dense units are read from the file; the
    input ``length`` and ``padding`` are checked through the dense layer's shape.

    Raises
    ------
    FileNotFoundError, course_lib.models.keras_weights.KerasWeightsError
        Missing, truncated or unreadable file, or one of another architecture (the message
        names the layer and the expected and found shapes).
    """
    layers = read_keras_weights(path)
    model, convs, denses = _optimus_from_weights(layers, length, padding)
    torch_convs = [m for m in model.convs if isinstance(m, nn.Conv1d)]
    torch_denses = [m for m in model.head if isinstance(m, nn.Linear)]
    expected = {
        name: {"kernel": tuple(m.weight.shape[::-1]), "bias": tuple(m.bias.shape)}
        for name, m in zip(convs + denses, torch_convs + torch_denses, strict=True)
    }
    check_shapes(layers, expected, path)
    with torch.no_grad():
        for name, m in zip(convs, torch_convs, strict=True):
            m.weight.copy_(torch.from_numpy(layers[name]["kernel"].transpose(2, 1, 0).copy()))
            m.bias.copy_(torch.from_numpy(layers[name]["bias"]))
        for name, m in zip(denses, torch_denses, strict=True):
            m.weight.copy_(torch.from_numpy(layers[name]["kernel"].T.copy()))
            m.bias.copy_(torch.from_numpy(layers[name]["bias"]))
    return model.eval()
