"""Tests of course_lib.uncertainty: bootstrap intervals, spreads and fold tests."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from course_lib.uncertainty import (
    agreed_direction,
    batched_roc_auc,
    bootstrap_ci,
    bootstrap_indices,
    corrected_resampled_ttest,
    fold_comparison,
    format_interval,
    paired_bootstrap,
    spread,
    why_undecided,
)


def test_bootstrap_indices_are_seeded_and_keep_strata():
    labels = np.r_[np.zeros(7), np.ones(3)]
    index = bootstrap_indices(10, 200, seed=1, strata=labels)
    assert index.shape == (200, 10)
    assert (labels[index].sum(1) == 3).all()
    np.testing.assert_array_equal(index, bootstrap_indices(10, 200, seed=1, strata=labels))
    assert not np.array_equal(bootstrap_indices(10, 5, 1), bootstrap_indices(10, 5, 2))
    with pytest.raises(ValueError, match="strata"):
        bootstrap_indices(10, 5, strata=labels[:4])


def test_bootstrap_ci_covers_the_true_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(0)
    covered = []
    for trial in range(200):
        sample = rng.normal(1.0, 2.0, 60)
        ci = bootstrap_ci(lambda x: x.mean(-1), sample, n_boot=1000, seed=trial, batched=True)
        covered.append(ci["ci low"] <= 1.0 <= ci["ci high"])
    assert 0.88 <= np.mean(covered) <= 0.99
    ci = bootstrap_ci(np.mean, sample, n_boot=2000)
    batched = bootstrap_ci(lambda x: x.mean(-1), sample, n_boot=2000, batched=True)
    assert (batched["ci low"], batched["ci high"]) == pytest.approx((ci["ci low"], ci["ci high"]))
    assert ci["se"] == pytest.approx(sample.std(ddof=1) / np.sqrt(60), rel=0.1)
    assert ci["estimate"] == pytest.approx(sample.mean())


def test_bootstrap_ci_of_roc_auc_with_strata():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(40), np.ones(10)]
    score = y + rng.normal(0, 1, 50)
    ci = bootstrap_ci(roc_auc_score, y, score, n_boot=100, strata=y)
    fast = bootstrap_ci(batched_roc_auc, y, score, n_boot=100, strata=y, batched=True)
    assert (fast["ci low"], fast["ci high"]) == pytest.approx((ci["ci low"], ci["ci high"]))
    ties = np.round(score)
    assert batched_roc_auc(y, ties) == pytest.approx(roc_auc_score(y, ties))
    assert np.isnan(batched_roc_auc(np.ones(5), np.arange(5.0)))
    assert ci["ci low"] < ci["estimate"] < ci["ci high"]
    assert 0.5 < ci["estimate"] <= 1
    with pytest.raises(ValueError, match="different numbers of rows"):
        bootstrap_ci(roc_auc_score, y, score[:10])


def neg_mse(y, p):
    return -float(np.mean((y - p) ** 2))


def test_paired_bootstrap_separates_a_better_model_and_not_a_copy():
    rng = np.random.default_rng(2)
    y = rng.normal(size=(80, 3))  # rows can be multi-dimensional (windows, maps)
    good, bad = y + rng.normal(0, 0.5, y.shape), y + rng.normal(0, 1.0, y.shape)
    out = paired_bootstrap(neg_mse, y, good, bad, n_boot=500)
    assert out["difference"] > 0 and out["excludes 0"] and out["ci low"] > 0
    assert out["a better in resamples"] > 0.99
    batched = paired_bootstrap(
        lambda t, p: -((t - p) ** 2).mean((-2, -1)), y, good, bad, n_boot=500, batched=True
    )
    assert batched["ci low"] == pytest.approx(out["ci low"])
    twin = paired_bootstrap(neg_mse, y, good, good + rng.normal(0, 1e-3, y.shape), n_boot=500)
    assert not twin["excludes 0"]


def test_spread_is_the_student_t_interval():
    values = np.array([0.91, 0.90, 0.93, 0.92, 0.89])
    out = spread(values)
    low, high = stats.t.interval(0.95, 4, loc=values.mean(), scale=stats.sem(values))
    assert (out["ci low"], out["ci high"]) == pytest.approx((low, high))
    assert out["sd"] == pytest.approx(values.std(ddof=1))
    one = spread([0.9])
    assert one["mean"] == 0.9 and one["n"] == 1
    assert all(np.isnan(one[k]) for k in ("sd", "ci low", "ci high"))
    with pytest.raises(ValueError, match="no values"):
        spread([])


@pytest.mark.parametrize(
    ("interval", "over_runs", "direction", "reason"),
    [
        ((0.1, 0.2), (0.05, 0.3), 1, None),
        ((-0.2, -0.1), (-0.3, -0.01), -1, None),
        ((-0.1, 0.2), (0.05, 0.3), 0, "over test rows spans zero"),
        ((0.1, 0.2), (np.nan, np.nan), 0, "a single training run cannot show"),
        ((0.1, 0.2), (-0.05, 0.3), 0, "over training runs spans zero"),
        ((0.1, 0.2), (-0.3, -0.05), 0, "opposite directions"),
        ((-0.2, -0.1), (0.05, 0.3), 0, "opposite directions"),
    ],
)
def test_agreed_direction_needs_both_intervals_on_one_side(interval, over_runs, direction, reason):
    assert agreed_direction(interval, over_runs) == direction
    if reason is None:
        with pytest.raises(ValueError, match="agree"):
            why_undecided(interval, over_runs)
    else:
        assert reason in why_undecided(interval, over_runs)
    assert why_undecided((0.1, 0.2), (-0.1, 0.3), run="fold model").endswith(
        "fold models spans zero"
    )


def test_corrected_ttest_known_values_and_against_the_naive_test():
    a = np.array([0.91, 0.93, 0.90, 0.94, 0.92])
    b = np.array([0.90, 0.91, 0.90, 0.92, 0.90])
    diff = a - b
    # no correction (n_test / n_train -> 0) is the paired t-test
    plain = corrected_resampled_ttest(a, b, n_train=10**12, n_test=1)
    naive = stats.ttest_rel(a, b)
    assert plain["corrected t"] == pytest.approx(naive.statistic)
    assert plain["corrected p"] == pytest.approx(naive.pvalue)
    # 5-fold: variance (1/5 + 1/4) s^2
    out = corrected_resampled_ttest(a, b, n_train=800, n_test=200)
    t = diff.mean() / np.sqrt((1 / 5 + 1 / 4) * diff.var(ddof=1))
    assert out["corrected t"] == pytest.approx(t)
    assert out["corrected p"] == pytest.approx(2 * stats.t.sf(t, 4))
    assert out["corrected p"] > naive.pvalue
    assert out["ci low"] < out["mean difference"] < out["ci high"]


def test_fold_comparison_reports_three_tests():
    a = np.array([0.91, 0.93, 0.90, 0.94, 0.92])
    b = np.array([0.90, 0.91, 0.905, 0.92, 0.90])
    out = fold_comparison(a, b, n_train=800, n_test=200)
    assert out["Wilcoxon p"] == pytest.approx(stats.wilcoxon(a - b).pvalue)
    assert out["naive t-test p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert out["corrected p"] > out["naive t-test p"]
    assert out["folds a better"] == 4
    assert format_interval(0.91234, 0.9, 0.925) == "0.912 [0.900, 0.925]"
