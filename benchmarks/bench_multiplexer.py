"""Benchmark: one BelugaMultiplexer pass versus teacher saturation mutagenesis (3L + 1 passes).

Saturation mutagenesis with the teacher costs ``3L + 1`` forward passes per window (the
reference once, the three substitutions at each position; :func:`course_lib.ism.ism_log_odds`);
the multiplexer predicts every variant's effect in one pass. Weights are random: speed does
not depend on them. Two parts:

1. **Chapter sizes** (``--profile``): teacher and multiplexer at a chapter 4 profile's sizes,
   timed in full by :func:`course_lib.chapters.ch4_beluga_multiplexer.measure_speedup`.
2. **Beluga size** (``--beluga``, on by default): the real Beluga architecture
   (:class:`course_lib.models.beluga.Beluga` defaults: 2,000 bp, 2,002 features, 149.5 M
   parameters) and a multiplexer of the chapter's design at the published sizes (channels
   640/1,280, dilations 4/16/64, 2,002 features) for one window. On a CPU the 6,001 teacher
   passes take many minutes, so unless ``--full-ism`` is given, the script times
   ``--ism-batches`` batches of ``--ism-batch-size`` variants (the loop body of
   ``ism_log_odds``: build the variants, run the teacher, take log-odds) and the reference
   pass, and extrapolates to ``3L`` variant passes; the output says so. With a GPU
   (``--device cuda``) the same measurement gives the GPU ratio.

The published figure is 67.7x for the full Beluga on a GPU.

Run: ``python benchmarks/bench_multiplexer.py [--profile smoke laptop] [--no-beluga]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from course_lib.chapters.ch4_beluga_multiplexer import measure_speedup
from course_lib.chapters.ch4_config import Ch4Config
from course_lib.interpret.variant_mutagenesis import ism_log_odds, iter_variant_batches, log_odds
from course_lib.models.beluga import Beluga
from course_lib.models.multiplexer import BelugaMultiplexer, predict_maps
from course_lib.profiles import PROFILE_NAMES
from course_lib.training import select_device

PUBLISHED_SPEEDUP = 67.7


def random_windows(n: int, length: int, rng: np.random.Generator) -> torch.Tensor:
    """``n`` random one-hot windows ``[n, 4, length]``."""
    codes = torch.from_numpy(rng.integers(0, 4, (n, length)))
    return torch.nn.functional.one_hot(codes, 4).float().transpose(1, 2).contiguous()


def synchronized(device: torch.device, fn: Callable[[], object]) -> float:
    """Wall seconds of ``fn()``, waiting for a GPU to finish."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def chapter_sizes(profile: str, n_windows: int, repeats: int, device: torch.device) -> None:
    """Part 1: both models at a chapter profile's sizes, teacher ISM timed in full."""
    s = Ch4Config.resolve(profile)
    teacher = Beluga(s.sequence_length, s.n_features, s.teacher_channels, s.teacher_hidden)
    student = BelugaMultiplexer(
        s.sequence_length, s.n_features, s.multiplexer_channels, s.multiplexer_dilations
    )
    windows = random_windows(n_windows, s.sequence_length, np.random.default_rng(0)).to(device)
    result = measure_speedup(
        teacher.to(device), student.to(device), windows, s.ism_batch_size, repeats
    )
    print(
        f"{profile:>6}: L={s.sequence_length}, {s.n_features} features | teacher ISM "
        f"(3L + 1 passes) {result['teacher_s']:.3f} s/window | multiplexer "
        f"{result['multiplexer_s']:.4f} s/window | ratio {result['speedup']:.1f}x"
    )


