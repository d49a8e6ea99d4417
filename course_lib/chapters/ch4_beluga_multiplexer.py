"""Chapter 4, ``notebooks/04_beluga_multiplexer.ipynb``: every variant's effect in one pass.

The chapter's recipe: settings per profile (:data:`SETTINGS`), the published anchor
(:data:`ANCHORS`), the teacher on the synthetic chromatin task of :mod:`course_lib.chromatin`
(:func:`seed_first_layer`, :func:`pretrain_teacher`, :func:`teacher_pearson`), distilling the
teacher's saturation mutagenesis into a
:class:`~course_lib.models.multiplexer.BelugaMultiplexer` (:func:`train_multiplexer`) and the
wall-time comparison of the two (:func:`measure_speedup`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.encoding import one_hot, reverse_complement
from course_lib.interpret.variant_mutagenesis import ism_log_odds, ism_metrics
from course_lib.metrics import pearson_r
from course_lib.models.beluga import Beluga
from course_lib.models.multiplexer import BelugaMultiplexer, predict_maps
from course_lib.progress import progress
from course_lib.training import FitResult, fit

NOTEBOOK = "04_beluga_multiplexer.ipynb"

#: Settings per profile (resolve with :func:`course_lib.profiles.chapter_settings`).
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        "sequence_length": 320,
        "n_features": 4,
        "teacher_channels": (8, 8, 16),
        "teacher_hidden": 16,
        "teacher_dropout": (0.0, 0.0, 0.1),
        "n_teacher_train": 1500,
        "n_teacher_val": 300,
        "teacher_epochs": 4,
        "teacher_batch_size": 32,
        "teacher_lr": 3e-3,
        "multiplexer_channels": (16, 32),
        "multiplexer_dilations": (2, 4, 8),
        "steps": 120,
        "fresh_windows": 1,
        "batch_windows": 4,
        "pool_size": 32,
        "eval_every": 20,
        "n_val_windows": 4,
        "n_test_windows": 6,
        "ism_batch_size": 640,
        "lr": 5e-3,
        "speed_windows": 2,
    },
    "laptop": {
        "sequence_length": 400,
        "n_features": 6,
        "teacher_channels": (16, 16, 32),
        "teacher_hidden": 32,
        "teacher_dropout": (0.0, 0.0, 0.1),
        "n_teacher_train": 6000,
        "n_teacher_val": 600,
        "teacher_epochs": 6,
        "teacher_batch_size": 32,
        "teacher_lr": 2e-3,
        "multiplexer_channels": (32, 64),
        "multiplexer_dilations": (4, 8, 32),
        "steps": 1200,
        "fresh_windows": 1,
        "batch_windows": 8,
        "pool_size": 256,
        "eval_every": 100,
        "n_val_windows": 16,
        "n_test_windows": 32,
        "ism_batch_size": 800,
        "lr": 2e-3,
        "speed_windows": 4,
    },
    "full": {
        "sequence_length": 2000,
        "n_features": 32,
        "teacher_channels": (320, 480, 640),
        "teacher_hidden": 2003,
        "teacher_dropout": (0.2, 0.2, 0.5),
        "n_teacher_train": 50000,
        "n_teacher_val": 5000,
        "teacher_epochs": 10,
        "teacher_batch_size": 128,
        "teacher_lr": 1e-3,
        "multiplexer_channels": (640, 1280),
        "multiplexer_dilations": (4, 16, 64),
        "steps": 10000,
        "fresh_windows": 16,
        "batch_windows": 16,
        "pool_size": 16,
        "eval_every": 200,
        "n_val_windows": 8,
        "n_test_windows": 32,
        "ism_batch_size": 1000,
        "lr": 1e-4,
        "speed_windows": 16,
    },
}

#: Published figures of the BelugaMultiplexer against Beluga saturation mutagenesis, with the
#: protocol label.
ANCHORS: dict[str, dict[str, Any]] = {
    "BelugaMultiplexer vs Beluga ISM (2,002 features, 2,000 bp, hg19 chr8/chr9 held out)": {
        "weighted Pearson r": 0.843,
        "speed-up over Beluga on every variant": 67.7,
        "protocol": "reported by the Multiplexer authors; not found in their repository: "
        "cited as reported, not reproduced",
        "source": "Zhou lab Multiplexer (github.com/jzhoulab/Multiplexer); speed-up on a GPU",
    },
}


def seed_first_layer(teacher: Beluga, motifs: Sequence[str], scale: float = 2.0) -> int:
    """Initialise first-layer filters of ``teacher`` with the motifs (both strands).

    Filter ``2i`` (``2i + 1``) gets ``scale * (one_hot - 1/4)`` of motif ``i`` (its reverse
    complement), centred in the 8-wide kernel, and a bias that makes it fire for at most one
    mismatch. This is the DanQ-JASPAR trick (Quang & Xie 2016): a deep convolutional net without
    batch norm, like Beluga, otherwise needs far more than a minute of CPU training to leave its
    plateau. The other filters keep their random initialisation.

    Returns
    -------
    int
        Number of seeded filters.
    """
    conv = teacher.model[0][0]
    n_needed = 2 * len(motifs)
    if conv.out_channels < n_needed:
        raise ValueError(
            f"the first layer has {conv.out_channels} filters but {len(motifs)} motifs need "
            f"{n_needed} (both strands); widen teacher_channels[0]"
        )
    width = conv.kernel_size[1]
    with torch.no_grad():
        for i, site in enumerate(s for m in motifs for s in (m, reverse_complement(m))):
            if len(site) > width:
                raise ValueError(f"motif {site} is longer than the {width}-wide filters")
            pwm = torch.from_numpy(one_hot(site, alphabet="AGCT", channels_first=True)[0])
            offset = (width - len(site)) // 2
            conv.weight[i].zero_()
            conv.weight[i, :, 0, offset : offset + len(site)] = scale * (pwm - 0.25)
            conv.bias[i] = -scale * 0.75 * (len(site) - 2)
    return n_needed


def pretrain_teacher(
    teacher: nn.Module,
    train: TensorDataset,
    validation: TensorDataset,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 2e-3,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> FitResult:
    """Train the teacher on the chromatin task (binary cross-entropy, Adam), with a progress bar.

    The teacher is left in its best-on-validation state, in eval mode.
    """
    generator = torch.Generator().manual_seed(seed)
    return fit(
        teacher,
        DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator),
        DataLoader(validation, batch_size=256),
        loss_fn=nn.BCELoss(),
        epochs=epochs,
        lr=lr,
        device=device,
        description="teacher",
    )


@torch.no_grad()
def teacher_pearson(teacher: nn.Module, data: TensorDataset, batch_size: int = 256) -> list[float]:
    """Pearson r between the teacher's predictions and the planted occupancies, per feature."""
    teacher.eval()
    device = next(teacher.parameters()).device
    inputs, labels = data.tensors
    scores = torch.cat(
        [
            teacher(inputs[i : i + batch_size].to(device)).cpu()
            for i in range(0, len(inputs), batch_size)
        ]
    )
    return [pearson_r(labels[:, f].numpy(), scores[:, f].numpy()) for f in range(labels.shape[1])]


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
    teacher on the fly (:func:`~course_lib.interpret.variant_mutagenesis.ism_log_odds`) and
    adds them to a pool of the ``pool_size`` most recent windows (the first step fills it with
    ``batch_windows``); one optimizer step is then taken on ``batch_windows`` windows drawn from
    the pool. ``fresh_windows = batch_windows = pool_size`` is the published
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
    """Wall time of all-variant effects by the teacher (4L forward passes per window) versus
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
