"""BelugaMultiplexer (jzhoulab/Multiplexer): every variant's effect in one forward pass.

Design, as published, parameterised by input length, feature count and width:

- a positional channel (a ramp 0 -> 1 -> 0 along the window) is added to the one-hot input,
  giving 5 input channels;
- ``model_one``: two Conv1d (kernel 8, padding 3 then 4, so the length is kept);
- ``model_two`` .. ``model_six``: pairs of dilated Conv1d (kernel 8, dilations 4, 16, 64, 16, 4,
  "same" padding 3.5 x dilation), each followed by batch norm and ReLU;
- U-Net-style skip sums: ``model_six(three + five)`` and ``model_final(two + six)``;
- ``model_final``: a 1x1 Conv1d head with ``4 * F`` channels, reshaped to ``[batch, F, 4, L]``
  (channel ``4f + b`` is feature ``f``, base ``b`` in A, G, C, T order).

The module names are the published ones, so the released ``BelugaMultiplexerWeights.pth`` loads
into ``BelugaMultiplexer()`` with the default arguments. The output is the log-odds change
of every feature for every base at every position (see
:mod:`course_lib.interpret.variant_mutagenesis`).
"""

from __future__ import annotations

import torch
from torch import nn

KERNEL = 8


def positional_channel(length: int) -> torch.Tensor:
    """The published position encoding generalised to ``length``: ``[length]`` ramp 0 -> 1 -> 0.

    For 2,000 bp it equals ``cat(arange(0, 1, 0.001), arange(1, 0, -0.001))``.
    """
    half = length // 2
    rise = torch.arange(half, dtype=torch.float64) / half
    fall = 1 - torch.arange(length - half, dtype=torch.float64) / half
    return torch.cat([rise, fall]).float()


def _conv_pair(c_in: int, c_out: int, dilation: int) -> nn.Sequential:
    pad = KERNEL // 2 * dilation - dilation // 2  # 3.5 x dilation for even dilations
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, KERNEL, dilation=dilation, padding=pad),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
        nn.Conv1d(c_out, c_out, KERNEL, dilation=dilation, padding=pad),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    )


class BelugaMultiplexer(nn.Module):
    """Predict the effect of all ``4L`` single-nucleotide variants on ``F`` features at once.

    Parameters
    ----------
    sequence_length
        Window length ``L`` (published: 2,000).
    n_features
        Features of the base model (published: 2,002).
    channels
        Widths of the first block and of the dilated blocks (published: 640, 1280).
    dilations
        Dilations of blocks two, three and four; five and six mirror three and two
        (published: 4, 16, 64). Each must be even so that "same" padding exists for kernel 8.

    Input ``[batch, 4, L]`` one-hot (A, G, C, T); output ``[batch, F, 4, L]``.
    """

    def __init__(
        self,
        sequence_length: int = 2000,
        n_features: int = 2002,
        channels: tuple[int, int] = (640, 1280),
        dilations: tuple[int, int, int] = (4, 16, 64),
    ):
        super().__init__()
        if any(d < 2 or d % 2 for d in dilations):
            raise ValueError(f"dilations must be even (kernel 8 'same' padding), got {dilations}")
        c1, c2 = channels
        d2, d3, d4 = dilations
        self.sequence_length = sequence_length
        self.n_features = n_features
        self.register_buffer("position", positional_channel(sequence_length), persistent=False)
        self.model_one = nn.Sequential(
            nn.Conv1d(5, c1, KERNEL, padding=3),
            nn.BatchNorm1d(c1),
            nn.ReLU(),
            nn.Conv1d(c1, c1, KERNEL, padding=4),
            nn.BatchNorm1d(c1),
            nn.ReLU(),
        )
        self.model_two = _conv_pair(c1, c2, d2)
        self.model_three = _conv_pair(c2, c2, d3)
        self.model_four = _conv_pair(c2, c2, d4)
        self.model_five = _conv_pair(c2, c2, d3)
        self.model_six = _conv_pair(c2, c2, d2)
        head = 4 * n_features
        self.model_final = nn.Sequential(
            nn.Conv1d(c2, head, 1),
            nn.BatchNorm1d(head),
            nn.ReLU(),
            nn.Conv1d(head, head, 1),
        )
        # start from "no variant has an effect" (most true effects are near zero)
        nn.init.zeros_(self.model_final[3].weight)
        nn.init.zeros_(self.model_final[3].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[batch, 4, L]`` one-hot -> ``[batch, F, 4, L]`` log-odds changes."""
        if x.dim() != 3 or x.shape[1] != 4 or x.shape[2] != self.sequence_length:
            raise ValueError(
                f"expected one-hot [batch, 4, {self.sequence_length}], got {tuple(x.shape)}"
            )
        position = self.position.to(x.dtype).expand(x.shape[0], 1, -1)
        one = self.model_one(torch.cat([x, position], dim=1))
        two = self.model_two(one)
        three = self.model_three(two)
        five = self.model_five(self.model_four(three))
        six = self.model_six(three + five)
        out = self.model_final(two + six)
        return out.reshape(x.shape[0], self.n_features, 4, self.sequence_length)


@torch.no_grad()
def predict_maps(model: nn.Module, inputs: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """Multiplexer ISM maps ``[n, F, 4, L]`` for ``[n, 4, L]`` windows, in batches."""
    model.eval()
    return torch.cat([model(inputs[i : i + batch]) for i in range(0, len(inputs), batch)])
