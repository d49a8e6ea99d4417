"""Benchmark: one BelugaMultiplexer pass versus running the teacher on every variant.

Saturation mutagenesis with the teacher costs ``4L`` forward passes per window; the multiplexer
predicts every variant's effect in one pass. This script builds both models at the sizes of a
chapter profile (weights are random: speed does not depend on them), times
:func:`course_lib.models.multiplexer.measure_speedup` on random windows and prints the ratio.
The published figure is 67.7x for the full Beluga on a GPU (``--profile full``, which needs
a GPU to finish in reasonable time).

Run: ``python benchmarks/bench_multiplexer.py [--profile smoke laptop] [--windows 2]``
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from course_lib.chapters.ch4_beluga_multiplexer import SETTINGS, measure_speedup
from course_lib.models.beluga import Beluga
from course_lib.models.multiplexer import BelugaMultiplexer
from course_lib.profiles import PROFILE_NAMES, chapter_settings
from course_lib.training import select_device

PUBLISHED_SPEEDUP = 67.7


def models_for(profile: str) -> tuple[Beluga, BelugaMultiplexer, int]:
    """Teacher and multiplexer at the profile's sizes (``full``: the published sizes)."""
    s = chapter_settings(SETTINGS, profile)
    n_features = 2002 if profile == "full" else s.n_features
    teacher = Beluga(s.sequence_length, n_features, s.teacher_channels, s.teacher_hidden)
    student = BelugaMultiplexer(
        s.sequence_length, n_features, s.multiplexer_channels, s.multiplexer_dilations
    )
    return teacher, student, s.ism_batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", nargs="+", default=["smoke", "laptop"], choices=PROFILE_NAMES)
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = select_device(args.device)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads")
    rng = np.random.default_rng(0)
    for profile in args.profile:
        teacher, student, batch = models_for(profile)
        length = teacher.sequence_length
        codes = torch.from_numpy(rng.integers(0, 4, (args.windows, length)))
        windows = torch.nn.functional.one_hot(codes, 4).float().transpose(1, 2).contiguous()
        result = measure_speedup(
            teacher.to(device), student.to(device), windows.to(device), batch, args.repeats
        )
        print(
            f"{profile:>6}: L={length}, {teacher.n_features} features | teacher ISM "
            f"{result['teacher_s']:.3f} s/window | multiplexer {result['multiplexer_s']:.4f} "
            f"s/window | speed-up {result['speedup']:.1f}x (published, full Beluga on a GPU: "
            f"{PUBLISHED_SPEEDUP}x)"
        )


if __name__ == "__main__":
    main()
