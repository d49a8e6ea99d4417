"""Chapter 1's scoring: both test sets scored as the mean over single fold models, paired
bootstrap comparisons whose sentences follow the interval, and ensembles kept apart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.chapters import ch1_scoring as cs
from course_lib.utr_protocol import BATCHED_METRICS

R2 = BATCHED_METRICS["R2"]


def _tables(rng, n=120):
    utrs = ["A" * n_ for n_ in np.repeat(np.arange(25, 25 + n // 4), 4)]
    return {
        name: pd.DataFrame({"utr": utrs, "rl": rng.normal(5, 1, n)})
        for name in ("Random7600", "Human7600")
    }


def _sets(tables, rng, noise: float):
    """Two folds: disjoint halves of Random7600, all of Human7600 for both."""
    n = len(tables["Random7600"])
    random_rows = (np.arange(0, n, 2), np.arange(1, n, 2))
    human_rows = (np.arange(n), np.arange(n))
    out = {}
    for name, rows in (("Random7600", random_rows), ("Human7600", human_rows)):
        y = tables[name]["rl"].to_numpy()
        out[name] = cs.FoldSet(rows, tuple(y[r] + rng.normal(0, noise, len(r)) for r in rows))
    return out


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(0)
    tables = _tables(rng)
    sets = {"good": _sets(tables, rng, 0.3), "bad": _sets(tables, rng, 1.5)}
    sets["same as good"] = sets["good"]
    samplers = cs.resamplers(sets, tables, n_boot=200, seed=0)
    return tables, sets, samplers


def test_the_estimate_is_the_mean_over_single_fold_models_on_both_sets(scored):
    tables, sets, samplers = scored
    table = cs.fold_scores_table(sets, samplers)
    for name in ("Random7600", "Human7600"):
        y = tables[name]["rl"].to_numpy()
        folds = sets["good"][name]
        per_fold = [
            R2(y[r][None], p[None])[0] for r, p in zip(folds.rows, folds.predictions, strict=True)
        ]
        row = table.loc[("good", name)]
        assert row["R2"] == pytest.approx(np.mean(per_fold))
        assert row["R2 fold sd"] == pytest.approx(np.std(per_fold, ddof=1))
        assert row["R2 fold min"] == pytest.approx(min(per_fold)) and row["folds"] == 2
        assert row["R2 ci low"] <= row["R2"] <= row["R2 ci high"]
        assert row["Pearson r^2 ci low"] <= row["Pearson r^2"] <= row["Pearson r^2 ci high"]


def test_resamples_stay_within_each_fold_and_length(scored):
    _, sets, samplers = scored
    random = samplers["Random7600"]
    for rows, cols in zip(random.rows, random.columns, strict=True):
        assert np.isin(random.index[:, cols], rows).all() and len(cols) == len(rows)
    human = samplers["Human7600"]
    assert all(len(c) == human.index.shape[1] for c in human.columns)  # every fold: all rows
    with pytest.raises(ValueError, match="disjoint or identical"):
        cs.FoldResampler.build(np.zeros(4), np.full(4, 30), [np.arange(3), np.arange(1, 4)], 5, 0)


def test_rows_withheld_from_every_fold_are_never_resampled():
    y, lengths = np.arange(12, dtype=float), np.repeat([30, 40], 6)
    rows = [np.array([0, 1, 6, 7]), np.array([2, 3, 8, 9])]  # 4, 5, 10, 11 withheld
    sampler = cs.FoldResampler.build(y, lengths, rows, 50, 0)
    assert sampler.index.shape == (50, 8)
    assert not np.isin(sampler.index, [4, 5, 10, 11]).any()
    for fold_rows, cols in zip(rows, sampler.columns, strict=True):
        assert np.isin(sampler.index[:, cols], fold_rows).all() and len(cols) == 4
    with pytest.raises(ValueError, match="not all empty"):
        cs.FoldResampler.build(y, lengths, [np.array([], int), np.array([], int)], 5, 0)


def test_paired_sentences_follow_the_interval(scored):
    _, sets, samplers = scored
    paired = cs.paired_comparisons(sets, samplers, [("good", "bad"), ("same as good", "good")])
    clear = paired[paired["a"] == "good"]
    assert (clear["ci low"] > 0).all() and clear["excludes 0"].all()
    assert all("lie above zero: good scores higher" in t for t in clear["conclusion"])
    assert (clear["fold ci low"] > 0).all()
    tie = paired[paired["a"] == "same as good"]
    assert (tie["R2 a - b"] == 0).all() and not tie["excludes 0"].any()
    assert all("nothing can be concluded" in t for t in tie["conclusion"])
    below = cs.conclusion("a", "b", "S", -0.2, (-0.3, -0.1), (-0.4, -0.05), 3)
    assert "below zero: b scores higher" in below and "over 3 fold models" in below
    # the test rows agree, the fold models do not: nothing can be concluded
    split = cs.conclusion("a", "b", "S", 0.2, (0.1, 0.3), (-0.1, 0.5), 3)
    assert "the interval over fold models spans zero: nothing can be concluded" in split
    both = cs.conclusion("a", "b", "S", 0.0, (-0.1, 0.1), (-0.2, 0.3), 3)
    assert "both intervals span zero: nothing can be concluded" in both
    # a bound that three decimals would show as +0.000 keeps its sign visible
    near = cs.conclusion("a", "b", "S", 0.05, (0.0000123, 0.109), (0.01, 0.2), 3)
    assert "[+0.0000123, +0.109] over test UTRs" in near and "above zero" in near
    tiny_low = cs.conclusion("a", "b", "S", 0.05, (-0.0004, 0.1), (0.01, 0.2), 3)
    assert "[-0.000400, +0.100]" in tiny_low and "test rows spans zero" in tiny_low


def test_the_interval_over_fold_models_is_student_t_of_their_differences(scored):
    from scipy import stats

    _, sets, samplers = scored
    row = cs.paired_comparisons(sets, samplers, [("good", "bad")]).iloc[0]
    own_good = samplers[row["test set"]].scores("good", sets["good"][row["test set"]], "R2")[0]
    own_bad = samplers[row["test set"]].scores("bad", sets["bad"][row["test set"]], "R2")[0]
    d = own_good - own_bad
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (row["fold ci low"], row["fold ci high"]) == pytest.approx((low, high))


def test_a_published_model_is_cut_into_the_same_fold_rows(scored):
    tables, sets, _ = scored
    whole = {"Framepool": {n: t["rl"].to_numpy() * 0.9 for n, t in tables.items()}}
    peer = cs.peer_fold_sets(whole, sets["good"])["Framepool"]
    for name in tables:
        assert all(
            np.array_equal(a, b)
            for a, b in zip(peer[name].rows, sets["good"][name].rows, strict=True)
        )
        np.testing.assert_allclose(
            peer[name].predictions[1], whole["Framepool"][name][peer[name].rows[1]]
        )


def test_ensembles_are_named_and_only_where_every_fold_predicts_every_row(scored):
    tables, sets, _ = scored
    ensembles = cs.ensemble_predictions({"good": sets["good"]})
    ((name, by_set),) = ensembles.items()
    assert name == "good (ensemble of 2 fold models)" and list(by_set) == ["Human7600"]
    np.testing.assert_allclose(
        by_set["Human7600"], np.mean(sets["good"]["Human7600"].predictions, 0)
    )
    with pytest.raises(ValueError, match="different rows"):
        cs.ensemble_predictions({"good": sets["good"]}, "Random7600")
    table = cs.ensemble_table({"good": sets["good"]}, tables, n_boot=20)
    assert list(table.index) == [(name, "Human7600")]
    assert cs.ensemble_table({}, tables, n_boot=20).empty
