"""Tests of course_lib.report: one report type, one anchor shape across chapters."""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pandas as pd
import pytest

from course_lib.manifest import CHAPTERS
from course_lib.report import (
    Anchor,
    Estimate,
    Headline,
    Interval,
    chapter_report,
    intervals_in,
)
from course_lib.results import REQUIRED_KEYS, read_results

ANCHOR = Anchor("BiLSTM on 3-mers, PUM2", 0.941, "ROC AUC", "one split, test-selected", "seed")
BOOTSTRAP = "95 % bootstrap over test rows"


def write(tmp_path, **changes):
    kwargs = dict(
        profile="smoke",
        provenance="real",
        metrics={"cnn": {"ROC AUC": np.float32(0.75), "ROC AUC interval": Interval(0.7, 0.8, "b")}},
        wall_time_s=12.3456,
        anchors=[ANCHOR],
        folder=tmp_path,
    )
    kwargs.update(changes)
    return chapter_report("03_pum2_dnabert_lstm", **kwargs)


def test_round_trip_one_schema(tmp_path):
    headline = Headline(
        "ROC AUC",
        "real PUM2",
        {"cnn": Estimate(0.75, Interval(0.7, 0.8, BOOTSTRAP))},
        ANCHOR,
    )
    path = write(
        tmp_path,
        headline=headline,
        models={"cnn": {"parameters": np.int64(1234)}},
        notes=["trained on CPU"],
    )
    record = json.loads(path.read_text())
    assert set(REQUIRED_KEYS) <= set(record)
    assert record["title"] == next(c.title for c in CHAPTERS if c.stem == record["chapter"])
    assert record["anchors"] == [
        {
            "name": "BiLSTM on 3-mers, PUM2",
            "value": 0.941,
            "metric": "ROC AUC",
            "protocol": "one split, test-selected",
            "source": "seed",
        }
    ]
    assert record["metrics"]["cnn"]["ROC AUC interval"] == {"low": 0.7, "high": 0.8, "method": "b"}
    assert record["headline"]["compared"]["cnn"] == {
        "value": 0.75,
        "interval": {"low": 0.7, "high": 0.8, "method": BOOTSTRAP},
    }
    assert record["headline"]["anchor"]["value"] == 0.941
    assert record["uncertainty"] == [BOOTSTRAP, "b"]
    assert record["models"] == {"cnn": {"parameters": 1234}} and record["wall_time_s"] == 12.35
    assert read_results(tmp_path)["03_pum2_dnabert_lstm"] == record


def test_nan_and_arrays_become_json(tmp_path):
    metrics = {
        "per fold": np.array([0.5, np.nan]),
        "worst": -np.inf,
        "ci": Interval(*[math.nan] * 2, "b"),
    }
    record = json.loads(write(tmp_path, metrics=metrics).read_text())
    assert record["metrics"] == {
        "per fold": [0.5, None],
        "worst": None,
        "ci": {"low": None, "high": None, "method": "b"},
    }


@pytest.mark.parametrize(
    ("field", "kwargs", "message"),
    [
        ("protocol", {"protocol": ""}, r"protocol must be a non-empty string.*say how"),
        ("value", {"value": "0.9"}, r"value must be a number, got '0.9'; give the published"),
        ("value", {"value": math.inf}, r"value must be finite"),
        ("source", {"source": None}, r"source must be a non-empty string.*cite"),
    ],
)
def test_malformed_anchor_is_refused(field, kwargs, message):
    fields = {"name": "paper", "value": 0.8, "metric": "R2", "protocol": "paper", "source": "x"}
    with pytest.raises(ValueError, match=message):
        Anchor(**(fields | kwargs))


def test_anchor_without_protocol_or_as_a_dict_is_refused(tmp_path):
    with pytest.raises(TypeError, match="protocol"):
        Anchor("paper", 0.8, "R2", source="x")  # type: ignore[call-arg]
    loose = {"name": "paper", "value": 0.8, "metric": "R2", "source": "x"}
    with pytest.raises(ValueError, match=r"anchors\[1\] is .*Anchor\(name, value, metric"):
        write(tmp_path, anchors=[ANCHOR, loose])
    with pytest.raises(ValueError, match="listed twice"):
        write(tmp_path, anchors=[ANCHOR, ANCHOR])
    assert list(tmp_path.iterdir()) == []


def test_interval_of_a_table_row_reads_its_ci_columns():
    table = pd.DataFrame(
        {"R2": [0.5], "R2 ci low": [0.4], "R2 ci high": [0.6], "ci low": [1], "ci high": [2]}
    )
    row = table.iloc[0]
    assert Interval.of_row(row, "m", "R2 ") == Interval(0.4, 0.6, "m")
    assert Interval.of_row({"ci low": 1, "ci high": 2}, "m") == Interval.of_row(row, "m")
    with pytest.raises(KeyError, match="AUC ci low"):
        Interval.of_row(row, "m", "AUC ")
    with pytest.raises(ValueError, match="exceeds"):
        Interval.of_row({"ci low": 3, "ci high": 2}, "m")


