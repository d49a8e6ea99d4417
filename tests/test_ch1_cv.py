"""Chapter 1's heads on real data: cross-validation within Random7600, Human7600 external.

The recipe (``cv_folds``, ``train_heads``, ``head_predictions``, ``learning_curve``) runs here on
a miniature Random7600/Human7600 with a learnable planted label, a tiny untrained backbone and
few-epoch heads, so every property the chapter relies on is checked in seconds: disjoint fold
rows, a scaler that sees training rows only, out-of-fold predictions that cover every row
once, Human7600 kept out of training and selection, and nested learning-curve sizes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from toy_utrs import gc_label, toy_varying_table

from course_lib.chapters.ch1_config import Ch1Config
from course_lib.chapters.ch1_embedding_cache import build_embedding_cache
from course_lib.chapters.ch1_utr_rnafm import (
    SEQ_HEADS,
    backbone_heads,
    check_full_run,
    cv_fold_data,
    cv_folds,
    fold_scores,
    head_predictions,
    learning_curve,
    model_name,
    original_fold_data,
    train_heads,
)
from course_lib.models import rnafm
from course_lib.profiles import LongCPURunError
from course_lib.utr_protocol import (
    combine_predictions,
    comparisons,
    fold_spread,
    real_utr_protocol,
    scores_table,
)

HEADS = SEQ_HEADS | backbone_heads("RNA-FM random")
EMB = "seq+emb-rnafm-random"
TRAIN = dict(channels=4, epochs=4, batch_size=32, lr=1e-2, device="cpu", seed=0)


@pytest.fixture(scope="module")
def protocol():
    return real_utr_protocol(toy_varying_table(12, gc_label), n_folds=2, n_points=3)


@pytest.fixture(scope="module")
def cache(protocol, tmp_path_factory):
    folder = tmp_path_factory.mktemp("emb")
    checkpoint = rnafm.build_small_rnafm(
        folder / "tiny.pth", layers=1, embed_dim=8, ffn_embed_dim=16, attention_heads=2
    )
    backbone = rnafm.load_rnafm(checkpoint)
    utrs = [*protocol.random["utr"], *protocol.human["utr"]]
    return build_embedding_cache(backbone, utrs, "toy/all", folder, show_progress=False)


@pytest.fixture(scope="module")
def trained(protocol, cache):
    folds = cv_folds(protocol, cache)
    heads = {"seq": HEADS["seq"], EMB: HEADS[EMB]}
    return folds, train_heads(folds, heads, embed_dim=8, show_progress=False, **TRAIN)


def tables(protocol) -> dict[str, pd.DataFrame]:
    return {"Random7600": protocol.random, "Human7600": protocol.human}


def test_fold_rows_are_disjoint_and_cover_random7600(protocol, cache):
    folds = cv_folds(protocol, cache)
    all_random = set(protocol.random["utr"])
    tested = []
    for data in folds:
        parts = {p: set(data.sequences[p]) for p in ("train", "val", "Random7600")}
        assert not parts["train"] & parts["val"] and not parts["train"] & parts["Random7600"]
        assert not parts["val"] & parts["Random7600"]
        assert set().union(*parts.values()) == all_random
        assert (
            data.sequences["Random7600"]
            == protocol.random["utr"].iloc[data.rows["Random7600"]].tolist()
        )
        tested.extend(data.rows["Random7600"])
    assert sorted(tested) == list(range(len(protocol.random)))  # each row tested exactly once


def test_human7600_is_external_and_embeddings_are_the_shared_rows(protocol, cache):
    n_random = len(protocol.random)
    for data in cv_folds(protocol, cache):
        human = set(protocol.human["utr"])
        assert human.isdisjoint(data.sequences["train"]) and human.isdisjoint(data.sequences["val"])
        assert data.sequences["Human7600"] == protocol.human["utr"].tolist()
        for part, seqs in data.sequences.items():  # every part reads its own rows of one cache
            view = data.caches[part]
            assert view.path == cache.path and len(view) == len(seqs)
            assert view.lengths.tolist() == [len(s) for s in seqs]
        np.testing.assert_array_equal(
            data.caches["Human7600"].batch(np.array([0, 3])),
            cache.batch(np.array([n_random, n_random + 3])),
        )


def test_a_training_subset_keeps_sequences_and_embeddings_aligned(protocol, cache):
    split = protocol.folds[1]
    subset = split.fit[::-1][:50]  # unsorted on purpose
    data = cv_fold_data(protocol, split, cache, subset)
    assert data.sequences["train"] == protocol.random["utr"].iloc[np.sort(subset)].tolist()
    np.testing.assert_array_equal(
        data.caches["train"].batch(np.arange(50)), cache.batch(np.sort(subset))
    )
    assert data.scaler.mean_[0] == pytest.approx(protocol.random["rl"].iloc[subset].mean())
    with pytest.raises(ValueError, match="not among the fold's training rows"):
        cv_fold_data(protocol, split, cache, split.test[:5])


def test_scaler_is_fitted_on_training_rows_only(protocol, cache):
    poisoned = real_utr_protocol(toy_varying_table(12, gc_label), n_folds=2, n_points=3)
    held_out = np.concatenate([poisoned.folds[0].val, poisoned.folds[0].test])
    poisoned.random.loc[held_out, "rl"] += 100.0
    poisoned.human.loc[:, "rl"] += 100.0
    clean, dirty = cv_folds(protocol, cache)[0], cv_folds(poisoned, cache)[0]
    assert clean.scaler.mean_[0] == pytest.approx(clean.labels["train"].mean())
    assert dirty.scaler.mean_[0] == pytest.approx(clean.scaler.mean_[0])
    assert dirty.scaler.scale_[0] == pytest.approx(clean.scaler.scale_[0])


def test_human_labels_never_reach_training_or_selection(protocol, cache, trained):
    """Changing every Human7600 label changes no model, no selected epoch, no prediction."""
    _, fold_heads = trained
    poisoned = real_utr_protocol(toy_varying_table(12, gc_label), n_folds=2, n_points=3)
    poisoned.human.loc[:, "rl"] = np.random.default_rng(1).normal(50, 10, len(poisoned.human))
    again = train_heads(
        cv_folds(poisoned, cache), {"seq": HEADS["seq"]}, embed_dim=8, show_progress=False, **TRAIN
    )
    before = [fh for fh in fold_heads if fh.name == "seq"]
    for a, b in zip(before, again, strict=True):
        assert a.run.fit.best_epoch == b.run.fit.best_epoch
        assert a.run.fit.history["val_loss"].tolist() == b.run.fit.history["val_loss"].tolist()
        for name in ("Random7600", "Human7600"):
            np.testing.assert_array_equal(a.predictions[name], b.predictions[name])


def test_out_of_fold_predictions_cover_every_row_once(protocol, trained):
    folds, fold_heads = trained
    predictions = head_predictions(fold_heads, tables(protocol), "cv")
    seq = model_name("seq", "cv")
    assert set(predictions) == {seq, model_name(EMB, "cv")}
    oof = predictions[seq]["Random7600"]
    assert oof.shape == (len(protocol.random),) and np.isfinite(oof).all()
    counts = np.zeros(len(protocol.random), int)
    seq_heads = [fh for fh in fold_heads if fh.name == "seq"]
    for fh in seq_heads:
        counts[fh.rows["Random7600"]] += 1
        np.testing.assert_allclose(oof[fh.rows["Random7600"]], fh.predictions["Random7600"])
    assert (counts == 1).all()
    human = np.mean([fh.predictions["Human7600"] for fh in seq_heads], axis=0)
    np.testing.assert_allclose(predictions[seq]["Human7600"], human)  # mean of fold models
    assert all(
        fh.n_train == len(d.sequences["train"])
        for d in folds
        for fh in fold_heads
        if fh.fold == d.fold
    )


def test_combine_predictions_refuses_gaps():
    rows = {"S": np.array([0, 1])}
    with pytest.raises(ValueError, match="1 rows of S were never predicted"):
        combine_predictions([("m", rows, {"S": np.array([1.0, 2.0])})], {"S": 3})
    both = combine_predictions(
        [
            ("m", rows, {"S": np.array([1.0, 2.0])}),
            ("m", {"S": np.array([1, 2])}, {"S": np.array([4.0, 6.0])}),
        ],
        {"S": 3},
    )
    np.testing.assert_allclose(both["m"]["S"], [1.0, 3.0, 6.0])
    # a row withheld from every test may stay unpredicted (NaN); any other gap still fails
    gap = combine_predictions(
        [("m", rows, {"S": np.array([1.0, 2.0])})], {"S": 3}, {"S": np.array([2])}
    )
    np.testing.assert_array_equal(gap["m"]["S"], [1.0, 2.0, np.nan])
    with pytest.raises(ValueError, match="1 rows of S were never predicted"):
        combine_predictions(
            [("m", {"S": np.array([0])}, {"S": np.array([1.0])})], {"S": 3}, {"S": np.array([2])}
        )


def test_heads_learn_the_planted_rule_and_scores_have_intervals(protocol, trained):
    _, fold_heads = trained
    predictions = head_predictions(fold_heads, tables(protocol), "cv")
    table = scores_table(predictions, tables(protocol), n_boot=50)
    seq = model_name("seq", "cv")
    assert table.loc[(seq, "Random7600"), "Pearson r^2"] > 0.15  # a few epochs find G+C
    for metric in ("R2", "Pearson r^2", "Spearman rho"):
        assert (table[f"{metric} ci low"] <= table[metric]).all()
        assert (table[metric] <= table[f"{metric} ci high"]).all()
    per_fold = fold_scores(fold_heads, tables(protocol), "cv")
    assert len(per_fold) == 2 * 2 * 2  # heads x folds x test sets
    spread = fold_spread(per_fold)
    assert (spread["R2 fold sd"] >= 0).all()
    assert spread.loc[(seq, "Random7600"), "R2 fold mean"] == pytest.approx(
        per_fold.query("head == @seq and `test set` == 'Random7600'")["R2"].mean()
    )


def test_comparisons_say_whether_intervals_overlap():
    index = pd.MultiIndex.from_tuples(
        [("a", "S"), ("b", "S"), ("c", "S")], names=["model", "test set"]
    )
    table = pd.DataFrame(
        {"R2": [0.8, 0.5, 0.79], "R2 ci low": [0.78, 0.45, 0.7], "R2 ci high": [0.82, 0.55, 0.85]},
        index=index,
    )
    out = comparisons(table, [("a", "b"), ("c", "a")], "R2", ("S",)).set_index("a")
    assert not out.loc["a", "intervals overlap"] and out.loc["a", "verdict"].startswith("a higher")
    assert out.loc["c", "intervals overlap"] and out.loc["c", "R2 a - b"] == pytest.approx(-0.01)


def test_learning_curve_sizes_grow_and_the_largest_reuses_the_fold_model(protocol, cache, trained):
    _, fold_heads = trained
    known = next(fh for fh in fold_heads if fh.name == "seq" and fh.fold == 0)
    curve = learning_curve(
        protocol,
        cache,
        ("seq", HEADS["seq"]),
        50,
        known=known,
        embed_dim=8,
        show_progress=False,
        **TRAIN,
    )
    sizes = curve.index.tolist()
    assert sizes == protocol.sizes and sizes == sorted(set(sizes))  # strictly increasing
    assert sizes[-1] == len(protocol.folds[0].fit) == known.n_train
    assert curve["epochs"].is_monotonic_decreasing  # the same step budget: more epochs when small
    assert curve["epochs"].iloc[-1] == TRAIN["epochs"]
    subsets = list(protocol.learning_curve(0).values())
    assert all(
        np.isin(a, b).all() for a, b in zip(subsets[:-1], subsets[1:], strict=True)
    )  # nested
    largest = scores_table(
        {"k": {"Random7600": known.predictions["Random7600"]}},
        {"Random7600": protocol.random.iloc[protocol.folds[0].test]},
        n_boot=50,
    )
    assert curve["R2"].iloc[-1] == pytest.approx(largest["R2"].iloc[0])


def test_original_protocol_is_one_fold_on_the_split():
    rng = np.random.default_rng(0)
    parts = {
        name: pd.DataFrame(
            {
                "utr": ["".join(rng.choice(list("ACGT"), 30)) for _ in range(n)],
                "rl": rng.normal(5, 1, n),
            }
        )
        for name, n in (("train", 40), ("val", 10), ("test_random", 8), ("test_human", 6))
    }
    from course_lib.datasets.utr import fit_label_scaler

    data = original_fold_data(parts, None, fit_label_scaler(parts["train"]))
    assert set(data.sequences) == {"train", "val", "Random7600", "Human7600"}
    assert data.rows["Human7600"].tolist() == list(range(6)) and data.caches is None


def test_full_run_check_stops_a_cpu_and_leaves_other_profiles_alone(cache):
    backbone = rnafm.load_rnafm(cache.path.parent / "tiny.pth")
    smoke = Ch1Config.resolve("smoke")
    check_full_run(smoke, "cpu", backbone, HEADS, 10**9, 10**9)  # smoke: no estimate, no stop
    full = Ch1Config.resolve("full")
    with pytest.raises(LongCPURunError, match="profile 'full'"):
        check_full_run(full, "cpu", backbone, HEADS, 100_000, 10**7)
    check_full_run(Ch1Config.resolve("full", tiny=True), "cpu", backbone, HEADS, 1_000, 1_000)
