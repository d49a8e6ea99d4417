"""Benchmark: saturation mutagenesis in :mod:`course_lib.ism` versus tangermeme and the loop.

Two comparisons, each checked for equal outputs before its times are printed:

1. **ISM of a model over windows** -- :func:`course_lib.ism.ism_log_odds` versus
   ``tangermeme.saturation_mutagenesis`` on the same model (a Beluga-design teacher of
   chapter 4 at the ``--profile`` sizes, random weights), the same windows and the same batch
   size. Both make ``3L + 1`` forward passes per window (the reference once, the three
   substitutions at each position), counted here with a hook on the model. tangermeme's raw
   predictions are turned into the same log-odds map ``[n, F, 4, L]``; the maps must agree to
   ``1e-4 + 1e-4 |value|`` (float32 convolutions of differently composed batches round
   differently). tangermeme runs with ``fast=False``, which is the plain ``3L + 1`` passes;
   ``--fast`` also times its default fastISM path (recomputing only what an edit changes; it
   is tried only for a job that would take over 30 s, and is not ``3L + 1`` full passes).
2. **Variant construction** -- :func:`course_lib.ism.iter_variant_batches` versus the published
   loop that builds the whole ``[4L, 4, L]`` float64 array (identical variants required).

Run: ``python benchmarks/bench_ism.py [--profile laptop] [--windows 4] [--repeats 3] [--fast]``
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from course_lib.chapters.ch4_config import Ch4Config
from course_lib.encoding import one_hot
from course_lib.interpret.variant_mutagenesis import (
    ism_log_odds,
    iter_variant_batches,
    log_odds,
    loop_variants,
)
from course_lib.models.beluga import Beluga
from course_lib.profiles import PROFILE_NAMES

ATOL = RTOL = 1e-4


def tangermeme_ism(
    model: nn.Module, windows: torch.Tensor, batch_size: int, fast: bool = False
) -> torch.Tensor:
    """tangermeme's saturation mutagenesis as the log-odds map ``[n, F, 4, L]``."""
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fastISM explains on stderr why it is not used
        y0, y_hat = saturation_mutagenesis(
            model, windows, batch_size=batch_size, raw_outputs=True, device="cpu", fast=fast
        )
    # y_hat [n, 4, L, F] (identity slots hold y0) -> [n, F, 4, L]
    return log_odds(y_hat.permute(0, 3, 1, 2), y0[:, :, None, None])


class PassCounter:
    """Counts the sequences a model is run on (a forward pre-hook)."""

    def __init__(self, model: nn.Module):
        self.count = 0
        model.register_forward_pre_hook(self._hook)

    def _hook(self, _module: nn.Module, inputs: tuple) -> None:
        self.count += inputs[0].shape[0]


def timed(fn: Callable[[], torch.Tensor], counter: PassCounter) -> tuple[torch.Tensor, float, int]:
    """Result, wall seconds and forward passes (sequences run) of ``fn()``."""
    counter.count = 0
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0, counter.count


def best_alternating(
    fns: dict[str, Callable[[], torch.Tensor]], counter: PassCounter, repeats: int
) -> dict[str, tuple[torch.Tensor, float, int]]:
    """Run each of ``fns`` ``repeats`` times in turn (so that the load of a shared machine
    falls on all alike) and keep each one's best time."""
    best: dict[str, tuple[torch.Tensor, float, int]] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            run = timed(fn, counter)
            if name not in best or run[1] < best[name][1]:
                best[name] = run
    return best


