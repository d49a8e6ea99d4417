"""Chapter 1's real-data protocol: length-stratified folds, scaler hygiene, learning curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from toy_utrs import toy_varying_table

from course_lib.metrics import regression_metrics
from course_lib.text import as_text
from course_lib.utr_protocol import (
    PAPER_TRAINING_SIZE,
    FoldSplit,
    fold_tables,
    learning_curve_sizes,
    learning_curve_subsets,
    length_strata,
    length_stratified_folds,
    nested_stratified_order,
    read_varying_testsets,
    real_utr_protocol,
    scores_with_intervals,
)


def toy_table(per_length: int = 100, seed: int = 0) -> pd.DataFrame:
    """Random7600/Human7600 in miniature, MRL noise plus a length trend."""
    return toy_varying_table(per_length, lambda utr, rng: rng.normal(5, 1.5) + len(utr) / 50, seed)


@pytest.fixture(scope="module")
def protocol():
    return real_utr_protocol(toy_table(20))


def check_folds(folds: list[FoldSplit], n: int) -> None:
    tested = np.concatenate([f.test for f in folds])
    assert np.array_equal(np.sort(tested), np.arange(n))  # every row tested exactly once
    for f in folds:
        parts = np.concatenate([f.fit, f.val, f.test])
        assert len(np.unique(parts)) == len(parts) == n  # disjoint, cover every row


def test_folds_disjoint_and_stratified_by_length(protocol):
    random = protocol.random
    check_folds(protocol.folds, len(random))
    lengths = random["len"].to_numpy()
    per_length = np.bincount(lengths)
    for f in protocol.folds:
        share = np.bincount(lengths[f.test], minlength=len(per_length))[25:] / per_length[25:]
        assert share.min() == share.max() == pytest.approx(0.2)  # 20 per length: 4 per fold
        val_lengths = np.unique(lengths[f.val])
        assert len(val_lengths) > 60  # the inner validation split covers (nearly) all lengths
    assert protocol.summary()["Human7600"].unique().tolist() == [len(protocol.human)]


def test_fold_sizes_name_each_fold_for_a_sentence(protocol):
    sizes = protocol.fold_sizes()
    assert list(sizes) == [f"fold {f.fold}" for f in protocol.folds]
    first = protocol.folds[0]
    assert sizes["fold 0"] == {
        "fit": len(first.fit),
        "val": len(first.val),
        "test": len(first.test),
        "withheld": 0,
        "Human7600": len(protocol.human),
    }
    assert as_text(sizes).startswith(f"fold 0 (fit {len(first.fit):,}, val ")


def test_human_is_external(protocol):
    assert set(protocol.human["utr"]).isdisjoint(protocol.random["utr"])
    table = toy_table(2)
    table.loc[table["set"] == "human", "utr"] = table.loc[table["set"] == "random", "utr"].iloc[0]
    with pytest.raises(ValueError, match="in both Random7600 and Human7600"):
        real_utr_protocol(table)
    with pytest.raises(ValueError, match="no rows of"):
        real_utr_protocol(table[table["set"] == "random"])


def test_scaler_sees_training_rows_only(protocol):
    random = protocol.random.copy()
    split = protocol.folds[0]
    tables = fold_tables(random, split)
    assert tables.scaler.mean_[0] == pytest.approx(random["rl"].iloc[split.fit].mean())
    # changing every validation, test and Human7600 label leaves the scaler as it was
    random.loc[np.r_[split.val, split.test], "rl"] += 100.0
    again = fold_tables(random, split)
    assert again.scaler.mean_[0] == pytest.approx(tables.scaler.mean_[0])
    assert again.scaler.scale_[0] == pytest.approx(tables.scaler.scale_[0])
    assert len(again.fit) == len(split.fit) and len(again.test) == len(split.test)
    with pytest.raises(ValueError, match="not among the fold's training rows"):
        fold_tables(random, split, fit_index=split.test[:5])


def test_learning_curve_nested_stratified_and_fixed_evaluation(protocol):
    assert protocol.sizes[0] == 200 and protocol.sizes[-1] == len(protocol.folds[0].fit)
    subsets = protocol.learning_curve(0)
    lengths = protocol.random["len"].to_numpy()
    split = protocol.folds[0]
    previous = np.array([], dtype=int)
    for size, rows in subsets.items():
        assert len(rows) == size and np.isin(rows, split.fit).all()
        assert np.isin(previous, rows).all()  # nested: a smaller subset is inside a larger one
        previous = rows
        counts = np.bincount(lengths[rows], minlength=101)[25:]
        expected = size * np.bincount(lengths[split.fit], minlength=101)[25:] / len(split.fit)
        assert np.abs(counts - expected).max() <= 1.0  # each length in proportion, within one
    assert PAPER_TRAINING_SIZE == 76_319 > protocol.sizes[-1]


def test_learning_curve_sizes_and_errors():
    sizes = learning_curve_sizes(5472, 200, 6)
    assert len(sizes) == 6 and (sizes[0], sizes[-1]) == (200, 5472)
    ratios = np.diff(np.log(sizes))
    assert np.allclose(ratios, np.log(5472 / 200) / 5, atol=0.01)  # geometric steps
    with pytest.raises(ValueError, match="smallest"):
        learning_curve_sizes(100, 200)
    split = FoldSplit(0, np.arange(10), np.arange(10, 12), np.arange(12, 15))
    with pytest.raises(ValueError, match="exceeds"):
        learning_curve_subsets(split, np.full(15, 30), [20])


def test_length_strata_merge_short_lengths():
    lengths = np.array([25] * 3 + [26] * 3 + [27] * 10 + [28] * 2)
    strata = length_strata(lengths, 5)
    assert strata.tolist() == [0] * 6 + [1] * 12  # 25+26 merged; the short 28 joins 27
    with pytest.raises(ValueError, match="cannot fill"):
        length_strata(lengths[:3], 5)


def test_small_tables_still_split():
    folds = length_stratified_folds(toy_table(1)["len"].to_numpy()[:76], n_folds=5)
    check_folds(folds, 76)


def test_nested_order_rejects_mismatch():
    with pytest.raises(ValueError, match="strata"):
        nested_stratified_order(np.arange(3), np.zeros(2))


def test_scores_with_intervals_cover_the_estimate_and_shrink_with_signal():
    rng = np.random.default_rng(0)
    lengths = np.repeat(np.arange(25, 101), 10)
    y = rng.normal(5, 1.5, len(lengths))
    good = scores_with_intervals(y, y + rng.normal(0, 0.5, len(y)), lengths, n_boot=1000)
    poor = scores_with_intervals(y, y + rng.normal(0, 3.0, len(y)), lengths, n_boot=1000)
    assert set(good) == {"R2", "Pearson r^2", "Spearman rho"}
    for name, entry in good.items():
        assert entry["ci low"] <= entry["estimate"] <= entry["ci high"]
        assert entry["n"] == len(y) and entry["n_boot"] == 1000
        assert poor[name]["estimate"] < entry["estimate"]
    assert (
        good["R2"]["ci high"] - good["R2"]["ci low"] < poor["R2"]["ci high"] - poor["R2"]["ci low"]
    )
    with pytest.raises(ValueError, match="unknown metrics"):
        scores_with_intervals(y, y, metrics=("r2",))


def test_interval_estimates_equal_the_course_metrics():
    rng = np.random.default_rng(1)
    y = rng.normal(5, 1.5, 300)
    p = np.round(y + rng.normal(0, 1.0, 300), 1)  # ties, as in rounded predictions
    scores = scores_with_intervals(y, p, n_boot=50)
    exact = regression_metrics(y, p)
    for name, entry in scores.items():
        assert entry["estimate"] == pytest.approx(exact[name], abs=1e-12)


# ---------------------------------------------------------------- real files


def test_real_random7600_human7600_protocol(shared_data):
    table = read_varying_testsets(
        shared_data / "utr_testsets" / "stride11133m_MPA_V_pred.csv", verbose=False
    )
    protocol = real_utr_protocol(table)
    assert len(protocol.random) == len(protocol.human) == 7600
    assert set(protocol.random["len"].value_counts()) == {100}
    check_folds(protocol.folds, 7600)
    assert protocol.summary().iloc[0].to_dict() == {
        "fit": 5472,
        "val": 608,
        "test": 1520,
        "withheld": 0,
        "Human7600": 7600,
    }
    for split in protocol.folds:
        assert set(np.bincount(protocol.random["len"].to_numpy()[split.test])[25:]) == {20}
    assert protocol.sizes == learning_curve_sizes(5472, 200, 6)


def test_the_test_sets_loader_gives_the_protocols_table(shared_data):
    """``TestSets.varying_length`` splits into the same folds as the file read directly."""
    from course_lib.datasets.utr_testsets import load_test_sets

    direct = real_utr_protocol(
        read_varying_testsets(
            shared_data / "utr_testsets" / "stride11133m_MPA_V_pred.csv", verbose=False
        )
    )
    loaded = real_utr_protocol(load_test_sets(shared_data / "utr_testsets").varying_length())
    for part in ("random", "human"):
        pd.testing.assert_frame_equal(getattr(direct, part), getattr(loaded, part))
    for a, b in zip(direct.folds, loaded.folds, strict=True):
        assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("fit", "val", "test"))


def test_mttrans_peer_row_with_intervals(shared_data):
    """MTtrans's shipped predictions: squared Pearson r 0.906 / 0.846 (shared/data/README)."""
    from course_lib.tables import read_table

    path = shared_data / "utr_testsets" / "stride11133m_MPA_V_pred.csv"
    table = read_table(path, ("utr", "rl", "pred_stride1113", "set"), verbose=False).table
    expected = {"random": 0.906, "human": 0.846}
    for name, r2 in expected.items():
        rows = table[table["set"] == name]
        scores = scores_with_intervals(
            rows["rl"], rows["pred_stride1113"], rows["utr"].str.len(), n_boot=200
        )
        pearson = scores["Pearson r^2"]
        assert round(pearson["estimate"], 3) == r2
        assert pearson["ci low"] < r2 < pearson["ci high"]
        assert pearson["ci high"] - pearson["ci low"] < 0.03


def test_withholding_leaves_rows_out_of_every_test_and_names_folds_that_still_hold_them(
    protocol,
):
    val0, val1 = protocol.folds[0].val, protocol.folds[1].val
    with pytest.raises(ValueError, match=r"the layer is reused by every fold.*test fold 1 holds"):
        protocol.check_withheld(val0, "the layer")
    once = protocol.withholding(val0)
    once.check_withheld(val0, "the layer")  # no fold tests them now
    twice = once.withholding(val1)  # calls accumulate; repeating one changes nothing
    assert np.array_equal(twice.withheld, np.union1d(val0, val1))
    assert np.array_equal(twice.withholding(val0).withheld, twice.withheld)
    for before, after in zip(protocol.folds, twice.folds, strict=True):
        assert np.array_equal(after.test, np.setdiff1d(before.test, twice.withheld))
    summary = twice.summary()
    assert (summary["test"] + summary["withheld"]).equals(protocol.summary()["test"])
    assert protocol.summary()["withheld"].eq(0).all()
