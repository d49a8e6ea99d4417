"""Tests of course_lib.metrics: exact values on hand examples, exact names, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    auc_standard_error,
    classification_metrics,
    pearson_r,
    r2,
    regression_metrics,
    summarize_folds,
)

Y = np.array([1.0, 2.0, 3.0, 4.0])  # mean 2.5, sum of squares about the mean 5


def test_regression_metrics_hand_example():
    m = regression_metrics(Y, [1.0, 2.0, 3.0, 5.0])
    assert tuple(m) == REGRESSION_METRICS
    assert m["MSE"] == pytest.approx(0.25)
    assert m["MAE"] == pytest.approx(0.25)
    assert m["R2"] == pytest.approx(1 - 1 / 5) == r2(Y, [1.0, 2.0, 3.0, 5.0])
    # deviations: y - 2.5 = (-1.5, -0.5, 0.5, 1.5); p - 2.75 = (-1.75, -0.75, 0.25, 2.25)
    r = 6.5 / math.sqrt(5 * 8.75)
    assert m["Pearson r"] == pytest.approx(r)
    assert m["Pearson r^2"] == pytest.approx(r * r)
    assert m["Spearman rho"] == pytest.approx(1.0)


def test_r2_differs_from_squared_pearson_on_biased_predictions():
    biased = regression_metrics(Y, Y + 10)
    assert biased["Pearson r"] == pytest.approx(1.0)
    assert biased["Pearson r^2"] == pytest.approx(1.0)
    assert biased["R2"] == pytest.approx(1 - 4 * 100 / 5)  # -79: bias is punished
    scaled = regression_metrics(Y, 2 * Y)
    assert scaled["Pearson r^2"] == pytest.approx(1.0)
    assert scaled["R2"] == pytest.approx(1 - 30 / 5)


def test_pearson_r_of_constant_is_nan_and_accepts_columns():
    assert math.isnan(pearson_r(Y, np.ones(4)))
    assert pearson_r(Y[:, None], (-Y)[:, None]) == pytest.approx(-1.0)
    assert math.isnan(regression_metrics(Y, np.ones(4))["Spearman rho"])


def test_classification_metrics_hand_example():
    y = [0, 0, 1, 1]
    scores = [0.1, 0.6, 0.4, 0.9]
    m = classification_metrics(y, scores)
    assert tuple(m) == CLASSIFICATION_METRICS
    assert m["ROC AUC"] == pytest.approx(0.75)  # 3 of 4 positive/negative pairs ordered
    # threshold 0.5 -> predictions 0, 1, 0, 1: TP = FP = FN = TN = 1
    assert m == pytest.approx({"ROC AUC": 0.75, "accuracy": 0.5, "F1": 0.5, "MCC": 0.0})
    # threshold 0.35 -> 0, 1, 1, 1: TP 2, FP 1, FN 0, TN 1
    low = classification_metrics(y, scores, threshold=0.35)
    assert low["accuracy"] == pytest.approx(0.75)
    assert low["F1"] == pytest.approx(0.8)
    assert low["MCC"] == pytest.approx(2 / math.sqrt(12))
    assert low["ROC AUC"] == pytest.approx(0.75)  # AUC does not depend on the threshold


def test_classification_metrics_on_logits_with_threshold_zero():
    m = classification_metrics([0, 1, 0, 1], [-2.0, 3.0, -0.5, 0.1], threshold=0)
    assert m == pytest.approx({"ROC AUC": 1.0, "accuracy": 1.0, "F1": 1.0, "MCC": 1.0})


def test_errors_on_bad_input():
    with pytest.raises(ValueError, match="y_true has 3 values but y_pred has 4"):
        regression_metrics([1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="y_true has 2 values but y_pred has 3"):
        classification_metrics([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="at least two values"):
        regression_metrics([1.0], [1.0])
    with pytest.raises(ValueError, match="NaN or infinite"):
        regression_metrics([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ValueError, match="needs both classes"):
        classification_metrics([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(ValueError, match=r"must be 0 or 1, found \[0.0, 1.0, 2.0\]"):
        classification_metrics([0, 1, 2], [0.2, 0.5, 0.9])


def test_summarize_folds():
    summary = summarize_folds([{"R2": 0.5, "MSE": 1.0}, {"R2": 0.7, "MSE": 3.0}])
    assert summary["R2"] == pytest.approx({"mean": 0.6, "sd": math.sqrt(0.02)})
    assert summary["MSE"] == pytest.approx({"mean": 2.0, "sd": math.sqrt(2.0)})  # ddof = 1
    assert summarize_folds([{"R2": 0.5}])["R2"] == {"mean": 0.5, "sd": 0.0}
    with pytest.raises(ValueError, match="no folds"):
        summarize_folds([])


def test_auc_standard_error_matches_a_bootstrap_of_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(120), np.zeros(330)]
    scores = np.round(rng.normal(1.6 * y, 1.0), 1)  # AUC near 0.87, with ties
    boot = []
    for _ in range(2000):
        rows = np.r_[rng.choice(120, 120), 120 + rng.choice(330, 330)]  # classes kept apart
        boot.append(roc_auc_score(y[rows], scores[rows]))
    se = auc_standard_error(y, scores)
    assert se == pytest.approx(np.std(boot), rel=0.1)
    order = rng.permutation(450)
    assert auc_standard_error(y[order], scores[order]) == pytest.approx(se)
    assert auc_standard_error(y, 2 * scores + 5) == pytest.approx(se)  # ranks only
    with pytest.raises(ValueError, match="two rows of each class"):
        auc_standard_error(np.r_[1, 0, 0], np.r_[0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match="rows"):
        auc_standard_error(y, scores[:-1])
