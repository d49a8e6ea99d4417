"""Tests of course_book.progress_report on planted notebooks, one executed by a real kernel."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from planted_notebooks import planted, write

from course_book import progress_report
from course_book.progress_report import ReportError, collect
from course_lib.exercises import STRICT_ENV, VERDICT_KEY, Checker, Comparison, Exercise


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A planted notebook run by a kernel (not strict), exercise 9.1 run three times wrong."""
    folder = tmp_path_factory.mktemp("executed")
    nb = planted(first="double = 5", second="triple = None")
    nb.cells[4].source = "for _ in range(3):\n    check_exercise_1(double)"
    nb.cells.append(nbformat.v4.new_code_cell("check_exercise_1(2 * 2)"))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(STRICT_ENV, raising=False)
        client = NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(folder)}})
        client.execute()
    return write(nb, folder / "student" / "09_planted.ipynb")


def test_a_verdict_in_a_kernel_carries_its_record_as_metadata(executed):
    outputs = nbformat.read(executed, as_version=4).cells[4].outputs
    records = [o.metadata[VERDICT_KEY] for o in outputs if VERDICT_KEY in o.get("metadata", {})]
    assert [r["hint"] for r in records] == [1, 2, 3]
    assert records[0] | {"hint": 0} == {
        "exercise": "9.1",
        "title": "double two",
        "status": "wrong",
        "hint": 0,
        "hints": 3,
    }
    assert "Hint 3 of 3: look at section 9.1" in outputs[-1].data["text/plain"]


def test_outside_a_kernel_a_verdict_is_printed(capsys, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    verdict = Checker().verdict(Exercise("9.1", "t", ("a", "b", "c")), 1, Comparison(False, "x"))
    assert verdict.record()["hint"] == 1 and "Hint 1 of 3: a" in capsys.readouterr().out


def test_report_lists_status_and_hint_rung_per_check(executed, tmp_path):
    (report,) = collect(executed.parent.parent)
    assert report.path == "student/09_planted.ipynb" and report.chapter == "chapter 9"
    assert report.sha256 == hashlib.sha256(executed.read_bytes()).hexdigest()
    got = [(c.exercise, c.status, c.hint) for c in report.checks]
    assert got == [
        ("9.1", "wrong", 1),
        ("9.1", "wrong", 2),
        ("9.1", "wrong", 3),
        ("9.2", "not yet", 0),
        ("9.1", "right", 0),
    ]
    assert report.counts()["wrong"] == 3 and report.counts()["not run"] == 0


def test_unexecuted_check_cells_and_errors_are_listed(executed, tmp_path):
    nb = nbformat.read(executed, as_version=4)
    nb.cells[6].outputs, nb.cells[6].execution_count = [], None  # never ran
    error = nbformat.v4.new_output(
        "error", ename="NameError", evalue="name 'double' is not defined", traceback=[]
    )
    nb.cells[4].outputs = [error]
    (report,) = collect(write(nb, tmp_path / "edited.ipynb"))
    assert [c.status for c in report.checks] == ["error", "not run", "right"]
    assert (
        "NameError" in report.checks[0].message
        and report.checks[1].title == "check_exercise_2(triple)"
    )


def test_cli_writes_markdown_and_json(executed, tmp_path, capsys):
    assert progress_report.main([str(executed), "--output", str(tmp_path / "r.json")]) == 0
    data = json.loads((tmp_path / "r.json").read_text())
    (notebook,) = data["notebooks"]
    assert notebook["counts"]["right"] == 1 and notebook["checks"][2]["hint"] == 3
    assert progress_report.main([str(executed), "--output", str(tmp_path / "r.md")]) == 0
    markdown = (tmp_path / "r.md").read_text()
    assert "| 9.1 | double two | wrong | 3 of 3 | 4 |" in markdown
    assert notebook["sha256"] in markdown and "3 wrong" in capsys.readouterr().out


def test_clear_errors(tmp_path, capsys):
    with pytest.raises(ReportError, match="no such file or folder"):
        collect(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ReportError, match="not a Jupyter notebook"):
        collect(tmp_path / "notes.txt")
    (tmp_path / "broken.ipynb").write_text("{not json")
    with pytest.raises(ReportError, match="not a Jupyter notebook nbformat can read"):
        collect(tmp_path / "broken.ipynb")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportError, match="holds no notebook"):
        collect(tmp_path / "empty")
    write(planted(), tmp_path / "fresh.ipynb")
    with pytest.raises(ReportError, match="has no outputs: it was not executed"):
        collect(tmp_path / "fresh.ipynb")
    in_folder = {r.path: r.problem for r in collect(tmp_path)}  # a folder lists them instead
    assert (
        "has no outputs" in in_folder["fresh.ipynb"]
        and "not a Jupyter" in in_folder["broken.ipynb"]
    )
    assert progress_report.main([str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_a_recorded_prediction_is_listed_and_counted():
    record = {"exercise": "9.3", "title": "p", "status": "recorded", "hint": 0, "hints": 0}
    cell = nbformat.v4.new_code_cell("check_exercise_3(guess)")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/plain": "recorded"}, metadata={VERDICT_KEY: record}
        )
    ]
    cell.execution_count = 1
    (check,) = progress_report.checks_in(nbformat.v4.new_notebook(cells=[cell]))
    assert (check.exercise, check.status) == ("9.3", "recorded")
    assert progress_report.STATUSES.index("recorded") == 1  # listed right after "right"
