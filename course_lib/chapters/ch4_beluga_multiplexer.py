"""Chapter 4, ``notebooks/04_beluga_multiplexer.ipynb``: every variant's effect in one pass.

The chapter's recipe (its parameters per profile in :mod:`course_lib.chapters.ch4_config`,
its anchors and results file in :mod:`course_lib.chapters.ch4_report`): the teacher on the
synthetic chromatin task of
:mod:`course_lib.chapters.ch4_chromatin` (:func:`seed_first_layer`, :func:`pretrain_teacher`,
:func:`teacher_pearson`), the teacher itself, published Beluga weights through the weights
registry or that stand-in (:func:`find_beluga`, :func:`chapter_teacher`), distilling the
teacher's saturation mutagenesis into a
:class:`~course_lib.models.multiplexer.BelugaMultiplexer` (:func:`train_multiplexer`, with the
chapter's settings :func:`distil`) and the
wall-time comparison of the two (:func:`measure_speedup`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.chapters.ch4_chromatin import ChromatinTask, window_sampler
from course_lib.chapters.ch4_config import Ch4Config
from course_lib.chapters.ch4_map_scores import REPORTED_METRICS
from course_lib.encoding import one_hot, reverse_complement
from course_lib.fasta import Genome
from course_lib.interpret.taylor import taylor_effects
from course_lib.interpret.variant_mutagenesis import ism_log_odds, ism_metrics, teacher_passes
from course_lib.metrics import pearson_r
from course_lib.models.beluga import Beluga
from course_lib.models.multiplexer import BelugaMultiplexer, predict_maps
from course_lib.profiles import estimate_seconds
from course_lib.training import (
    BestState,
    FitResult,
    epoch_bar,
    fit,
    select_device,
    show_values,
)
from course_lib.updates import optimizer_step
from course_lib.weights import WeightsProvenance

NOTEBOOK = "04_beluga_multiplexer.ipynb"


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
    show_progress: bool = True,
) -> FitResult:
    """Train the teacher on the chromatin task (binary cross-entropy, Adam), with a progress bar
    unless ``show_progress`` is false.

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
        show_progress=show_progress,
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
) -> FitResult:
    """Distil ``teacher``'s saturation mutagenesis into ``multiplexer`` (Adam, MSE).

    Every step adds ``fresh_windows`` new windows (``sample_windows(n, rng) -> [n, 4, L]``)
    and their teacher ISM maps to a :class:`DistillationPool` of ``pool_size`` (the first step
    adds ``batch_windows``), then takes one optimizer step on ``batch_windows`` windows drawn
    from it. ``fresh_windows = batch_windows = pool_size`` is the published scheme (16 new
    windows per step); a larger pool reuses each costly teacher map, which makes a CPU run
    affordable. Every ``eval_every`` steps (and at the end) :func:`validate_maps` scores
    ``val_inputs`` ``[m, 4, L]`` against ``val_targets`` ``[m, F, 4, L]``; the multiplexer keeps
    the state with the best validation symmetric weighted Pearson r
    (:data:`~course_lib.interpret.variant_mutagenesis.SELECTION_METRIC`; the published
    ``|true|``-weighted r is blind to invented effects), in eval mode. ``best_epoch`` of the
    result is that step; its history has one row per evaluation: ``step, train_loss`` (mean
    since the last one) ``, val_loss, val_pearson_r, val_weighted_r, val_symmetric_r,
    windows_seen, seconds``.
    """
    check_pool(steps, fresh_windows, batch_windows, pool_size)
    device = select_device(device)
    multiplexer.to(device)
    teacher.to(device).eval()
    val_inputs, val_targets = val_inputs.to(device), val_targets.to(device)
    optimizer = torch.optim.Adam(multiplexer.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    pool = DistillationPool(teacher, sample_windows, pool_size, ism_batch_size, device)
    best, rows, running, start = BestState(higher_is_better=True), [], [], time.perf_counter()
    bar = epoch_bar(steps, "multiplexer", show_progress, unit="step")
    for step in bar:
        pool.add(max(fresh_windows, batch_windows) if step == 1 else fresh_windows, rng)
        batch_x, batch_y = pool.draw(batch_windows, rng)
        multiplexer.train()
        loss = nn.functional.mse_loss(multiplexer(batch_x), batch_y)
        running.append(optimizer_step(multiplexer, optimizer, loss, where=f"at step {step}"))
        if step % eval_every == 0 or step == steps:
            row = validate_maps(multiplexer, val_inputs, val_targets)
            rows.append({"step": step, "train_loss": float(np.mean(running)), **row})
            rows[-1].update(windows_seen=pool.seen, seconds=time.perf_counter() - start)
            running = []
            best.update(multiplexer, row["val_symmetric_r"], step)
            show_values(bar, train=f"{rows[-1]['train_loss']:.4f}", val_r=f"{best.value:.3f}")
    best.restore(multiplexer)  # no best state only if every validation score was nan
    seconds = time.perf_counter() - start
    return FitResult(pd.DataFrame(rows), best.epoch, best.value, "val_symmetric_r", False, seconds)


def distil(
    multiplexer: BelugaMultiplexer,
    teacher: Beluga,
    genome: Genome,
    train_regions: dict[str, tuple[int, int]],
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    settings: Ch4Config,
    seed: int,
    device: torch.device,
    show_progress: bool = True,
) -> FitResult:
    """:func:`train_multiplexer` with the chapter's ``settings``, on windows of ``genome``'s
    ``train_regions`` of the teacher's length; ``val_x`` ``[m, 4, L]`` and its teacher maps
    ``val_y`` ``[m, F, 4, L]`` select the best state. The notebook's distillation and every
    run of :mod:`course_lib.chapters.ch4_replicates` call it."""
    return train_multiplexer(
        multiplexer,
        teacher,
        window_sampler(genome, train_regions, teacher.sequence_length),
        val_x,
        val_y,
        steps=settings.steps,
        fresh_windows=settings.fresh_windows,
        batch_windows=settings.batch_windows,
        pool_size=settings.pool_size,
        lr=settings.lr,
        eval_every=settings.eval_every,
        ism_batch_size=settings.ism_batch_size,
        seed=seed,
        device=device,
        show_progress=show_progress,
    )


def check_pool(steps: int, fresh_windows: int, batch_windows: int, pool_size: int) -> None:
    """Raise unless the counts are positive and the pool holds a batch and a step's windows."""
    if min(steps, fresh_windows, batch_windows) < 1 or pool_size < max(
        fresh_windows, batch_windows
    ):
        raise ValueError(
            "steps, fresh_windows and batch_windows must be positive and pool_size at least "
            f"max(fresh_windows, batch_windows); got {steps}, {fresh_windows}, {batch_windows}, "
            f"{pool_size}"
        )


class DistillationPool:
    """The most recent ``size`` training windows with their teacher ISM maps.

    :meth:`add` samples new windows and computes their maps
    (:func:`~course_lib.interpret.variant_mutagenesis.ism_log_odds`); :meth:`draw` picks a
    batch without replacement; :attr:`seen` counts the teacher maps computed so far.
    """

    def __init__(
        self,
        teacher: nn.Module,
        sample_windows: Callable[[int, np.random.Generator], torch.Tensor],
        size: int,
        ism_batch_size: int,
        device: torch.device,
    ) -> None:
        self.teacher, self.sample_windows, self.size = teacher, sample_windows, size
        self.ism_batch_size, self.device = ism_batch_size, device
        self.inputs: list[torch.Tensor] = []
        self.maps: list[torch.Tensor] = []
        self.seen = 0

    def add(self, n: int, rng: np.random.Generator) -> None:
        """Sample ``n`` windows, add them and their maps, drop the oldest beyond the size."""
        inputs = self.sample_windows(n, rng).to(self.device)
        self.inputs.extend(inputs)
        self.maps.extend(ism_log_odds(self.teacher, inputs, self.ism_batch_size))
        del self.inputs[: -self.size], self.maps[: -self.size]
        self.seen += n

    def draw(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` windows ``[n, 4, L]`` and their maps ``[n, F, 4, L]`` drawn from the pool."""
        pick = rng.choice(len(self.inputs), size=n, replace=False)
        return (
            torch.stack([self.inputs[i] for i in pick]),
            torch.stack([self.maps[i] for i in pick]),
        )


def validate_maps(
    multiplexer: nn.Module, inputs: torch.Tensor, targets: torch.Tensor
) -> dict[str, float]:
    """Validation ``val_loss`` (MSE) and the :data:`REPORTED_METRICS` of the multiplexer's maps."""
    predicted = predict_maps(multiplexer, inputs)
    score = ism_metrics(targets.cpu().numpy(), predicted.cpu().numpy())
    return {
        "val_loss": nn.functional.mse_loss(predicted, targets).item(),
        **{column: score[name] for name, column in REPORTED_METRICS.items()},
    }


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_time(
    fn: Callable[[], object], device: torch.device, repeats: int, warm_up: bool
) -> float:
    """Best of ``repeats`` wall times of ``fn()`` in seconds, after one untimed call if
    ``warm_up``, with the device synchronised around each call."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        _synchronize(device)
        t0 = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - t0)
    return min(times)


@torch.no_grad()
def measure_speedup(
    teacher: nn.Module,
    multiplexer: nn.Module,
    windows: torch.Tensor,
    ism_batch_size: int = 512,
    repeats: int = 1,
    taylor: bool = False,
) -> dict[str, float]:
    """Wall time of all-variant effects by the teacher (3L + 1 forward passes per window) versus
    one multiplexer pass, on the same windows ``[n, 4, L]`` and device; with ``taylor``, also
    the first-order Taylor estimate (:func:`~course_lib.interpret.taylor.taylor_effects`: one
    teacher forward pass and one backward pass per feature).

    Returns
    -------
    dict
        ``teacher_s``, ``multiplexer_s`` (per window, best of ``repeats``) and ``speedup``
        (teacher over multiplexer); with ``taylor``, ``taylor_s`` and ``taylor_speedup``
        (teacher over Taylor).
    """
    device, n = windows.device, len(windows)
    teacher.eval()
    multiplexer.eval()
    # the teacher's thousands of batches warm themselves up; one multiplexer pass does not
    teacher_s = _best_time(
        lambda: ism_log_odds(teacher, windows, ism_batch_size), device, repeats, False
    )
    multiplexer_s = _best_time(lambda: predict_maps(multiplexer, windows, n), device, repeats, True)
    out = {"teacher_s": teacher_s / n, "multiplexer_s": multiplexer_s / n}
    out["speedup"] = teacher_s / multiplexer_s
    if taylor:
        taylor_s = _best_time(lambda: taylor_effects(teacher, windows, n), device, repeats, True)
        out.update(taylor_s=taylor_s / n, taylor_speedup=teacher_s / taylor_s)
    return out


def find_beluga(
    checkpoint: str | Path | None, profile: str, tiny: bool
) -> tuple[Path | None, WeightsProvenance]:
    """The Beluga weights to distil, through the weights registry.

    ``checkpoint`` if given (:func:`course_lib.weights.locate_weights`: a path that holds no
    file raises); else, at ``full`` and not tiny only, the registered ``deepsea.beluga.pth`` in
    :func:`~course_lib.paths.checkpoints_dir` when it is there. Returns ``(path, "real")`` or
    ``(None, "stand-in")`` (the chapter then trains its stand-in teacher).

    Raises
    ------
    FileNotFoundError
        ``checkpoint`` was given and does not exist; the message says how to get the weights.
    """
    import course_lib.datasets.pretrained_weights  # noqa: F401  (registers the entries)
    from course_lib.weights import locate_weights

    if checkpoint is None and (profile != "full" or tiny):
        return None, "stand-in"
    return locate_weights("beluga", checkpoint)


@dataclass
class Teacher:
    """The model chapter 4 distils, with its provenance.

    Attributes
    ----------
    model
        The teacher, on the device, in evaluation mode.
    provenance
        ``"real"`` (the published Beluga weights) or ``"stand-in"`` (a scaled-down Beluga
        trained on the synthetic chromatin task).
    source
        One line saying which, for captions and the results file.
    task, fit, validation
        The stand-in's chromatin task, its training run and its validation windows (``None``
        with the published weights).
    """

    model: Beluga
    provenance: WeightsProvenance
    source: str
    task: ChromatinTask | None = None
    fit: FitResult | None = None
    validation: TensorDataset | None = None


def chapter_teacher(
    checkpoint: str | Path | None,
    settings: Any,
    genome: Genome,
    regions: dict[str, Any],
    rng: np.random.Generator,
    device: torch.device,
    seed: int = 0,
    show_progress: bool = True,
) -> Teacher:
    """The published Beluga when :func:`find_beluga` finds it, else the stand-in teacher.

    The stand-in: a random chromatin task (:func:`~course_lib.chapters.ch4_chromatin.make_task`),
    ``settings.n_teacher_train`` and ``settings.n_teacher_val`` windows of the training and
    validation ``regions`` of ``genome`` labelled by it, a scaled-down Beluga of the settings'
    size with its first layer seeded with the motifs (:func:`seed_first_layer`), and
    :func:`pretrain_teacher` after :func:`course_lib.profiles.check_long_run` (random draws from
    ``rng`` in that order, as the notebook made them; its progress bar unless
    ``show_progress`` is false).
    """
    from course_lib.chapters.ch4_chromatin import chromatin_dataset, make_task, sample_sequences
    from course_lib.models.beluga import load_beluga, small_beluga
    from course_lib.profiles import check_long_run

    path, provenance = find_beluga(checkpoint, settings.profile, settings.tiny)
    if settings.tiny and settings.profile == "full":
        print("tiny run: the stand-in teacher (a scaled-down Beluga) replaces deepsea.beluga.pth")
    if path is not None:
        model = load_beluga(path, settings.sequence_length, device)
        return Teacher(model.to(device).eval(), provenance, f"published Beluga weights ({path})")
    task, length = make_task(settings.n_features, rng), settings.sequence_length
    train_set, val_set = (
        chromatin_dataset(sample_sequences(genome, regions[part], n, length, rng), task, rng)
        for part, n in (("train", settings.n_teacher_train), ("validation", settings.n_teacher_val))
    )
    size = (settings.teacher_channels, settings.teacher_hidden, settings.teacher_dropout)
    model = small_beluga(length, settings.n_features, *size)
    seed_first_layer(model, task.motifs)
    check_long_run(
        settings,
        device,
        long_step_seconds(seconds_per_pass(model, length, device), settings)["teacher training"],
        f"training the teacher {settings.teacher_epochs} epochs on "
        f"{settings.n_teacher_train:,} windows",
    )
    fit_ = pretrain_teacher(
        model,
        train_set,
        val_set,
        epochs=settings.teacher_epochs,
        batch_size=settings.teacher_batch_size,
        lr=settings.teacher_lr,
        device=device,
        seed=seed,
        show_progress=show_progress,
    )
    source = "scaled-down Beluga trained on a synthetic chromatin task"
    return Teacher(model.to(device).eval(), provenance, source, task, fit_, val_set)


@torch.no_grad()
def seconds_per_pass(model: nn.Module, length: int, device: torch.device, n: int = 8) -> float:
    """Seconds of one forward pass of ``model`` on one ``[4, length]`` window (timed on ``n``)."""
    model.to(device).eval()
    windows = torch.zeros(n, 4, length, device=device)
    windows[:, 0] = 1.0

    def step() -> None:
        model(windows)
        _synchronize(device)

    return estimate_seconds(step, 1) / n


def long_step_seconds(per_pass: float, settings: Any) -> dict[str, float]:
    """Honest estimates of the chapter's long steps from the teacher's seconds per pass.

    Teacher training counts a backward pass as two forward passes; ISM counts 3L + 1 passes
    per window; distillation counts only the teacher's ISM of its fresh windows (a lower bound).
    """
    length = settings.sequence_length
    ism_windows = settings.n_val_windows + settings.n_test_windows
    fresh = settings.fresh_windows * (settings.steps - 1) + max(
        settings.fresh_windows, settings.batch_windows
    )
    return {
        "teacher training": 3 * per_pass * settings.n_teacher_train * settings.teacher_epochs,
        "teacher ISM": per_pass * teacher_passes(length, ism_windows),
        "distillation": per_pass * teacher_passes(length, fresh),
    }
