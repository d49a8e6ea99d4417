"""Tests of course_lib.results: the results/<chapter>.json schema and its checks."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from course_lib.results import REQUIRED_KEYS, Stopwatch, read_results, write_results

ANCHORS = {"BiLSTM on 3-mers, PUM2": {"accuracy": 0.895, "ROC AUC": 0.941, "source": "seed"}}


def write_example(**changes):
    kwargs = dict(
        profile="smoke",
        provenance="real",
        metrics={"cnn": {"test": {"ROC AUC": np.float32(0.75), "MCC": float("nan")}}},
        wall_time_s=12.3456,
        anchors=ANCHORS,
    )
    kwargs.update(changes)
    return write_results("03_pum2_dnabert_lstm", **kwargs)


def test_schema_and_json_safe_values(tmp_data_dir):
    path = write_example(
        models={"cnn": {"parameters": np.int64(1234)}},
        notes=["trained on CPU"],
    )
    assert path == tmp_data_dir.parent / "course_results" / "03_pum2_dnabert_lstm.json"
    record = json.loads(path.read_text())  # strict JSON: NaN would not parse back as null
    assert set(REQUIRED_KEYS) <= set(record)
    assert record["chapter"] == "03_pum2_dnabert_lstm" and record["profile"] == "smoke"
    assert record["provenance"] == "real"
    assert record["metrics"]["cnn"]["test"]["ROC AUC"] == pytest.approx(0.75)
    assert record["metrics"]["cnn"]["test"]["MCC"] is None  # NaN -> null
    assert record["wall_time_s"] == 12.35
    assert record["anchors"] == ANCHORS
    assert record["models"] == {"cnn": {"parameters": 1234}}
    assert record["notes"] == ["trained on CPU"]
    assert {"written_at", "python"} <= set(record)
    assert "NaN" not in path.read_text()


def test_arrays_and_infinities_are_cleaned(tmp_path):
    path = write_example(
        metrics={"per_fold": np.array([0.5, np.nan]), "worst": -np.inf, "n": (1, 2)},
        folder=tmp_path,
    )
    assert path.parent == tmp_path
    assert json.loads(path.read_text())["metrics"] == {
        "per_fold": [0.5, None],
        "worst": None,
        "n": [1, 2],
    }


def test_mixed_provenance_mapping(tmp_path):
    provenance = {"pum2": "real", "backbone": "untrained"}
    path = write_example(provenance=provenance, folder=tmp_path)
    assert json.loads(path.read_text())["provenance"] == provenance


def test_rejects_unknown_profile_and_bad_provenance(tmp_path):
    with pytest.raises(ValueError, match="unknown profile 'quick'"):
        write_example(profile="quick", folder=tmp_path)
    with pytest.raises(ValueError, match="provenance must include 'real' or 'synthetic'"):
        write_example(provenance="simulated", folder=tmp_path)
    with pytest.raises(ValueError, match="provenance must include"):
        write_example(provenance={"backbone": "untrained"}, folder=tmp_path)
    with pytest.raises(ValueError, match="wall_time_s must be a non-negative number"):
        write_example(wall_time_s=-1.0, folder=tmp_path)
    with pytest.raises(ValueError, match="wall_time_s"):
        write_example(wall_time_s=float("nan"), folder=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_read_results_round_trip_and_schema_check(tmp_data_dir):
    write_example()
    write_results(
        "00_sequences",
        profile="laptop",
        provenance="synthetic",
        metrics={},
        wall_time_s=1,
        anchors={},
    )
    results = read_results()
    assert sorted(results) == ["00_sequences", "03_pum2_dnabert_lstm"]
    assert results["00_sequences"]["provenance"] == "synthetic"
    folder = tmp_data_dir.parent / "course_results"
    (folder / "stray.json").write_text(json.dumps({"chapter": "stray", "metrics": {}}))
    with pytest.raises(ValueError, match=r"stray.json lacks \['profile', 'provenance'"):
        read_results(folder)


def test_stopwatch_counts_up():
    watch = Stopwatch()
    first = watch.seconds
    time.sleep(0.01)
    assert 0 <= first < watch.seconds