def compare_with_tangermeme(
    profile: str, n_windows: int, fast: bool, repeats: int, seed: int
) -> None:
    """Part 1: course_lib's ISM versus tangermeme's on one teacher, windows and batch size."""
    import tangermeme

    s = Ch4Config.resolve(profile)
    torch.manual_seed(seed)
    model = Beluga(s.sequence_length, s.n_features, s.teacher_channels, s.teacher_hidden).eval()
    counter = PassCounter(model)
    length, batch = s.sequence_length, s.ism_batch_size
    codes = torch.from_numpy(np.random.default_rng(seed).integers(0, 4, (n_windows, length)))
    windows = nn.functional.one_hot(codes, 4).float().transpose(1, 2).contiguous()
    print(
        f"ISM of a Beluga-design teacher ({profile}: L={length}, {s.n_features} features, "
        f"channels {s.teacher_channels}, random weights), {n_windows} windows, batch {batch}"
    )
    ism_log_odds(model, windows[:1], batch)  # warm-ups (imports, first calls), not timed
    tangermeme_ism(model, windows[:1], batch)
    runs = best_alternating(
        {
            "course_lib": lambda: ism_log_odds(model, windows, batch),
            "tangermeme": lambda: tangermeme_ism(model, windows, batch),
        },
        counter,
        repeats,
    )
    (ours, ours_s, ours_passes), (peer, peer_s, peer_passes) = runs.values()
    expected = n_windows * (3 * length + 1)
    if not ours_passes == peer_passes == expected:
        raise AssertionError(f"passes: course_lib {ours_passes}, tangermeme {peer_passes}")
    torch.testing.assert_close(ours, peer, atol=ATOL, rtol=RTOL)
    diff, largest = (ours - peer).abs().max().item(), ours.abs().max().item()
    print(
        f"  outputs agree: max |difference| {diff:.1e} (tolerance {ATOL} + {RTOL} |value|), "
        f"largest |effect| {largest:.1e}"
    )
    print(f"  both: {expected:,} forward passes = {n_windows} x (3L + 1)")
    print(f"  tangermeme {tangermeme.__version__} (fast=False): {peer_s:8.2f} s")
    print(f"  course_lib ism_log_odds       : {ours_s:8.2f} s")
    print(f"  (best of {repeats} runs each, taken in turn)")
    print(f"  ratio tangermeme / course_lib : {peer_s / ours_s:8.2f}x")
    if fast:
        fast_map, fast_s, fast_passes = timed(
            lambda: tangermeme_ism(model, windows, batch, fast=True), counter
        )
        diff = (fast_map - ours).abs().max().item()
        print(
            f"  tangermeme fast=True (its default; fastISM is tried only for a job over 30 s): "
            f"{fast_s:.2f} s (one run), {fast_passes:,} full passes counted, max |difference| "
            f"{diff:.1e}; ratio tangermeme / course_lib {fast_s / ours_s:.2f}x"
        )


def compare_with_loop(length: int, n_windows: int, batch_size: int, seed: int) -> None:
    """Part 2: batched variant construction versus the published loop."""
    rng = np.random.default_rng(seed)
    windows = ["".join(rng.choice(list("ACGT"), length)) for _ in range(n_windows)]
    short = windows[0][:300]
    reference = torch.from_numpy(one_hot(short, alphabet="AGCT", channels_first=True))
    built = torch.cat([b for _, _, b in iter_variant_batches(reference, 97)]).numpy()
    if not np.array_equal(built, loop_variants(short)):
        raise AssertionError("batched and loop-built variants differ")

    def batched(seq: str) -> int:
        ref = torch.from_numpy(one_hot(seq, alphabet="AGCT", channels_first=True))
        return sum(len(b) for _, _, b in iter_variant_batches(ref, batch_size))

    t0 = time.perf_counter()
    for seq in windows:
        loop_variants(seq)
    loop_s = (time.perf_counter() - t0) / n_windows
    t0 = time.perf_counter()
    for seq in windows:
        n = batched(seq)
    batched_s = (time.perf_counter() - t0) / n_windows
    print(f"variant construction, {length} bp -> {n} variants, mean of {n_windows} windows")
    print("  variants identical to the published loop's")
    print(f"  published loop (whole [4L, 4, L] float64): {loop_s:8.3f} s per window")
    print(f"  batched (batch {batch_size}, float32)       : {batched_s:8.3f} s per window")
    print(f"  ratio loop / batched: {loop_s / batched_s:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="laptop", choices=PROFILE_NAMES)
    parser.add_argument("--windows", type=int, default=4, help="windows for the ISM comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fast", action="store_true", help="also time tangermeme's fastISM")
    parser.add_argument("--length", type=int, default=2000, help="window of part 2")
    parser.add_argument("--loop-windows", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000, help="batch of part 2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    try:
        compare_with_tangermeme(args.profile, args.windows, args.fast, args.repeats, args.seed)
    except ImportError:
        print("tangermeme is not installed (pip install -e '.[dev]'): peer comparison skipped")
    compare_with_loop(args.length, args.loop_windows, args.batch_size, args.seed)


if __name__ == "__main__":
    main()
