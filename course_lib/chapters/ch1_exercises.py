"""Chapter 1's exercises and predict-then-run question (``notebooks/01_utr_rnafm.ipynb``).

- Exercise 1.1: upstream AUGs, measured. Among the ClinVar 5' UTR variants of Sample et al.
  (both alleles measured), those that create or remove an out-of-frame upstream AUG; their
  measured MRL change beside the change the chapter's left-padded one-hot head predicts
  (:func:`uaug_effects`).
- Exercise 1.2: the noise ceiling of the training labels and of Random7600
  (:func:`noise_ceilings`).
- Prediction 1.3: before the results, how much R2 on Human7600 the chosen backbone's embedding
  head adds over the one-hot head; compared with the paired bootstrap of the run.

Every check computes its expected answer from the run's data (see :mod:`course_lib.exercises`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from course_lib.chapters.ch1_embedding_cache import UTRBatches
from course_lib.datasets.utr import uaug_table, unscale
from course_lib.exercises import (
    Comparison,
    Exercise,
    Measured,
    Prediction,
    Verdict,
    check,
    check_prediction,
    compare_arrays,
)
from course_lib.training import predict

EXERCISES: dict[int, Exercise | Prediction] = {
    1: Exercise(
        "1.1",
        "upstream AUGs: measured, then predicted",
        (
            "Count out-of-frame uAUGs in each variant and in its reference (utr.uaug_table, "
            "column uaug_out_of_frame); a gain is a higher count in the variant.",
            "Row 0: variants that gain one, row 1: variants that lose one; column 0: the mean "
            "measured change obs_diff, column 1: the mean of the head's prediction for the "
            "variant minus its prediction for the reference, in MRL (unscaled).",
            "UTRBatches(seqs, labels, ('seq',), padding='left'), course_lib.training.predict "
            "and utr.unscale(..., left.scaler), as in 'Embed once, train many times'.",
        ),
    ),
    2: Exercise(
        "1.2",
        "why the test sets are the best-measured UTRs",
        (
            "The ceiling of R2 is signal variance / (signal variance + noise variance).",
            "Noise variance is the mean of label_noise_sd(total_reads) ** 2 over a set; the "
            "signal variance is the training labels' variance minus the training noise.",
            "See the noise-ceiling section of this chapter and utr.label_noise_sd.",
        ),
    ),
    3: Prediction(
        "1.3",
        "does the embedding beat one-hot?",
        "R2 on Human7600 of the embedding head minus the one-hot head",
    ),
}

#: A head's predictor: UTRs -> MRL ``[n]``.
MRLPredictor = Callable[[Sequence[str]], np.ndarray]


def out_of_frame_change(snvs: pd.DataFrame) -> np.ndarray:
    """``[n]`` out-of-frame uAUGs of each variant (``utr``) minus those of its reference
    (``mother``); positive: the variant gains one."""
    count = "uaug_out_of_frame"
    return uaug_table(snvs["utr"])[count].to_numpy() - uaug_table(snvs["mother"])[count].to_numpy()


def head_predictor(head: Any, device: torch.device | str) -> MRLPredictor:
    """MRL predictions of a chapter head (``head.run.model``, its scaler ``head.scaler``) on
    one-hot input padded on the left."""

    def predict_mrl(seqs: Sequence[str]) -> np.ndarray:
        seqs = list(seqs)
        loader = UTRBatches(seqs, np.zeros(len(seqs)), ("seq",), padding="left", batch_size=256)
        return unscale(predict(head.run.model, loader, device)[1], head.scaler)

    return predict_mrl


def uaug_effects(snvs: pd.DataFrame, predict_mrl: MRLPredictor) -> np.ndarray:
    """``[2, 2]`` mean MRL change of the variants that gain (row 0) and lose (row 1) an
    out-of-frame uAUG: measured (column 0) and predicted by ``predict_mrl`` (column 1)."""
    change = out_of_frame_change(snvs)
    rows = []
    for mask in (change > 0, change < 0):
        picked = snvs[mask]
        if picked.empty:
            rows.append([np.nan, np.nan])
            continue
        predicted = predict_mrl(picked["utr"]) - predict_mrl(picked["mother"])
        rows.append([float(picked["obs_diff"].mean()), float(predicted.mean())])
    return np.array(rows)


def check_exercise_1(
    answer: Any, snvs: pd.DataFrame, head: Any, device: torch.device | str
) -> Verdict:
    """Exercise 1.1: ``answer`` is the ``[2, 2]`` table of :func:`uaug_effects` for the
    ClinVar table ``snvs`` and the chapter's left-padded one-hot ``head`` of fold 0."""
    expected = uaug_effects(snvs, head_predictor(head, device))
    return check(EXERCISES[1], answer, lambda a: compare_arrays(a, expected, 1e-4, 1e-4))


def noise_ceilings(parts: Mapping[str, pd.DataFrame], noise_sd: Callable) -> dict[str, float]:
    """R2 ceiling of the training labels and of Random7600 under the noise model (Exercise 1.2)."""
    noise = {
        n: float(np.mean(noise_sd(parts[n]["total_reads"]) ** 2)) for n in ("train", "test_random")
    }
    signal = float(parts["train"]["rl"].var()) - noise["train"]
    return {name: signal / (signal + v) for name, v in noise.items()}


def check_exercise_2(
    ceiling: Mapping[str, float] | None, parts: Mapping[str, pd.DataFrame], noise_sd: Callable
) -> Verdict:
    """Exercise 1.2: ``{"train": ceiling, "test_random": ceiling}`` from this run's split."""
    expected = noise_ceilings(parts, noise_sd)

    def compare(answer: Mapping[str, float]) -> Comparison:
        if set(answer) != set(expected):
            return Comparison(False, f"expected the keys {sorted(expected)}")
        names = sorted(expected)
        return compare_arrays([answer[n] for n in names], [expected[n] for n in names], 1e-6, 1e-9)

    return check(EXERCISES[2], ceiling, compare)


def embedding_gain(paired: pd.DataFrame, one_hot: str, test: str = "Human7600") -> pd.Series:
    """The row of ``paired`` (the chapter's paired comparisons) setting the first embedding
    head against the one-hot head ``one_hot`` on ``test``."""
    rows = paired[
        (paired["question"] == "embedding")
        & (paired["b"] == one_hot)
        & (paired["test set"] == test)
    ]
    return rows.iloc[0]


def check_exercise_3(prediction: Any, paired: pd.DataFrame, one_hot: str) -> Verdict:
    """Prediction 1.3: ``prediction`` beside the paired R2 difference, embedding head minus the
    one-hot head ``one_hot`` on Human7600, with its interval and its conclusion."""
    row = embedding_gain(paired, one_hot)
    meaning = (
        f"The paired comparison reads: {row['conclusion']} A gap between your guess and this "
        "interval is the part of your expectation the run does not support at this profile."
    )
    measured = Measured(
        float(row["R2 a - b"]), float(row["ci low"]), float(row["ci high"]), meaning
    )
    return check_prediction(EXERCISES[3], prediction, measured)
