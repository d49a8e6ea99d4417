"""Tests of course_lib.exercises: verdicts, the hint ladder, strict mode, comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.exercises import (
    Checker,
    CheckFailed,
    Comparison,
    Exercise,
    Measured,
    Prediction,
    check_prediction,
    compare_arrays,
    compare_choice,
    compare_number,
)

EXERCISE = Exercise("9.1", "double x", ("nudge", "stronger", "look at section 9.2"))


@pytest.fixture
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    return Checker()


def test_not_yet_right_and_the_hint_ladder(lenient, capsys):
    assert lenient.verdict(EXERCISE, None, None).status == "not yet"
    wrong = Comparison(False, "3 is too low")
    messages = [lenient.verdict(EXERCISE, 3, wrong).message for _ in range(4)]
    assert ["nudge" in messages[0], "stronger" in messages[1], "section 9.2" in messages[2]] == [
        True,
        True,
        True,
    ]
    assert "Hint 3 of 3" in messages[3]  # the ladder stops at its last rung
    right = lenient.verdict(EXERCISE, 42, Comparison(True))
    assert right and right.status == "right"
    assert "Hint 1 of 3: nudge" in lenient.verdict(EXERCISE, 3, wrong).message  # starts again
    assert "not yet answered" in capsys.readouterr().out


def test_strict_mode_raises_on_wrong_and_not_yet(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    checker = Checker()
    with pytest.raises(CheckFailed, match="not right yet: off"):
        checker.verdict(EXERCISE, 1, Comparison(False, "off"))
    with pytest.raises(CheckFailed, match="not yet answered"):
        checker.verdict(EXERCISE, None, None)
    assert checker.verdict(EXERCISE, 42, Comparison(True))


def test_compare_arrays_shapes_tolerance_and_tensors():
    expected = np.arange(6.0).reshape(2, 3)
    assert compare_arrays(torch.tensor(expected) + 1e-9, expected, 1e-6, 1e-6).ok
    assert "shape (3, 2), expected (2, 3)" in compare_arrays(expected.T, expected, 0, 0).detail
    off = expected.copy()
    off[0, 0] += 1
    result = compare_arrays(off, expected, 1e-6, 1e-6)
    assert not result.ok and "1 of 6 values differ" in result.detail
    assert "expected numbers" in compare_arrays("abc", expected, 0, 0).detail


def test_compare_number_and_choice_do_not_reveal_the_answer():
    assert compare_number(0.5001, 0.5, rtol=1e-3, atol=0).ok
    high = compare_number(0.9, 0.5, rtol=1e-3, atol=0)
    assert not high.ok and "too high" in high.detail and "0.5" not in high.detail
    assert compare_choice(["R2", "mse"], {"MSE", "r2"}).ok
    partial = compare_choice(["R2"], {"MSE", "R2"})
    assert not partial.ok and "1 are missing" in partial.detail and "MSE" not in partial.detail
    assert compare_choice(" Random7600", "random7600").ok


# ----------------------------------------------------------------------------- predictions

PREDICTION = Prediction("9.4", "how large?", "the size of x")


def test_prediction_is_recorded_with_the_gap_to_the_interval(lenient):
    measured = Measured(0.41, 0.37, 0.45, "It means something computed.")
    above = check_prediction(PREDICTION, 0.8, measured)
    assert above.status == "recorded" and above and above.hint == 0
    assert "you predicted the size of x = 0.8" in above.message.lower()
    assert "0.41 [95 % interval 0.37, 0.45]" in above.message
    assert "0.35 above the run's 95 % interval" in above.message
    assert above.message.endswith("It means something computed.")
    assert "below the run's" in check_prediction(PREDICTION, 0.1, measured).message
    assert "inside" in check_prediction(PREDICTION, 0.4, measured).message
    assert above.record()["status"] == "recorded" and above.record()["hints"] == 0


def test_prediction_without_interval_choice_and_nothing_measured(lenient):
    plain = check_prediction(PREDICTION, 30, Measured(20.0))
    assert "10 above it (50% of it)" in plain.message
    choice = check_prediction(PREDICTION, "Yes", Measured("yes", meaning="Read off the run."))
    assert choice.status == "recorded" and "matches the run's outcome" in choice.message
    assert "differs" in check_prediction(PREDICTION, "no", Measured("yes")).message
    missing = check_prediction(PREDICTION, 0.3, Measured(float("nan")))
    assert missing.status == "recorded" and "no measurement" in missing.message


def test_prediction_not_yet_and_strict_mode(lenient, monkeypatch):
    assert check_prediction(PREDICTION, None, Measured(1.0)).status == "not yet"
    wrong_kind = check_prediction(PREDICTION, "big", Measured(1.0))
    assert wrong_kind.status == "not yet" and "expected a number, got str" in wrong_kind.message
    assert check_prediction(PREDICTION, 1.0, Measured("yes")).status == "not yet"
    assert check_prediction(PREDICTION, True, Measured(1.0)).status == "not yet"
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    assert check_prediction(PREDICTION, 2.0, Measured(1.0))  # recorded passes strict mode
    with pytest.raises(CheckFailed, match="not yet made"):
        check_prediction(PREDICTION, None, Measured(1.0))


# ----------------------------------------------------------------------------- chapter checks


def test_ch1_uaug_effects_from_measured_variants(lenient, monkeypatch):
    from course_lib.chapters import ch1_exercises as ch1x

    base = "C" * 50
    gain = base[:21] + "ATG" + base[24:]  # out of frame: 29 nt before the CDS
    snvs = pd.DataFrame(
        {
            "utr": [gain, base, base],
            "mother": [base, gain, base],
            "obs_diff": [-2.0, 1.5, 0.1],
        }
    )
    np.testing.assert_array_equal(ch1x.out_of_frame_change(snvs), [1, -1, 0])

    def predict(seqs):
        return np.array([-1.0 if "ATG" in s else 0.0 for s in seqs])

    table = ch1x.uaug_effects(snvs, predict)
    np.testing.assert_allclose(table, [[-2.0, -1.0], [1.5, 1.0]])
    monkeypatch.setattr(ch1x, "head_predictor", lambda head, device: predict)  # a fake head
    assert ch1x.check_exercise_1(table, snvs, None, "cpu")
    assert ch1x.check_exercise_1(table[::-1], snvs, None, "cpu").status == "wrong"


def test_ch1_ch2_predictions_read_the_run_tables(lenient):
    from course_lib.chapters import ch1_exercises as ch1x
    from course_lib.chapters import ch2_exercises as ch2x

    paired = pd.DataFrame(
        {
            "question": ["embedding", "embedding"],
            "a": ["emb", "emb"],
            "b": ["seq", "seq"],
            "test set": ["Random7600", "Human7600"],
            "R2 a - b": [0.2, -0.01],
            "ci low": [0.1, -0.03],
            "ci high": [0.3, 0.02],
            "conclusion": ["x.", "emb minus seq: the interval spans zero."],
        }
    )
    verdict = ch1x.check_exercise_3(0.05, paired, "seq")
    assert "-0.01 [95 % interval -0.03, 0.02]" in verdict.message
    assert "the interval spans zero" in verdict.message
    index = pd.MultiIndex.from_tuples(
        [("Optimus evolution", "eGFP 20k"), ("Optimus evolution", "Human 25k")]
    )
    table = pd.DataFrame(
        {"Pearson r^2": [0.92, 0.77], "Pearson r^2 low": [0.91, 0.76]}, index=index
    ).assign(**{"Pearson r^2 high": [0.93, 0.78]})
    verdict = ch2x.check_exercise_4(0.5, table)
    assert verdict.status == "recorded" and "On Human 25k the same model measured 0.770" in (
        verdict.message
    )


def test_ch5_transfer_and_copy_prediction(lenient):
    from course_lib.chapters import ch5_exercises as ch5x

    libraries = {
        "a": pd.DataFrame({"utr": ["A", "AA", "AAA"], "rl": [1.0, 2.0, 3.0]}),
        "b": pd.DataFrame({"utr": ["A", "AA", "AAA"], "rl": [3.0, 2.0, 1.0]}),
    }

    def predict(seqs):
        return np.array([len(s) + 1.0 for s in seqs])

    table = ch5x.library_transfer(libraries, predict)
    np.testing.assert_allclose(table, [[1.0, 1.0], [-1.0, 1.0]])
    assert ch5x.check_exercise_1(table, libraries, predict)
    assert ch5x.check_exercise_1(table + 0.1, libraries, predict).status == "wrong"
    key = "model accuracy - copy accuracy"
    controls = {
        "masked-token accuracy vs copy baseline, b": {
            "copy accuracy": 0.3,
            key: 0.04,
            f"{key} interval": (0.02, 0.06),
        },
        "masked-token accuracy vs copy baseline, c": {key: 0.001, f"{key} interval": (-1, 1)},
    }
    verdict = ch5x.check_exercise_3(0.1, controls, "b", "c")
    assert verdict.status == "recorded" and "above 0: (b) learned more" in verdict.message
