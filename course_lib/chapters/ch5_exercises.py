"""Chapter 5's exercises and predict-then-run question (``notebooks/05_utr_lm.ipynb``).

- Exercise 5.1: does a model of unmodified mRNA transfer to m1Ψ mRNA? The published Framepool
  trained on the unmodified eGFP library, scored on held-out unmodified UTRs and on the
  N1-methylpseudouridine library of ``utr_mfe`` (:func:`library_transfer`).
- Exercise 5.2: a GC/length regression of the MFE against the MFE head.
- Prediction 5.3: before the copy-baseline comparison, how far backbone (b)'s masked-token
  accuracy rises above what copying gives for free.

Every check computes its expected answer from the run's data (see :mod:`course_lib.exercises`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from course_lib.encoding import gc_content
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
from course_lib.metrics import pearson_r

EXERCISES: dict[int, Exercise | Prediction] = {
    1: Exercise(
        "5.1",
        "does a model of unmodified mRNA transfer to m1Ψ?",
        (
            "Predict each library's UTRs with framepool_50 and compare with their column rl.",
            "One row per library, in the order of `libraries`: the Pearson r of predicted and "
            "measured MRL, then the mean of predicted minus measured MRL.",
            "course_lib.metrics.pearson_r; the libraries are pandas tables with utr and rl.",
        ),
    ),
    2: Exercise(
        "5.2",
        "is the MFE head just counting G and C?",
        (
            "Fit on the pretraining corpus and its ViennaRNA MFE, score on the monitoring UTRs.",
            "Use three features per UTR: GC fraction, length and their product.",
            "course_lib.encoding.gc_content, sklearn LinearRegression, metrics.pearson_r.",
        ),
    ),
    3: Prediction(
        "5.3",
        "does masked modelling beat copying?",
        "backbone (b)'s masked-token accuracy minus the copy baseline's",
    ),
}


def library_transfer(
    libraries: Mapping[str, pd.DataFrame], predict: Callable[[Sequence[str]], np.ndarray]
) -> np.ndarray:
    """``[len(libraries), 2]``: per library (``utr``, measured ``rl``), the Pearson r of
    ``predict`` and the mean of predicted minus measured MRL."""
    rows = []
    for table in libraries.values():
        predicted = np.asarray(predict(table["utr"].tolist()), dtype=np.float64)
        measured = table["rl"].to_numpy(dtype=np.float64)
        rows.append([pearson_r(measured, predicted), float(np.mean(predicted - measured))])
    return np.array(rows)


def check_exercise_1(
    answer: Any,
    libraries: Mapping[str, pd.DataFrame],
    predict: Callable[[Sequence[str]], np.ndarray],
) -> Verdict:
    """Exercise 5.1: ``answer`` is the table of :func:`library_transfer`."""
    expected = library_transfer(libraries, predict)
    return check(EXERCISES[1], answer, lambda a: compare_arrays(a, expected, 1e-4, 1e-4))


def composition_features(seqs: Sequence[str]) -> np.ndarray:
    """``[n, 3]``: GC fraction, length and their product per UTR."""
    gc, length = gc_content(list(seqs)), np.array([len(x) for x in seqs], dtype=float)
    return np.c_[gc, length, gc * length]


def check_exercise_2(
    answer: Any,
    corpus: Sequence[str],
    corpus_mfe: np.ndarray,
    monitor: Sequence[str],
    monitor_mfe: np.ndarray,
) -> Verdict:
    """Exercise 5.2: ``answer`` is the composition baseline's Pearson r on the monitoring UTRs."""
    from sklearn.linear_model import LinearRegression

    fit_ = LinearRegression().fit(composition_features(corpus), corpus_mfe)
    expected = pearson_r(monitor_mfe, fit_.predict(composition_features(monitor)))
    return check(EXERCISES[2], answer, lambda a: compare_number(a, expected, 0.0, 0.01))


def copy_meaning(model: Mapping[str, Any], control: Mapping[str, Any]) -> str:
    """What (b)'s gain over copying means, beside the negative control's, both from
    :func:`course_lib.chapters.ch5_controls.copy_control`."""
    key = "model accuracy - copy accuracy"
    low, high = model[f"{key} interval"]
    if low > 0:
        verdict = "the interval lies above 0: (b) learned more than copying gives"
    elif high < 0:
        verdict = "the interval lies below 0: (b) does worse than copying"
    else:
        verdict = "the interval spans 0: (b) cannot be told apart from copying"
    return (
        f"Copying alone recovers {model['copy accuracy']:.3f} of the masked tokens; {verdict}. "
        f"The negative control (random sequence) measured {control[key]:+.3f}: only what (b) "
        "gains beyond it can come from natural UTR sequence."
    )


def check_exercise_3(
    prediction: Any, controls: Mapping[str, Mapping[str, Any]], model: str, control: str
) -> Verdict:
    """Prediction 5.3: ``prediction`` beside the paired difference of ``model``'s masked-token
    accuracy and the copy baseline's in ``controls`` (keyed as the notebook keys them)."""
    name = "masked-token accuracy vs copy baseline, {}"
    found, floor = controls[name.format(model)], controls[name.format(control)]
    key = "model accuracy - copy accuracy"
    low, high = found[f"{key} interval"]
    measured = Measured(float(found[key]), float(low), float(high), copy_meaning(found, floor))
    return check_prediction(EXERCISES[3], prediction, measured)
