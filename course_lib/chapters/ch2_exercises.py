"""Chapter 2's exercises and predict-then-run question (``notebooks/02_optimus_attention.ipynb``).

Exercise 2.1 (the SNV correlation on well-measured variants), 2.2 (greedy designs), 2.3 (what a
scaler fitted on the test labels learned) and Prediction 2.4: before the published models are
scored, how well the Optimus evolution model ranks the held-out eGFP UTRs (squared Pearson r),
set beside the run's value and bootstrap interval. Every check computes its expected answer from
the run's data (see :mod:`course_lib.exercises`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from course_lib.chapters.ch2_design import greedy_design
from course_lib.exercises import (
    Exercise,
    Measured,
    Prediction,
    Verdict,
    check,
    check_prediction,
    compare_arrays,
    compare_number,
)
from course_lib.training import Predictor

EXERCISES: dict[str, Exercise | Prediction] = {
    "snv_reads": Exercise(
        "2.1",
        "are better-measured variants better predicted?",
        (
            "Keep only the rows of the Framepool SNV table whose total reads reach 620.",
            "snv_summary(subset, n_bootstrap) returns a dict; its 'Pearson r' is the answer.",
            "The SNV table is snv_tables['Framepool combined']; the column is 'total'.",
        ),
    ),
    "design": Exercise(
        "2.2",
        "design UTRs with a higher predicted MRL",
        (
            "Run greedy_design on each of the five lowest-predicted test UTRs, in that order.",
            "Collect Design.gain (final minus start prediction) of each greedy design.",
            "greedy_design(predictors['Optimus 5-Prime'], utr, n_steps=settings.design_steps).",
        ),
    ),
    "leaky_scaler": Exercise(
        "2.3",
        "what the test-set scaler did",
        (
            "The leaky scaler is fitted on the test labels, not on the training labels.",
            "Report the mean that scaler learned (StandardScaler.mean_).",
            "leaky_test_scaler returns (MRL, scaler); read scaler.mean_[0].",
        ),
    ),
    "evolution_r2": Prediction(
        "2.4",
        "how well does a published model rank held-out UTRs?",
        "the squared Pearson r of the Optimus evolution model on eGFP 20k",
    ),
}

#: The model and test set of Prediction 2.4, as ``score_published`` names them.
PREDICTED_ROW = ("Optimus evolution", "eGFP 20k")
R2_COLUMN = "Pearson r^2"


def check_exercise_1(well_measured_r: float | None, framepool_snvs: pd.DataFrame) -> Verdict:
    """Pearson r of Framepool's SNV effects on rows with ``total >= 620``."""
    rows = framepool_snvs[framepool_snvs["total"] >= 620]
    expected = float(np.corrcoef(rows["obs_diff"], rows["predicted_diff"])[0, 1])
    return check(
        EXERCISES["snv_reads"],
        well_measured_r,
        lambda a: compare_number(a, expected, rtol=1e-6, atol=1e-6),
    )


def check_exercise_2(
    greedy_gains: Sequence[float] | None, predict: Predictor, utrs: Sequence[str], n_steps: int
) -> Verdict:
    """Gains of the greedy designs of ``utrs`` (recomputed here with the same predictor)."""
    expected = np.array([greedy_design(predict, u, n_steps=n_steps).gain for u in utrs])
    return check(
        EXERCISES["design"],
        greedy_gains,
        lambda a: compare_arrays(a, expected, rtol=1e-4, atol=1e-5),
    )


def check_exercise_3(leaky_mean: float | None, test_mrl: Sequence[float]) -> Verdict:
    """The mean of the scaler fitted on the test MRL."""
    expected = float(np.mean(test_mrl))
    return check(
        EXERCISES["leaky_scaler"],
        leaky_mean,
        lambda a: compare_number(a, expected, rtol=1e-6, atol=1e-6),
    )


def evolution_meaning(table: pd.DataFrame) -> str:
    """What the evolution model's eGFP r^2 means beside the other rows of ``table``."""
    model, test = PREDICTED_ROW
    lines = []
    others = [(m, t) for m, t in table.index if (m, t) != PREDICTED_ROW]
    human = next(((m, t) for m, t in others if m == model), None)
    if human is not None:
        lines.append(
            f"On {human[1]} the same model measured {table.loc[human, R2_COLUMN]:.3f}: "
            "the gap mixes the change of library (native human UTRs) with a possible overlap "
            f"of the model's training rows and {test}"
        )
    lines.append(
        f"{model}'s training rows are not stated, so its {test} figure is not known to be a "
        "held-out one"
    )
    peer = next(((m, t) for m, t in others if t == test and m.startswith("MTtrans")), None)
    if peer is not None:
        lines.append(f"{peer[0]} measured {table.loc[peer, R2_COLUMN]:.3f} on the same rows")
    text = "; ".join(lines)
    return text[0].upper() + text[1:] + "."


def check_exercise_4(prediction: Any, published: pd.DataFrame) -> Verdict:
    """Prediction 2.4: ``prediction`` beside the squared Pearson r of the evolution model on
    eGFP 20k in ``published`` (the table of ``score_published``), with its interval."""
    row = published.loc[PREDICTED_ROW]
    measured = Measured(
        float(row[R2_COLUMN]),
        float(row[f"{R2_COLUMN} low"]),
        float(row[f"{R2_COLUMN} high"]),
        evolution_meaning(published),
    )
    return check_prediction(EXERCISES["evolution_r2"], prediction, measured)
