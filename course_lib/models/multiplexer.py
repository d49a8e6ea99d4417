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
of every feature for every base at every position (see :mod:`course_lib.ism`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_lib.ism import ism_log_odds, ism_metrics
from course_lib.progress import progress

KERNEL = 8

#: Published figures of the BelugaMultiplexer against Beluga saturation mutagenesis.
MULTIPLEXER_ANCHORS = {
    "BelugaMultiplexer vs Beluga ISM (2,002 features, 2,000 bp, hg19 chr8/chr9 held out)": {
        "weighted Pearson r": 0.843,
        "speed-up over Beluga on every variant": 67.7,
        "source": "Zhou lab Multiplexer (github.com/jzhoulab/Multiplexer); speed-up on a GPU",
    },
}


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


def train_multiplexer(
    multiplexer: BelugaMultiplexer,
    teacher: nn.Module,
    sample_windows: Callable[[int, np.random.Generator], torch.Tensor],
    val_inputs: torch.Tensor,
    val_targets: torch.Tensor,
    *,
    steps: int,
    fresh_windows: int,
    batch_windows: int,
    pool_size: int,
    lr: float = 1e-3,
    eval_every: int = 25,
    ism_batch_size: int = 512,
    seed: int = 0,
    device: torch.device | str = "cpu",
    show_progress: bool = True,
) -> pd.DataFrame:
    """Distil ``teacher``'s saturation mutagenesis into ``multiplexer`` (Adam, MSE).

    Every step draws ``fresh_windows`` new training windows, computes their ISM maps with the
    teacher on the fly (:func:`course_lib.ism.ism_log_odds`) and adds them to a pool of the
    ``pool_size`` most recent windows (the first step fills it with ``batch_windows``); one
    optimizer step is then taken on ``batch_windows``
    windows drawn from the pool. ``fresh_windows = batch_windows = pool_size`` is the published
    scheme (16 new windows per step); a larger pool reuses each costly teacher map a few times,
    which is what makes a CPU run affordable. Every ``eval_every`` steps (and at the end) the
    validation MSE and weighted Pearson r are measured; the multiplexer is left in the state
    with the best validation weighted Pearson r (the published metric), in eval mode.

    Parameters
    ----------
    sample_windows
        ``sample_windows(n, rng) -> [n, 4, L]`` one-hot training windows.
    val_inputs, val_targets
        ``[m, 4, L]`` validation windows and their ``[m, F, 4, L]`` teacher ISM maps.

    Returns
    -------
    pandas.DataFrame
        One row per evaluation: ``step``, ``train_loss`` (mean since the last evaluation),
        ``val_loss``, ``val_weighted_r``, ``windows_seen`` (teacher maps computed so far),
        ``seconds``.
    """
    if min(steps, fresh_windows, batch_windows) < 1 or pool_size < max(
        fresh_windows, batch_windows
    ):
        raise ValueError(
            "steps, fresh_windows and batch_windows must be positive and pool_size at least "
            f"max(fresh_windows, batch_windows); got {steps}, {fresh_windows}, {batch_windows}, "
            f"{pool_size}"
        )
    device = torch.device(device)
    multiplexer.to(device)
    teacher.to(device).eval()
    val_inputs, val_targets = val_inputs.to(device), val_targets.to(device)
    optimizer = torch.optim.Adam(multiplexer.parameters(), lr=lr)
    loss_fn = nn.MSELoss()
    rng = np.random.default_rng(seed)
    pool_x: list[torch.Tensor] = []
    pool_y: list[torch.Tensor] = []
    best_score, best_state, rows, running, windows_seen = -np.inf, None, [], [], 0
    start = time.perf_counter()
    bar = progress(range(1, steps + 1), desc="multiplexer", unit="step", disable=not show_progress)
    for step in bar:
        n_new = max(fresh_windows, batch_windows) if step == 1 else fresh_windows
        inputs = sample_windows(n_new, rng).to(device)
        pool_x.extend(inputs)
        pool_y.extend(ism_log_odds(teacher, inputs, ism_batch_size))
        del pool_x[:-pool_size], pool_y[:-pool_size]
        pick = rng.choice(len(pool_x), size=batch_windows, replace=False)
        batch_x = torch.stack([pool_x[i] for i in pick])
        batch_y = torch.stack([pool_y[i] for i in pick])
        multiplexer.train()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(multiplexer(batch_x), batch_y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower lr")
        loss.backward()
        optimizer.step()
        running.append(loss.item())
        windows_seen += n_new
        if step % eval_every == 0 or step == steps:
            predicted = predict_maps(multiplexer, val_inputs)
            score = ism_metrics(val_targets.cpu().numpy(), predicted.cpu().numpy())
            rows.append(
                {
                    "step": step,
                    "train_loss": float(np.mean(running)),
                    "val_loss": nn.functional.mse_loss(predicted, val_targets).item(),
                    "val_weighted_r": score["weighted Pearson r"],
                    "windows_seen": windows_seen,
                    "seconds": time.perf_counter() - start,
                }
            )
            running = []
            if score["weighted Pearson r"] > best_score:
                best_score = score["weighted Pearson r"]
                best_state = copy.deepcopy(multiplexer.state_dict())
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(train=f"{rows[-1]['train_loss']:.4f}", val_r=f"{best_score:.3f}")
    if best_state is not None:  # None only if every validation score was nan
        multiplexer.load_state_dict(best_state)
    multiplexer.eval()
    return pd.DataFrame(rows)


@torch.no_grad()
def predict_maps(model: nn.Module, inputs: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """Multiplexer ISM maps ``[n, F, 4, L]`` for ``[n, 4, L]`` windows, in batches."""
    model.eval()
    return torch.cat([model(inputs[i : i + batch]) for i in range(0, len(inputs), batch)])


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def measure_speedup(
    teacher: nn.Module,
    multiplexer: nn.Module,
    windows: torch.Tensor,
    ism_batch_size: int = 512,
    repeats: int = 1,
) -> dict[str, float]:
    """Wall time of all-variant effects by the teacher (3L + 1 forward passes per window) versus
    one multiplexer pass, on the same windows and device.

    Returns
    -------
    dict
        ``teacher_s``, ``multiplexer_s`` (per window, best of ``repeats``) and ``speedup``.
    """
    device = windows.device
    teacher.eval()
    multiplexer.eval()

    def best_time(fn: Callable[[], object], warm_up: bool) -> float:
        if warm_up:
            fn()
        times = []
        for _ in range(repeats):
            _synchronize(device)
            t0 = time.perf_counter()
            fn()
            _synchronize(device)
            times.append(time.perf_counter() - t0)
        return min(times) / len(windows)

    # the teacher's thousands of batches warm themselves up; one multiplexer pass does not
    teacher_s = best_time(lambda: ism_log_odds(teacher, windows, ism_batch_size), False)
    multiplexer_s = best_time(lambda: predict_maps(multiplexer, windows, len(windows)), True)
    return {
        "teacher_s": teacher_s,
        "multiplexer_s": multiplexer_s,
        "speedup": teacher_s / multiplexer_s,
    }
