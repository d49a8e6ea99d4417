"""Benchmark: gradient x input and integrated gradients of course_lib versus captum.

Both libraries explain the same model -- chapter 3's one-hot CNN
(:class:`course_lib.models.cnn_classifier.OneHotCNN`, random weights: speed and agreement do
not depend on them) -- on the same random one-hot sequences ``[n, 4, L]``:

- gradient x input: :func:`course_lib.interpret.gradient_x_input` versus
  ``captum.attr.InputXGradient``;
- integrated gradients (a path attribution, zero baseline, ``--steps`` Gauss-Legendre points,
  ``--batch-size`` path points per pass in both):
  :func:`course_lib.interpret.integrated_gradients.integrated_gradients` versus
  ``captum.attr.IntegratedGradients``.

Attributions must agree to ``1e-5 + 1e-4 |value|`` (float32 sums in a different order) before
the times (best of ``--repeats``) and their ratios are printed.

Run: ``python benchmarks/bench_attribution.py [--n 128] [--length 200] [--steps 50]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from course_lib.interpret.attribution import gradient_x_input
from course_lib.interpret.integrated_gradients import integrated_gradients
from course_lib.models.cnn_classifier import OneHotCNN

ATOL, RTOL = 1e-5, 1e-4


def best_time(fn: Callable[[], np.ndarray], repeats: int) -> tuple[np.ndarray, float]:
    """Result of ``fn()`` and its best wall-clock seconds over ``repeats`` runs (after one
    untimed warm-up run)."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return result, best


def report(label: str, ours: Callable, peer: Callable, repeats: int) -> float:
    """Check that both attributions agree, then print both times and the ratio."""
    theirs, peer_s = best_time(peer, repeats)
    mine, ours_s = best_time(ours, repeats)
    np.testing.assert_allclose(mine, theirs, atol=ATOL, rtol=RTOL)
    diff = float(np.abs(mine - theirs).max())
    print(
        f"{label}: outputs agree (max |difference| {diff:.1e}, tolerance {ATOL} + {RTOL} |value|)\n"
        f"  captum     : {peer_s:8.4f} s (best of {repeats})\n"
        f"  course_lib : {ours_s:8.4f} s (best of {repeats})\n"
        f"  ratio captum / course_lib: {peer_s / ours_s:.2f}x"
    )
    return peer_s / ours_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="sequences")
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=2048, help="IG path points per pass")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        import captum
        from captum.attr import InputXGradient, IntegratedGradients
    except ImportError:
        print("captum is not installed (pip install -e '.[dev]'): nothing to compare")
        return

    torch.manual_seed(args.seed)
    model = OneHotCNN(args.channels).eval()
    codes = torch.from_numpy(np.random.default_rng(args.seed).integers(0, 4, (args.n, args.length)))
    x = nn.functional.one_hot(codes, 4).float().transpose(1, 2).contiguous()
    print(
        f"torch {torch.__version__}, captum {captum.__version__}, {torch.get_num_threads()} "
        f"threads; OneHotCNN({args.channels}) on {args.n} random sequences of {args.length} nt"
    )
    report(
        "gradient x input",
        lambda: gradient_x_input(model, x, device="cpu"),
        lambda: InputXGradient(model).attribute(x.clone().requires_grad_(True)).detach().numpy(),
        args.repeats,
    )
    ig = IntegratedGradients(model)
    report(
        f"integrated gradients ({args.steps} steps, zero baseline, {args.batch_size} per pass)",
        lambda: integrated_gradients(
            model, x, steps=args.steps, device="cpu", batch_size=args.batch_size
        ),
        lambda: (
            ig.attribute(
                x,
                baselines=torch.zeros_like(x),
                n_steps=args.steps,
                method="gausslegendre",
                internal_batch_size=args.batch_size,
            )
            .detach()
            .numpy()
        ),
        args.repeats,
    )


if __name__ == "__main__":
    main()
