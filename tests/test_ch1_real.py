"""Chapter 1's real anchors: Framepool on the real Random7600 and Human7600."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from course_lib.chapters.ch1_utr_rnafm import (
    PEER_ROW,
    PUBLISHED_ROWS,
    real_predictions,
)
from course_lib.datasets.published_models import FRAMEPOOL_FILES
from course_lib.datasets.utr_testsets import load_test_sets
from course_lib.utr_protocol import intervals_overlap, scores_table

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
REAL = (SHARED / "utr_testsets" / "stride11133m_MPA_V_pred.csv").exists() and (
    SHARED / "framepool" / "utr_model_combined_residual.h5"
).exists()


@pytest.fixture(scope="module")
def real_scores() -> dict[str, pd.DataFrame]:
    if not REAL:
        pytest.skip("real utr_testsets / framepool files not in ../shared/data")
    tests = load_test_sets(SHARED / "utr_testsets")
    sets = {name: tests[name] for name in ("Random7600", "Human7600")}
    paths = {name: SHARED / "framepool" / file for name, file in FRAMEPOOL_FILES.items()}
    return {
        average: scores_table(real_predictions(paths, sets, average), sets, n_boot=50)
        for average in ("frame", "sequence")
    }


def test_framepool_reproduces_independent_scores(real_scores):
    """The independent implementation (per-frame average) gives these figures on the files."""
    table = real_scores["frame"].round(3)
    combined, varying = table.loc["Framepool combined"], table.loc["Framepool 25-100-nt"]
    assert combined.loc["Random7600", "Pearson r^2"] == 0.828
    assert combined.loc["Human7600", "Pearson r^2"] == 0.796
    assert combined.loc["Random7600", "R2"] == 0.771
    assert combined.loc["Human7600", "R2"] == 0.742
    assert varying.loc["Random7600", "Pearson r^2"] == 0.811
    assert varying.loc["Human7600", "Pearson r^2"] == 0.778


def test_course_average_and_intervals(real_scores):
    """The course's whole-UTR average (the published files' layer) scores at least as well,
    correlations do not depend on it much, and every estimate lies inside its interval."""
    seq, frame = real_scores["sequence"], real_scores["frame"]
    for row in PUBLISHED_ROWS:
        for name in ("Random7600", "Human7600"):
            assert seq.loc[(row, name), "R2"] >= frame.loc[(row, name), "R2"]
            assert (
                abs(seq.loc[(row, name), "Pearson r^2"] - frame.loc[(row, name), "Pearson r^2"])
                < 0.02
            )
    for metric in ("R2", "Pearson r^2", "Spearman rho"):
        assert (seq[f"{metric} ci low"] <= seq[metric]).all()
        assert (seq[metric] <= seq[f"{metric} ci high"]).all()
    assert PEER_ROW in seq.index.get_level_values("model")
    assert isinstance(
        intervals_overlap(seq, PEER_ROW, "Framepool combined", "Human7600", "R2"), bool
    )


def test_scores_table_on_known_predictions():
    rng = np.random.default_rng(0)
    utrs = ["A" * n for n in np.repeat(np.arange(25, 31), 20)]
    y = rng.normal(5, 1, len(utrs))
    sets = {"S": pd.DataFrame({"utr": utrs, "rl": y})}
    table = scores_table({"perfect": {"S": y}, "noise": {"S": rng.normal(5, 1, len(y))}}, sets, 50)
    assert table.loc[("perfect", "S"), "R2"] == pytest.approx(1.0)
    assert table.loc[("noise", "S"), "Pearson r^2"] < 0.2
    assert not intervals_overlap(table, "perfect", "noise", "S", "R2")
