"""Tests of course_lib.plotting: what each helper draws, on the non-interactive backend."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from course_lib.plotting import (  # noqa: E402
    plot_learning_curves,
    plot_roc,
    plot_scatter,
    plot_training_size,
    provenance_caption,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def history(val_losses):
    n = len(val_losses)
    return pd.DataFrame(
        {"epoch": range(1, n + 1), "train_loss": np.linspace(1, 0.1, n), "val_loss": val_losses}
    )


def test_learning_curves_one_train_and_one_validation_line_per_model():
    histories = {"cnn": history([0.9, 0.5, 0.7]), "lstm": history([0.8, 0.6, 0.4])}
    ax = plot_learning_curves(histories, title="curves", best_epochs={"cnn": 2, "lstm": 3})
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["cnn train", "cnn validation"]
    assert "lstm validation" in labels and ax.get_title() == "curves"
    markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert [(m.get_xdata()[0], m.get_ydata()[0]) for m in markers] == [(2, 0.5), (3, 0.4)]
    assert ax.get_xlabel() == "epoch"


def test_learning_curves_accepts_a_single_history():
    _, ax = plt.subplots()
    assert plot_learning_curves(history([1.0, 0.5]), ax=ax) is ax
    assert len(ax.get_lines()) == 2


def test_scatter_reports_pearson_and_subsamples():
    y = np.arange(100.0)
    ax = plot_scatter(y, 2 * y, title="fit", max_points=30)
    points = ax.collections[0]
    assert points.get_offsets().shape == (30, 2)
    assert points.get_label() == "Pearson r = 1.000"
    identity = ax.get_lines()[0]
    assert list(identity.get_xdata()) == [0.0, 198.0] and ax.get_title() == "fit"


def test_scatter_leaves_out_rows_without_a_prediction():
    y = np.arange(10.0)
    pred = np.where(y < 3, np.nan, 3 * y)  # three rows no model predicted
    ax = plot_scatter(y, pred)
    assert ax.collections[0].get_offsets().shape == (7, 2)
    assert ax.collections[0].get_label() == "Pearson r = 1.000"


def test_roc_labels_carry_auc():
    y, scores = [0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]
    ax = plot_roc({"model": (y, scores), "perfect": (y, [0, 0, 1, 1])}, title="ROC test")
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["model (AUC 0.750)", "perfect (AUC 1.000)"]
    assert len(ax.get_lines()) == 3  # plus the chance diagonal
    listed = plot_roc([(y, scores)])
    assert listed.get_lines()[0].get_label() == "0 (AUC 0.750)"


def test_provenance_caption():
    assert provenance_caption("real", "smoke") == "data: real · profile: smoke"
    assert provenance_caption("synthetic", "full") == "data: synthetic · profile: full"


def test_training_size_marks_the_reference_without_a_value():
    curve = pd.DataFrame(
        {"R2": [0.1, 0.3, 0.4], "R2 ci low": [0.05, 0.25, 0.37], "R2 ci high": [0.15, 0.35, 0.43]},
        index=pd.Index([200, 1000, 5000], name="training UTRs"),
    )
    ax = plot_training_size(curve, reference=76_319, reference_label="paper: not measured")
    assert ax.get_xscale() == "log"
    assert ax.get_xlim()[1] > 76_319  # the reference is on the axis
    (line,) = ax.lines[:1]
    assert line.get_xdata().tolist() == [200, 1000, 5000]  # values only where measured
    assert max(max(np.atleast_1d(x.get_xdata())) for x in ax.lines) == 76_319  # the dashed mark
    assert [t.get_text() for t in ax.texts] == ["paper: not measured"]
    bare = plot_training_size(curve)
    assert not bare.texts and bare.get_xlim()[1] < 76_319
