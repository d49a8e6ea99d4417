"""Framepool (Karollus, Avsec & Gagneur, PLoS Comput Biol 2021) in PyTorch, with its loader.

The network reads a one-hot 5' UTR of any length (shorter UTRs are padded on the 5' side
with all-zero rows, so that the 3' end always touches the start codon):

    3 x [Conv1D(128, 7, "same") + ReLU, multiplied by the pad mask] (residual: add the input
    of convolutions 2 and 3) -> reverse the positions, so that position 0 is the nucleotide
    before the start codon -> split positions into the three frames (0, 3, 6, ... / 1, 4, ... /
    2, 5, ...) -> per frame, global max and masked average over positions (6 x 128 features)
    -> Dense(64) + ReLU -> Dropout(0.2) -> Dense(1).

The combined model adds a per-library scaling regression: with a one-hot library indicator
``e`` (width ``k``) and the network output ``y`` it predicts ``w . [y * e, e]`` (no bias),
i.e. an affine map of ``y`` per library.

The masked average divides each frame's sum by the *number of real positions of the whole
UTR* (the published files' ``pool_avg_frame_conv`` receives the full ``compute_pad_mask``),
not by the frame's own count; ``average="frame"`` gives the per-frame count that a later
version of the authors' code and the ``multimolecule`` port use. Introduced in chapter 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from course_lib.models.keras_weights import check_shapes, keras_layer_names, read_keras_weights
from course_lib.models.optimus import check_one_hot_batch

Average = Literal["sequence", "frame"]

#: UTRs per forward pass when scoring on CPU. Measured (combined model, 2 threads, 20,000
#: UTRs of 50 nt and 10,000 of 100 nt): at 512 the allocator reuses its memory from the
#: second pass on (about 0.1 s of system time per pass); at 1,024 or 2,048 every pass maps
#: fresh pages (250,000-375,000 page faults, 0.7-1.2 s of system time on top of about 5 s
#: of compute).
SCORING_BATCH = 512


class Framepool(nn.Module):
    """Frame-pooling convolutional MRL regressor for UTRs of any length.

    Parameters
    ----------
    n_conv, n_filters, kernel_size
        Convolutions (published: 3 of 128 filters, width 7).
    residual
        Add each convolution's input to its output from the second convolution on.
    dense, dropout
        Hidden dense layer (published: 64 units, dropout 0.2).
    library_size
        Width of the library indicator of the scaling regression; ``None``: no regression.
    average
        Denominator of the masked average: ``"sequence"`` (the published files) or ``"frame"``.

    Shapes
    ------
    ``forward(x, library)``: ``x`` is ``[n, L, 4]`` one-hot (all-zero rows are padding, on the
    5' side); ``library`` an index or ``[n, library_size]`` indicator; returns ``[n]``.
    """

    def __init__(
        self,
        n_conv: int = 3,
        n_filters: int = 128,
        kernel_size: int = 7,
        residual: bool = False,
        dense: int = 64,
        dropout: float = 0.2,
        library_size: int | None = None,
        average: Average = "sequence",
    ) -> None:
        super().__init__()
        if average not in ("sequence", "frame"):
            raise ValueError(f"average must be 'sequence' or 'frame', got {average!r}")
        self.residual, self.average, self.library_size = residual, average, library_size
        channels = [4] + [n_filters] * n_conv
        self.convs = nn.ModuleList(
            nn.Conv1d(c_in, c_out, kernel_size, padding="same")
            for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
        )
        self.dense = nn.Linear(6 * n_filters, dense)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(dense, 1)
        self.scaling = nn.Linear(2 * library_size, 1, bias=False) if library_size else None

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Frame-pooled features ``[n, 6 * n_filters]`` (3 frame maxima, then 3 averages).

        ``x`` is ``[n, L, 4]``; see :meth:`convolve` for the hidden states and
        :meth:`frame_pool` for the pooling.
        """
        check_one_hot_batch(x)
        mask = x.sum(-1, keepdim=True)  # [n, L, 1]: 1 at real positions
        return self.frame_pool(self.convolve(x, mask), mask)

    def convolve(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked convolution stack: hidden states ``[n, L, n_filters]``.

        The convolutions run as 2-D ones on ``[n, C, 1, L]`` tensors stored channels last
        (``[n, L, C]`` in memory): the one-hot input is then used without a copy, and oneDNN
        convolves that layout fastest on CPU. Without autograd the ReLU, the mask and the
        residual sum work in place; a mask of ones (no padding) is not multiplied.

        Parameters
        ----------
        x
            One-hot batch ``[n, L, 4]``.
        mask
            ``[n, L, 1]``: ``x.sum(-1)``, 1 at real positions, 0 at padding.
        """
        inplace = not torch.is_grad_enabled()
        mask = None if bool(torch.all(mask == 1)) else mask.transpose(1, 2).unsqueeze(2)
        hidden = x.transpose(1, 2).unsqueeze(2)  # [n, 4, 1, L], channels last: a view
        for index, conv in enumerate(self.convs):
            out = F.conv2d(hidden, conv.weight.unsqueeze(2), conv.bias, padding=conv.padding)
            out = F.relu(out, inplace=inplace)
            if mask is not None:
                out = out.mul_(mask) if inplace else out * mask
            if self.residual and index > 0:
                out = out.add_(hidden) if inplace else out + hidden
            hidden = out
        return hidden.squeeze(2).transpose(1, 2)

    def frame_pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-frame global max and masked average of ``hidden`` ``[n, L, C]``: ``[n, 6C]``.

        Frame ``f`` holds the positions ``j`` with ``(L - 1 - j) % 3 == f`` (frame 0 ends at
        the start codon): the published model reverses the positions and takes every third,
        which equals a strided view of the unreversed states (the max and the sum do not depend
        on the order, up to the sum's rounding).
        """
        length = hidden.shape[1]
        starts = [(length - 1 - frame) % 3 for frame in range(3)]
        frames = [hidden[:, start::3] for start in starts]
        if self.average == "sequence":
            counts = [mask.sum(1)] * 3
        else:
            counts = [mask[:, start::3].sum(1).clamp_min(1.0) for start in starts]
        maxima = [frame.amax(1) for frame in frames]
        means = [frame.sum(1) / count for frame, count in zip(frames, counts, strict=True)]
        return torch.cat(maxima + means, dim=-1)

    def forward(self, x: torch.Tensor, library: int | torch.Tensor | None = None) -> torch.Tensor:
        out = self.output(self.dropout(F.relu(self.dense(self.pooled(x)))))
        if self.scaling is None:
            if library is not None:
                raise ValueError(
                    "this Framepool has no scaling regression; call it without library"
                )
            return out.squeeze(-1)
        indicator = self._indicator(library, len(x), out)
        return self.scaling(torch.cat([out * indicator, indicator], dim=-1)).squeeze(-1)

    def _indicator(self, library: int | torch.Tensor | None, n: int, like: torch.Tensor):
        if library is None:
            raise ValueError(
                "this Framepool predicts per library: pass library=<index 0.."
                f"{self.library_size - 1}> or a one-hot [n, library_size] indicator"
            )
        if isinstance(library, int):
            indicator = torch.zeros(n, self.library_size, dtype=like.dtype, device=like.device)
            indicator[:, library] = 1.0
            return indicator
        if tuple(library.shape) != (n, self.library_size):
            raise ValueError(
                f"library indicator must be [{n}, {self.library_size}], got {tuple(library.shape)}"
            )
        return library.to(like)


def _expected_shapes(model: Framepool) -> dict[str, dict[str, tuple[int, ...]]]:
    shapes = {
        f"convolution_{i}": {
            "kernel": tuple(conv.weight.shape[::-1]),  # Keras: [width, in, out]
            "bias": tuple(conv.bias.shape),
        }
        for i, conv in enumerate(model.convs)
    }
    shapes["fully_connected_0"] = {
        "kernel": tuple(model.dense.weight.shape[::-1]),
        "bias": tuple(model.dense.bias.shape),
    }
    shapes["mrl_output_unscaled"] = {"kernel": (model.dense.out_features, 1), "bias": (1,)}
    if model.scaling is not None:
        shapes["scaling_regression"] = {"kernel": (model.scaling.in_features, 1)}
    return shapes


def load_framepool(path: str | Path, average: Average = "sequence") -> Framepool:
    """Build the Framepool that ``path`` (a Keras 2 ``.h5`` of Karollus et al.) describes.

    Residual connections are read from the file's layer list (``add_residual_*``), the
    scaling regression from ``scaling_regression``; every layer's shape is checked.

    Raises
    ------
    FileNotFoundError, course_lib.models.keras_weights.KerasWeightsError
        Missing, truncated or unreadable file, or one of another architecture (the message
        names the layer and the expected and found shapes).
    """
    layers = read_keras_weights(path)
    names = keras_layer_names(path)
    scaling = layers.get("scaling_regression", {}).get("kernel")
    model = Framepool(
        residual=any(n.startswith("add_residual_") for n in names),
        library_size=None if scaling is None else scaling.shape[0] // 2,
        average=average,
    )
    check_shapes(layers, _expected_shapes(model), path)
    state = {}
    for i in range(len(model.convs)):
        state[f"convs.{i}.weight"] = layers[f"convolution_{i}"]["kernel"].transpose(2, 1, 0)
        state[f"convs.{i}.bias"] = layers[f"convolution_{i}"]["bias"]
    for key, layer in (("dense", "fully_connected_0"), ("output", "mrl_output_unscaled")):
        state[f"{key}.weight"] = layers[layer]["kernel"].T
        state[f"{key}.bias"] = layers[layer]["bias"]
    if scaling is not None:
        state["scaling.weight"] = scaling.T
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    return model.eval()
