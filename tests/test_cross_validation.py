"""Tests of course_lib.cross_validation: folds, inner splits, the untouched test fold."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from course_lib.cross_validation import (
    TrainedFold,
    comparison_table,
    cross_validate,
    inner_split,
    neural_fold_trainer,
    paired_comparison,
    repeated_stratified_folds,
    stratified_folds,
    stratified_subset,
    summary_table,
)
from course_lib.metrics import auc_standard_error

LABELS = np.array([0, 1] * 50)


def test_folds_partition_and_stratify():
    folds = stratified_folds(LABELS, 5, seed=0)
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(100))
    for train, test in folds:
        assert np.intersect1d(train, test).size == 0
        assert LABELS[test].mean() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="smaller class"):
        stratified_folds(np.array([0, 0, 0, 1]), 2)


def test_repeated_folds_test_every_row_once_per_repetition_on_new_splits():
    folds = repeated_stratified_folds(LABELS, 4, n_repeats=3, seed=7)
    assert len(folds) == 12
    for r in range(3):
        tests = np.concatenate([te for _, te in folds[4 * r : 4 * (r + 1)]])
        assert sorted(tests.tolist()) == list(range(100))
    first = stratified_folds(LABELS, 4, seed=7)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds[:4], first, strict=True))
    assert not np.array_equal(folds[0][1], folds[4][1])
    assert not np.array_equal(folds[4][1], folds[8][1])
    with pytest.raises(ValueError, match="n_repeats"):
        repeated_stratified_folds(LABELS, 4, n_repeats=0)


def test_inner_split_and_subset():
    train = np.arange(80)
    fit_index, val_index = inner_split(train, LABELS, 0.25, seed=0)
    assert len(val_index) == 20 and np.intersect1d(fit_index, val_index).size == 0
    assert sorted(np.r_[fit_index, val_index].tolist()) == train.tolist()
    assert LABELS[val_index].mean() == pytest.approx(0.5)
    subset = stratified_subset(LABELS, 20, seed=0)
    assert len(subset) == 20 and LABELS[subset].sum() == 10
    assert len(stratified_subset(LABELS, None)) == 100


def test_cross_validate_never_shows_test_rows_to_training():
    seen = []
    folds = stratified_folds(LABELS, 4)

    def train_fold(fit_index, val_index, fold):
        seen.append((fold, set(fit_index) | set(val_index)))

        def predict_rows(index):  # a perfect oracle, to check the metric plumbing
            return LABELS[index].astype(float)

        return TrainedFold(predict_rows)

    result = cross_validate("oracle", train_fold, LABELS, folds, val_fraction=0.2)
    for fold, rows in seen:
        assert rows.isdisjoint(folds[fold][1])
        assert rows == set(folds[fold][0])
    assert result.summary()["ROC AUC"] == {"mean": 1.0, "sd": 0.0}
    assert result.per_fold().shape == (4, 6)
    assert len(result.roc_inputs()) == 4 and result.pooled()[0].shape == (100,)


def _constant_model(noise, seed):
    rng = np.random.default_rng(seed)
    scores = LABELS + rng.normal(0, noise, LABELS.size)

    def train_fold(fit_index, val_index, fold):
        return TrainedFold(lambda index: scores[index])

    return train_fold


def test_paired_comparison_and_tables():
    folds = stratified_folds(LABELS, 5)
    good = cross_validate("good", _constant_model(0.3, 0), LABELS, folds)
    bad = cross_validate("bad", _constant_model(3.0, 1), LABELS, folds)
    comparison = paired_comparison(good, bad)
    assert comparison["mean difference"] > 0.1 and comparison["folds a better"] == 5
    assert comparison["Wilcoxon p"] == pytest.approx(0.0625)
    assert comparison["t-test p"] < 0.05
    table = summary_table({"good": good, "bad": bad}, "synthetic")
    assert table.loc["good", "data"] == "synthetic" and "±" in table.loc["bad", "ROC AUC"]
    assert list(comparison_table({"good": good, "bad": bad}, "bad").index) == ["good"]
    other = cross_validate("other", _constant_model(0.3, 0), LABELS, stratified_folds(LABELS, 5, 1))
    with pytest.raises(ValueError, match="same folds"):
        paired_comparison(good, other)


def test_neural_fold_trainer_fresh_model_per_fold_and_learns():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(200, 3)).astype(np.float32))
    y = (x[:, 0] > 0).numpy().astype(int)
    built = []

    def factory():
        model = nn.Linear(3, 1)
        built.append(model)
        return model

    trainer = neural_fold_trainer(
        factory,
        x,
        y,
        epochs=15,
        lr=0.1,
        batch_size=32,
        forward=lambda m, v: m(v).squeeze(-1),
        show_progress=False,
    )
    result = cross_validate("linear", trainer, y, stratified_folds(y, 3))
    assert len(built) == 3 and len({id(m) for m in built}) == 3
    assert result.summary()["ROC AUC"]["mean"] > 0.97
    assert all(1 <= f.trained.best_epoch <= 15 for f in result.folds)
    assert "val ROC AUC" in result.folds[0].trained.history.columns
    # the kept model is the best epoch's: its validation AUC is the recorded one, with its error
    _, val_rows = inner_split(stratified_folds(y, 3)[0][0], y, 0.1, 0)
    first = result.folds[0].trained
    assert roc_auc_score(y[val_rows], first.predict(val_rows)) == first.info["best_val_auc"]
    assert first.info["best_val_auc_se"] == auc_standard_error(y[val_rows], first.predict(val_rows))
