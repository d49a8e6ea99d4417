"""Chapter 4's exercises and predict-then-run question (``notebooks/04_beluga_multiplexer.ipynb``).

- Exercise 4.1: does the multiplexer point at the position that matters? The share of test
  (window, feature) maps whose strongest position it finds within a few bases, beside the share
  a random pick would reach (:func:`peak_hits`).
- Exercise 4.2: a log-odds change back to a probability, against the teacher run directly.
- Exercise 4.3: the weighted Pearson r by hand, and whether it exceeds the uniform one.
- Prediction 4.4: before the timing, how many times faster the multiplexer is than ISM.

Every check computes its expected answer from the run's data (see :mod:`course_lib.exercises`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib.exercises import (
    Comparison,
    Exercise,
    Measured,
    Prediction,
    Verdict,
    check,
    check_prediction,
    compare_arrays,
    compare_choice,
    compare_number,
)
from course_lib.interpret.variant_mutagenesis import (
    make_variants,
    max_effect_track,
    teacher_passes,
    variant_index,
    weighted_pearson_r,
)

#: Exercise 4.1 counts a hit when the two strongest positions are at most this many bases apart.
PEAK_TOLERANCE = 5

#: The chapter's exercises, with their hint ladders.
EXERCISES: dict[int, Exercise | Prediction] = {
    1: Exercise(
        "4.1",
        "does the multiplexer point at the position that matters?",
        (
            "max_effect_track turns a map [n, F, 4, L] into tracks [n, F, L]; argmax over the "
            "last axis gives each map's strongest position, for the teacher and the multiplexer.",
            "hit_rate: the share of (window, feature) maps whose two strongest positions are at "
            "most 5 bases apart; chance: the mean, over the teacher's strongest positions, of the "
            "share of the L positions within 5 bases of it.",
            "Section 6's heatmaps draw the same per-position tracks (max_effect_track).",
        ),
    ),
    2: Exercise(
        "4.2",
        "from a log-odds change back to a probability",
        (
            "Solve the target formula for alt: first isolate (alt + e) / (1 - alt + e).",
            "With k = exp(d) (ref + e) / (1 - ref + e), alt + e = k (1 - alt + e); solve for alt.",
            "Section 4, 'Target'; compare with teacher(make_variants(...)) for the same variant.",
        ),
    ),
    3: Exercise(
        "4.3",
        "the weighted Pearson r by hand",
        (
            "numpy.cov(x, y, aweights=w) gives the weighted covariance matrix.",
            "r = cov[0, 1] / sqrt(cov[0, 0] * cov[1, 1]) with weights |true|; then 'weighted' "
            "or 'uniform' for the higher one.",
            "Section 6 and weighted_pearson_r in course_lib.interpret.variant_mutagenesis.",
        ),
    ),
    4: Prediction(
        "4.4",
        "how much faster than ISM?",
        "how many times faster the multiplexer gives a window's effects than the teacher's ISM",
    ),
}


def peak_hits(
    y_true: np.ndarray, y_pred: np.ndarray, tolerance: int = PEAK_TOLERANCE
) -> np.ndarray:
    """``[2]``: the share of maps ``[n, F, 4, L]`` whose strongest positions (teacher, model)
    are at most ``tolerance`` bases apart, and that share for a position drawn at random.
    """
    truth, guess = max_effect_track(np.asarray(y_true)), max_effect_track(np.asarray(y_pred))
    length = truth.shape[-1]
    top_true, top_pred = truth.argmax(-1).ravel(), guess.argmax(-1).ravel()
    hit_rate = float(np.mean(np.abs(top_true - top_pred) <= tolerance))
    near = np.minimum(top_true + tolerance, length - 1) - np.maximum(top_true - tolerance, 0) + 1
    return np.array([hit_rate, float(np.mean(near / length))])


def check_exercise_1(hit_rate: Any, chance: Any, y_true: np.ndarray, y_pred: np.ndarray) -> Verdict:
    """Exercise 4.1: ``hit_rate`` and ``chance`` of :func:`peak_hits` on the test maps."""
    expected = peak_hits(y_true, y_pred)
    answer = None if hit_rate is None or chance is None else [hit_rate, chance]
    return check(EXERCISES[1], answer, lambda a: compare_arrays(a, expected, 1e-6, 1e-9))


@torch.no_grad()
def check_exercise_2(
    recovered: Any, teacher: nn.Module, window: torch.Tensor, feature: int, base: int, position: int
) -> Verdict:
    """Check the probability recovered from the teacher's map against the teacher run directly
    on that variant of ``window`` ``[4, L]``."""
    teacher.eval()
    variant = int(variant_index(int(position), int(base)))
    alt = teacher(make_variants(window, variant, variant + 1))[0, int(feature)].item()
    as_float = None if recovered is None else float(torch.as_tensor(recovered).item())
    return check(EXERCISES[2], as_float, lambda got: compare_number(got, alt, rtol=1e-3, atol=1e-4))


def check_exercise_3(
    by_hand: float | None, higher: str | None, y_true: np.ndarray, y_pred: np.ndarray
) -> Verdict:
    """Check the hand-computed weighted r of feature 0 of the test maps ``[n, F, 4, L]`` and the
    choice of the higher of weighted and uniform r."""
    truth = np.asarray(y_true)[:, 0].ravel().astype(np.float64)
    guess = np.asarray(y_pred)[:, 0].ravel().astype(np.float64)
    weighted = weighted_pearson_r(truth, guess)
    uniform = weighted_pearson_r(truth, guess, np.ones_like(truth))

    def compare(answer: tuple[Any, Any]) -> Comparison:
        number = compare_number(answer[0], weighted, rtol=1e-6, atol=1e-9)
        if not number.ok:
            return Comparison(False, f"the weighted r: {number.detail}")
        return compare_choice(answer[1], "weighted" if weighted >= uniform else "uniform")

    answer = None if by_hand is None or higher is None else (by_hand, higher)
    return check(EXERCISES[3], answer, compare)


def check_exercise_4(
    prediction: Any, speed: Mapping[str, float], length: int, device: str
) -> Verdict:
    """Prediction 4.4: ``prediction`` beside the measured speed-up of ``speed`` (the dict of
    ``measure_speedup``), read against the teacher passes ISM needs for windows of ``length``."""
    passes = teacher_passes(length, 1)
    speedup = float(speed["speedup"])
    meaning = (
        f"ISM runs {passes:,} teacher passes per {length}-bp window; at {speedup:.1f}x one "
        f"multiplexer pass costs as much as {passes / speedup:.1f} teacher passes on this "
        f"{device}. The ratio depends on both networks' sizes and the hardware: the published "
        "67.7x (full Beluga, a GPU) is not this run's setting."
    )
    return check_prediction(EXERCISES[4], prediction, Measured(speedup, meaning=meaning))
