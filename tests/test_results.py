"""Tests of course_lib.results: reading the results files back, and the stopwatch."""

from __future__ import annotations

import json
import time

import pytest

from course_lib.report import Anchor, chapter_report
from course_lib.results import Stopwatch, earlier_results, read_results

ANCHORS = [Anchor("BiLSTM on 3-mers, PUM2", 0.941, "ROC AUC", "one split, test-selected", "seed")]


def test_read_results_round_trip_and_schema_check(tmp_data_dir):
    for stem, provenance in (("03_pum2_dnabert_lstm", "real"), ("00_sequences", "synthetic")):
        path = chapter_report(
            stem, profile="smoke", provenance=provenance, metrics={}, wall_time_s=1, anchors=ANCHORS
        )
    assert path == tmp_data_dir.parent / "course_results" / "00_sequences.json"
    results = read_results()
    assert sorted(results) == ["00_sequences", "03_pum2_dnabert_lstm"]
    assert results["00_sequences"]["provenance"] == "synthetic"
    assert results["03_pum2_dnabert_lstm"]["anchors"][0]["metric"] == "ROC AUC"
    folder = path.parent
    (folder / "stray.json").write_text(json.dumps({"chapter": "stray", "metrics": {}}))
    with pytest.raises(ValueError, match=r"stray.json lacks \['title', 'profile'.*run the chapter"):
        read_results(folder)


def test_earlier_results_names_each_chapter_to_run_first(tmp_data_dir):
    options = {"profile": "smoke", "provenance": "real", "metrics": {}, "wall_time_s": 1}
    chapter_report("01_utr_rnafm", anchors=ANCHORS, **options)
    found, missing = earlier_results(("01_utr_rnafm", "02_optimus_attention"))
    assert list(found) == ["01_utr_rnafm"] and found["01_utr_rnafm"]["provenance"] == "real"
    assert missing == (
        "results/02_optimus_attention.json is absent: run that chapter first to see its models here"
    )
    assert earlier_results(("01_utr_rnafm",))[1] == ""


def test_stopwatch_counts_up():
    watch = Stopwatch()
    first = watch.seconds
    time.sleep(0.01)
    assert 0 <= first < watch.seconds
