"""DeepSEA Beluga (Zhou et al. 2018, ExPecto) exactly as published, and scaled-down teachers.

The published model is a ``torch.nn.Sequential`` of ``Conv2d`` layers with ``(1, 8)`` kernels
(a 1-D convolution written in 2-D), converted from Lua Torch with ``Lambda`` modules for the
reshapes. Its released weights ``deepsea.beluga.pth`` are a plain ``state_dict`` whose keys follow
that nesting::

    model.0.0.weight   Conv2d(4, 320, (1, 8))      model.0.8.weight   Conv2d(480, 480, (1, 8))
    model.0.2.weight   Conv2d(320, 320, (1, 8))    model.0.12.weight  Conv2d(480, 640, (1, 8))
    model.0.6.weight   Conv2d(320, 480, (1, 8))    model.0.14.weight  Conv2d(640, 640, (1, 8))
    model.1.2.1.weight Linear(67840, 2003)         model.1.4.1.weight Linear(2003, 2002)

(each with its ``.bias``). :class:`Beluga` rebuilds the same modules at the same indices, so
:func:`load_beluga` reads the published file directly. The constructor's arguments scale the
design down (shorter input, fewer channels and features) without changing the key layout: that
is the "teacher" the course trains when the real weights are not at hand.

Input: one-hot ``[batch, 4, L]`` in the base order A, G, C, T (``encoding.one_hot(...,
alphabet="AGCT", channels_first=True)``); the published ``[batch, 4, 1, L]`` is accepted too.
Output: ``[batch, n_features]`` probabilities (sigmoid).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from course_lib.models.checkpoint import checkpoint_error, load_torch_file

#: Published Beluga: 2,000 bp input, 2,002 chromatin features.
BELUGA_LENGTH = 2000
BELUGA_FEATURES = 2002
BELUGA_CHANNELS = (320, 480, 640)
BELUGA_HIDDEN = 2003
BELUGA_DROPOUT = (0.2, 0.2, 0.5)
KERNEL = 8
POOL = 4


class Lambda(nn.Module):
    """A parameter-free reshape, as in the converted Lua Torch model (no parameters, no keys)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.lambda_func = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lambda_func(x)


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.size(0), -1)  # view() in the original; reshape also takes strided input


def _as_2d(x: torch.Tensor) -> torch.Tensor:
    return x.view(1, -1) if x.dim() == 1 else x


def conv_output_length(sequence_length: int) -> int:
    """Positions left after Beluga's six valid (1, 8) convolutions and two (1, 4) poolings.

    2,000 bp -> 106 positions, so the published flatten size is 640 x 106 = 67,840.
    """
    n = sequence_length - 2 * (KERNEL - 1)
    n = n // POOL - 2 * (KERNEL - 1)
    n = n // POOL - 2 * (KERNEL - 1)
    return n


#: The shortest input the design accepts (one position left after the convolutions).
MIN_LENGTH = next(n for n in range(1, 1000) if conv_output_length(n) >= 1)


