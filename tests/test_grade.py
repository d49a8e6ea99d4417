"""Tests of course_book.grade: four planted submissions run in strict mode under a time limit."""

from __future__ import annotations

import csv

import psutil
import pytest
from planted_notebooks import NEVER_ENDS, planted, write

from course_book import grade
from course_book.progress_report import CheckResult

#: Seconds per submission: several kernel starts on two busy cores fit; the endless one stops.
TIME_LIMIT = 15.0


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """The CSV rows, by student, of four planted submissions and a broken file (two at a time).

    ``amy``'s never ends and starts first, so the others run one after another beside it.
    """
    root = tmp_path_factory.mktemp("submissions")
    write(planted(second=NEVER_ENDS), root / "amy" / "09_planted.ipynb")
    write(planted(), root / "ben" / "09_planted.ipynb")
    write(planted(first="double = 5"), root / "bob" / "09_planted.ipynb")
    write(planted(second="raise ValueError('planted failure')"), root / "cy" / "09_planted.ipynb")
    (root / "eve.ipynb").write_text("{this is not a notebook")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    output = root.parent / "grades.csv"
    argv = [str(root), "--output", str(output), "--timeout", str(TIME_LIMIT), "--jobs", "2"]
    assert grade.main(argv) == 0
    left = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not left, "the endless submission's kernel was not killed"
    with output.open() as handle:
        rows = list(csv.DictReader(handle))
    return {row["student"]: row for row in rows}


def test_each_outcome_gets_its_status_and_counts(graded):
    rows = graded
    got = {s: (r["status"], r["checks_passed"], r["checks_total"]) for s, r in rows.items()}
    assert got == {
        "ben": ("ok", "2", "2"),
        "bob": ("failed", "1", "2"),
        "cy": ("error", "1", "2"),
        "amy": ("timeout", got["amy"][1], "2"),
        "eve": ("error", "0", "0"),
    }
    assert rows["ben"]["chapter"] == "chapter 9" and rows["ben"]["reasons"] == ""


def test_reasons_name_every_failed_check_and_the_stop(graded):
    rows = graded
    assert rows["bob"]["reasons"] == "Exercise 9.1 (double two): not right yet: 5 is too high"
    cy = rows["cy"]["reasons"].split(" | ")
    assert cy[0].endswith(": check not run") and "raised ValueError: planted failure" in cy[1]
    assert f"stopped by the time limit of {TIME_LIMIT:g} s in cell" in rows["amy"]["reasons"]
    assert float(rows["amy"]["wall_time_s"]) < TIME_LIMIT + 10
    assert "not a Jupyter notebook" in rows["eve"]["reasons"]


def test_clear_errors_for_a_missing_folder_or_a_file(tmp_path, capsys):
    assert grade.main([str(tmp_path / "missing")]) == 2
    assert "no such folder of submissions" in capsys.readouterr().err
    notebook = write(planted(), tmp_path / "one.ipynb")
    assert grade.main([str(notebook)]) == 2
    assert "a file, not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert grade.main([str(tmp_path / "empty")]) == 2
    assert "holds no notebook" in capsys.readouterr().err


def test_a_chapter_counts_its_declared_exercises_even_when_a_check_is_deleted():
    from course_lib.chapters.ch0_exercises import EXERCISES

    declared = grade.expected_exercises("00_sequences")
    assert [e.number for e in declared] == [e.number for e in EXERCISES.values()]
    assert grade.expected_exercises("chapter 9") == ()
    first, second, prediction = declared
    wrong = CheckResult(
        "0.1", first.title, "wrong", 1, 3, 5, "Exercise 0.1 (t): not right yet: x\nHint"
    )
    right = CheckResult("0.1", first.title, "right", 0, 3, 6, "Exercise 0.1 (t): right.")
    forged = CheckResult("7.7", "forged", "right", 0, 3, 7, "Exercise 7.7: right.")
    assert grade.score([wrong, right, forged], (first, second)) == (
        1,
        2,
        [f"Exercise 0.2 ({second.title}): no verdict"],
    )
    assert grade.score([right, wrong], (first,)) == (0, 1, ["Exercise 0.1 (t): not right yet: x"])
    assert grade.score([wrong, forged], ()) == (1, 2, ["Exercise 0.1 (t): not right yet: x"])
    recorded = CheckResult(prediction.number, prediction.title, "recorded", 0, 0, 8, "recorded")
    assert grade.score([right, recorded], (first, prediction)) == (2, 2, [])  # a prediction passes
