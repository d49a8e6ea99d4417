"""Recipes of chapter 2 on hand-built predictors with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.chapters.ch2_optimus_attention import (
    bootstrap_metrics,
    evolve_to_target,
    fold_parts,
    kfold_indices,
    kozak_table,
    score_published,
    snv_effects,
    snv_summary,
)


def gc_count(utrs):
    return np.array([u.count("G") + u.count("C") for u in utrs], dtype=float)


def test_bootstrap_intervals_contain_the_point_and_shrink_with_n():
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000)
    pred = y + rng.normal(size=2000)
    big = bootstrap_metrics(y, pred, 200)
    small = bootstrap_metrics(y[:200], pred[:200], 200)
    for name in ("Pearson r^2", "R2", "Spearman rho"):
        assert big[f"{name} low"] <= big[name] <= big[f"{name} high"]
    width = big["Pearson r^2 high"] - big["Pearson r^2 low"]
    assert width < small["Pearson r^2 high"] - small["Pearson r^2 low"]


def test_score_published_adds_the_shipped_peer_row():
    table = pd.DataFrame({"utr": ["GGCC", "AATT", "GCAT"], "rl": [4.0, 0.0, 2.0]})
    table["pred_stride1113"] = [3.0, 1.0, 2.0]
    metrics, predictions = score_published({"gc": gc_count}, {"toy": table}, 20)
    assert set(metrics.index) == {("gc", "toy"), ("MTtrans (shipped)", "toy")}
    assert metrics.loc[("gc", "toy"), "Pearson r^2"] == pytest.approx(1.0)


def test_snv_effects_and_summary():
    snvs = pd.DataFrame({"utr": ["GGAA", "AAAA", "ACAA"], "mother": ["AAAA", "AAAC", "AAAA"]})
    snvs["obs_diff"] = [2.0, -1.0, 1.0]
    effects = snv_effects(gc_count, snvs)
    assert effects["predicted_diff"].tolist() == [2.0, -1.0, 1.0]
    assert snv_summary(effects, 50)["Pearson r"] == pytest.approx(1.0)


def test_kfold_kozak_and_evolution():
    folds = kfold_indices(10, 3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(10))
    with pytest.raises(ValueError):
        kfold_indices(3, 1)
    kozak = kozak_table(gc_count, ["AAAAAA", "TTTTTT"])
    assert kozak.loc["G", "mean MRL"] == kozak.loc["A", "mean MRL"] + 1
    designs = evolve_to_target(gc_count, ["AAAAAAAAAA"] * 4, target=5.0, n_steps=200)
    assert (np.abs(designs["designed prediction"] - 5.0) <= 1).all()
    assert (designs["start prediction"] == 0).all()


def test_fold_parts_keep_copies_of_held_out_utrs_out_of_training():
    utrs = [f"{i:03d}".ljust(50, "A") for i in range(40)]
    utrs[30:33] = [utrs[0]] * 3  # three more copies of the UTR in row 0
    table = pd.DataFrame({"utr": utrs, "rl": np.arange(40.0)})
    held_out = np.arange(10)
    train, val = fold_parts(table, held_out, np.random.default_rng(0))
    assert len(train) + len(val) == 27 and len(val) == 2
    assert not set(table["utr"].iloc[held_out]) & (set(train["utr"]) | set(val["utr"]))
    assert set(train.index) | set(val.index) == set(range(10, 40)) - {30, 31, 32}