class Beluga(nn.Module):
    """DeepSEA Beluga; the defaults give the published model (~149.5 M parameters).

    Parameters
    ----------
    sequence_length
        Input length ``L`` (published: 2,000; at least :data:`MIN_LENGTH` = 310).
    n_features
        Number of predicted chromatin features (published: 2,002).
    channels
        Filters of the three convolution blocks (published: 320, 480, 640).
    hidden
        Width of the hidden linear layer (published: 2,003).
    dropout
        Dropout after blocks one and two and before the classifier (published: 0.2, 0.2, 0.5).
    """

    def __init__(
        self,
        sequence_length: int = BELUGA_LENGTH,
        n_features: int = BELUGA_FEATURES,
        channels: tuple[int, int, int] = BELUGA_CHANNELS,
        hidden: int = BELUGA_HIDDEN,
        dropout: tuple[float, float, float] = BELUGA_DROPOUT,
    ):
        super().__init__()
        if conv_output_length(sequence_length) < 1:
            raise ValueError(
                f"sequence_length {sequence_length} is too short for Beluga's six convolutions "
                f"and two poolings; use at least {MIN_LENGTH}"
            )
        c1, c2, c3 = channels
        self.sequence_length = sequence_length
        self.n_features = n_features
        flat = c3 * conv_output_length(sequence_length)
        k = (1, KERNEL)
        pool = (1, POOL)
        self.model = nn.Sequential(
            nn.Sequential(
                nn.Conv2d(4, c1, k),
                nn.ReLU(),
                nn.Conv2d(c1, c1, k),
                nn.ReLU(),
                nn.Dropout(dropout[0]),
                nn.MaxPool2d(pool, pool),
                nn.Conv2d(c1, c2, k),
                nn.ReLU(),
                nn.Conv2d(c2, c2, k),
                nn.ReLU(),
                nn.Dropout(dropout[1]),
                nn.MaxPool2d(pool, pool),
                nn.Conv2d(c2, c3, k),
                nn.ReLU(),
                nn.Conv2d(c3, c3, k),
                nn.ReLU(),
            ),
            nn.Sequential(
                nn.Dropout(dropout[2]),
                Lambda(_flatten),
                nn.Sequential(Lambda(_as_2d), nn.Linear(flat, hidden)),
                nn.ReLU(),
                nn.Sequential(Lambda(_as_2d), nn.Linear(hidden, n_features)),
            ),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, 4, L]`` (or ``[batch, 4, 1, L]``) one-hot A,G,C,T -> ``[batch, features]``."""
        if x.dim() == 3:
            x = x.unsqueeze(2)
        if x.dim() != 4 or x.shape[1] != 4 or x.shape[2] != 1:
            raise ValueError(
                "Beluga expects one-hot input [batch, 4, L] or [batch, 4, 1, L], "
                f"got {tuple(x.shape)}"
            )
        if x.shape[-1] != self.sequence_length:
            raise ValueError(
                f"input length {x.shape[-1]} differs from this model's {self.sequence_length} bp"
            )
        return self.model(x)


def small_beluga(
    sequence_length: int = 400,
    n_features: int = 8,
    channels: tuple[int, int, int] = (16, 24, 32),
    hidden: int = 32,
    dropout: tuple[float, float, float] = BELUGA_DROPOUT,
) -> Beluga:
    """A teacher of the same design, scaled down for a CPU (same module layout and keys)."""
    return Beluga(sequence_length, n_features, channels, hidden, dropout)


def load_beluga(
    path: str | Path,
    sequence_length: int = BELUGA_LENGTH,
    map_location: str | torch.device = "cpu",
) -> Beluga:
    """Load a Beluga ``state_dict`` such as the published ``deepsea.beluga.pth``.

    Channels, hidden width and feature count are read from the tensors' shapes, so the same
    function loads the published model and any scaled-down checkpoint of the same design.

    Parameters
    ----------
    path
        A file written by ``torch.save(model.state_dict(), path)``.
    sequence_length
        Input length the weights were trained for (the linear layer fixes it up to pooling
        remainders): 2,000 for the published file.

    Returns
    -------
    Beluga
        In eval mode, on ``map_location``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"Beluga weights not found: {path}. The published file is deepsea.beluga.pth from "
            "the ExPecto resources (https://github.com/FunctionLab/ExPecto); put it there or "
            "pass its path."
        )
    expected = "a Beluga state_dict (deepsea.beluga.pth)"
    fix = "Pass the path of deepsea.beluga.pth from the ExPecto resources, or None."
    state = load_torch_file(path, expected, fix)
    if not isinstance(state, dict) or "model.0.0.weight" not in state:
        found = list(state)[:4] if isinstance(state, dict) else type(state).__name__
        raise checkpoint_error(
            path, expected, f"expected keys like 'model.0.0.weight', found {found}", fix
        )
    channels = (
        state["model.0.0.weight"].shape[0],
        state["model.0.6.weight"].shape[0],
        state["model.0.12.weight"].shape[0],
    )
    hidden, flat = state["model.1.2.1.weight"].shape
    n_features = state["model.1.4.1.weight"].shape[0]
    if conv_output_length(sequence_length) * channels[2] != flat:
        raise ValueError(
            f"{path.name} has a linear layer of {flat} inputs = {channels[2]} channels x "
            f"{flat // channels[2]} positions, which does not fit sequence_length="
            f"{sequence_length} ({conv_output_length(sequence_length)} positions); pass the "
            "length it was trained on"
        )
    model = Beluga(sequence_length, n_features, channels, hidden)
    model.load_state_dict(state, strict=True)
    return model.to(map_location).eval()
