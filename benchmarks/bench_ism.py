"""Benchmark: batched variant construction of :mod:`course_lib.ism` versus the published loop.

The published Multiplexer notebook builds the ``4L`` single-nucleotide variants of a window by
one-hot encoding it with a dictionary lookup per base, tiling it ``4L`` times (the whole
``[4L, 4, L]`` array at once: 512 MB in float64 for 2,000 bp) and writing four one-hot columns
per position in a Python loop. :func:`course_lib.ism.iter_variant_batches` builds the same
variants with tensor indexing, ``batch_size`` at a time. This script checks that both give the
same variants, times them on random windows and prints the ratio.

Run: ``python benchmarks/bench_ism.py [--length 2000] [--windows 3] [--batch-size 1000]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from course_lib.encoding import one_hot
from course_lib.interpret.variant_mutagenesis import iter_variant_batches, loop_variants


def batched_variants(sequence: str, batch_size: int) -> int:
    """Encode ``sequence`` and build all its variants in batches; returns how many were built."""
    reference = torch.from_numpy(one_hot(sequence, alphabet="AGCT", channels_first=True))
    return sum(len(batch) for _, _, batch in iter_variant_batches(reference, batch_size))


def check_equal(sequence: str, batch_size: int) -> None:
    """The batched variants, concatenated, equal the loop's ``[4L, 4, L]`` array."""
    reference = torch.from_numpy(one_hot(sequence, alphabet="AGCT", channels_first=True))
    built = torch.cat([b for _, _, b in iter_variant_batches(reference, batch_size)]).numpy()
    if not np.array_equal(built, loop_variants(sequence)):
        raise AssertionError("batched and loop-built variants differ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    windows = ["".join(rng.choice(list("ACGT"), args.length)) for _ in range(args.windows)]
    check_equal(windows[0][:300], 97)

    t0 = time.perf_counter()
    for seq in windows:
        loop_variants(seq)
    loop_s = (time.perf_counter() - t0) / args.windows

    t0 = time.perf_counter()
    for seq in windows:
        n = batched_variants(seq, args.batch_size)
    batched_s = (time.perf_counter() - t0) / args.windows

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"window {args.length} bp -> {n} variants, mean over {args.windows} windows")
    print(f"published loop (whole [4L, 4, L] float64): {loop_s:8.3f} s per window")
    print(f"batched (batch {args.batch_size}, float32):  {batched_s:8.3f} s per window")
    print(f"ratio loop / batched: {loop_s / batched_s:.1f}x")


if __name__ == "__main__":
    main()