@torch.no_grad()
def multiply_accumulates(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of the convolutions and linear layers in one ``model(x)``."""
    total = 0

    def count(module: torch.nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, torch.nn.Linear):
            total += out.numel() * module.in_features
        else:
            per_output = module.in_channels // module.groups * int(np.prod(module.kernel_size))
            total += out.numel() * per_output

    layers = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)
    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, layers)]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return total


@torch.no_grad()
def teacher_ism_seconds(
    teacher: Beluga, window: torch.Tensor, batch_size: int, n_batches: int | None
) -> tuple[float, str]:
    """Seconds of the teacher's ISM of one window ``[1, 4, L]``, measured or extrapolated."""
    device = window.device
    length = window.shape[-1]
    if n_batches is None:
        seconds = synchronized(device, lambda: ism_log_odds(teacher, window, batch_size))
        return seconds, f"measured in full ({3 * length + 1:,} passes)"
    reference_pred = teacher(window)
    batches = iter_variant_batches(window, batch_size)
    next(batches)  # one untimed batch: first-call allocations
    reference_s = synchronized(device, lambda: teacher(window))
    timed_s, passes = 0.0, 0
    for _ in range(n_batches):
        _, _, batch = next(batches)
        timed_s += synchronized(device, lambda b=batch: log_odds(teacher(b), reference_pred))
        passes += len(batch)
    per_pass = timed_s / passes
    seconds = reference_s + 3 * length * per_pass
    note = (
        f"EXTRAPOLATED: timed {n_batches} batches x {batch_size} variants ({per_pass * 1e3:.1f} "
        f"ms per pass) + the reference pass, scaled to 3L = {3 * length:,} variant passes"
    )
    return seconds, note


def beluga_size(args: argparse.Namespace, device: torch.device) -> None:
    """Part 2: the real Beluga architecture and a published-size multiplexer, one window."""
    torch.manual_seed(0)
    teacher = Beluga().to(device).eval()
    student = BelugaMultiplexer().to(device).eval()
    window = random_windows(1, teacher.sequence_length, np.random.default_rng(1)).to(device)
    n_params = sum(p.numel() for p in teacher.parameters()) / 1e6
    print(
        f"Beluga size on {device}: teacher Beluga ({n_params:.1f} M parameters, 2,000 bp, "
        f"{teacher.n_features:,} features), multiplexer channels (640, 1280), one window"
    )
    with torch.no_grad():
        predict_maps(student, window, 1)  # warm-up, not timed
        multiplexer_s = min(
            synchronized(device, lambda: predict_maps(student, window, 1))
            for _ in range(args.repeats)
        )
    n_batches = None if args.full_ism else args.ism_batches
    teacher_s, note = teacher_ism_seconds(teacher, window, args.ism_batch_size, n_batches)
    ratio = teacher_s / multiplexer_s
    teacher_macs = multiply_accumulates(teacher, window) * (3 * teacher.sequence_length + 1)
    student_macs = multiply_accumulates(student, window)
    print(
        f"  work: teacher ISM {teacher_macs / 1e12:.1f} T multiply-accumulates, multiplexer "
        f"{student_macs / 1e12:.2f} T: ratio {teacher_macs / student_macs:.1f}x"
    )
    print(f"  teacher ISM, 3L + 1 = 6,001 passes: {teacher_s:8.1f} s ({note})")
    print(f"  multiplexer, one pass            : {multiplexer_s:8.2f} s (best of {args.repeats})")
    print(
        f"  ratio {ratio:.1f}x on {device} (target: at least the published {PUBLISHED_SPEEDUP}x, "
        "measured on a GPU)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", nargs="*", default=["smoke", "laptop"], choices=PROFILE_NAMES)
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--beluga", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--full-ism", action="store_true", help="time all 6,001 teacher passes")
    parser.add_argument("--ism-batches", type=int, default=3)
    parser.add_argument("--ism-batch-size", type=int, default=64)
    args = parser.parse_args()

    device = select_device(args.device)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads")
    for profile in args.profile:
        chapter_sizes(profile, args.windows, args.repeats, device)
    if args.beluga:
        beluga_size(args, device)


if __name__ == "__main__":
    main()
