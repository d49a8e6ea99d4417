"""Tests of course_lib.exercises: verdicts, the hint ladder, strict mode, comparisons."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.exercises import (
    Checker,
    CheckFailed,
    Comparison,
    Exercise,
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