def test_interval_low_above_high_is_refused():
    with pytest.raises(ValueError, match=r"Interval.low 0.9 exceeds Interval.high 0.1.*in order"):
        Interval(0.9, 0.1, BOOTSTRAP)
    with pytest.raises(ValueError, match="Interval.method must be a non-empty string"):
        Interval(0.1, 0.9, "")
    with pytest.raises(ValueError, match="Interval.low must be a number"):
        Interval("0.1", 0.9, BOOTSTRAP)


@pytest.mark.parametrize(
    ("provenance", "field"),
    [("simulated", "provenance"), ({"data": "real", "backbone": "untrained"}, "backbone")],
)
def test_provenance_outside_real_synthetic_stand_in_is_refused(tmp_path, provenance, field):
    with pytest.raises(ValueError, match=rf"{field}.*one of real, synthetic, stand-in.*notes"):
        write(tmp_path, provenance=provenance)
    assert list(tmp_path.iterdir()) == []


def test_other_mistakes_name_the_field(tmp_path):
    with pytest.raises(ValueError, match="unknown profile 'quick'"):
        write(tmp_path, profile="quick")
    with pytest.raises(ValueError, match="wall_time_s must be a non-negative number"):
        write(tmp_path, wall_time_s=float("nan"))
    with pytest.raises(ValueError, match=r"metrics\['m'\]\['R2 ci low'\]: write intervals as"):
        write(tmp_path, metrics={"m": {"R2 ci low": 0.1, "R2 ci high": 0.2}})
    with pytest.raises(ValueError, match=r"metrics\['table'\] is of type object"):
        write(tmp_path, metrics={"table": object()})
    with pytest.raises(ValueError, match="no chapter '09_x' in course_lib/manifest.py"):
        chapter_report(
            "09_x", profile="smoke", provenance="real", metrics={}, wall_time_s=1, anchors=[]
        )
    with pytest.raises(ValueError, match=r"notes\[1\] prints a Python dict .*as_text"):
        write(tmp_path, notes=["fine", f"fold sizes: { ({0: {'fit': 3420}}) }"])
    with pytest.raises(ValueError, match=r"notes\[0\] is a dict; give sentences"):
        write(tmp_path, notes=[{"fit": 3420}])
    with pytest.raises(ValueError, match=r"Headline.compared\['m'\] must be an Estimate"):
        Headline("R2", "d", {"m": (1, 0, 2)})  # type: ignore[dict-item]
    assert list(tmp_path.iterdir()) == []


def test_intervals_in_pairs_the_ends_in_place():
    row = {"R2": 0.5, "R2 ci low": 0.4, "R2 ci high": 0.6, "n": 10, "ci low": 1, "ci high": 2}
    assert intervals_in(row, "b") == {
        "R2": 0.5,
        "R2 interval": Interval(0.4, 0.6, "b"),
        "n": 10,
        "interval": Interval(1, 2, "b"),
    }
    ends = ("low", "high")
    assert intervals_in({"r": 1.0, "r low": 0.5, "r high": 1.5}, "b", ends) == {
        "r": 1.0,
        "r interval": Interval(0.5, 1.5, "b"),
    }


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_one_anchor_shape_across_chapters(chapter):
    report = importlib.import_module(chapter.part("report"))
    assert report.ANCHORS, f"chapter {chapter.number} lists no anchors"
    for anchor in report.ANCHORS:
        assert isinstance(anchor, Anchor)
        assert anchor.protocol.strip() and anchor.source.strip() and anchor.metric.strip()
    assert callable(report.report)


def test_a_chapter_report_writes_intervals_and_anchors(tmp_path):
    from course_lib.chapters import ch0_report
    from course_lib.chapters.ch0_config import Ch0Config
    from course_lib.chapters.ch0_sequences import window_intervals

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 300)) for _ in range(20)]
    intervals = window_intervals(seqs, n_boot=50)
    settings = Ch0Config.resolve("smoke", tiny=True)
    track = pd.DataFrame({"gc": [0.4, 0.5, np.nan]})
    path = ch0_report.report(
        settings,
        "synthetic",
        track=track,
        obs_exp={"CG": 0.9},
        n_windows=20,
        intervals=intervals,
        wall_time_s=1.0,
        folder=tmp_path,
    )
    record = read_results(tmp_path)["00_sequences"]
    gc = record["metrics"]["random windows: GC fraction"]
    assert gc["interval"]["low"] == intervals["GC fraction"]["ci low"]
    assert gc["interval"]["method"] == record["uncertainty"][0]
    assert record["metrics"]["genome excerpt"]["GC fraction (GC track mean)"] == pytest.approx(0.45)
    assert [a["metric"] for a in record["anchors"]] == ["GC fraction", "CpG obs/exp"]
    assert record["headline"]["anchor"] == record["anchors"][1]
    assert path.name == "00_sequences.json"
