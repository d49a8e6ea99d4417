"""Student versions of the chapters: solutions removed, everything before the first exercise runs.

Re-executing every chapter would double the CI time, so the student version of each chapter is
checked against the runner's executed copy (same cells up to the first exercise, all of which
executed without error); chapter 00's student version is also executed for real up to its first
exercise.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat
import pytest

from course_book.student import (
    EXERCISE_TAG,
    MARKDOWN_PLACEHOLDER,
    PLACEHOLDER,
    PREDICTION_PLACEHOLDER,
    PREDICTION_TAG,
    first_exercise_index,
    is_solution,
    main,
    strip_solutions,
    up_to_first_exercise,
    write_student_version,
)
from course_lib.manifest import CHAPTERS, Chapter

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT / chapter.notebook for chapter in CHAPTERS]
EXECUTED = ROOT / "_build" / "executed" / "notebooks"
CHAPTER_IDS = [chapter.stem for chapter in CHAPTERS]


def _tagged(cell, *tags: str):
    cell.metadata["tags"] = list(tags)
    return cell


def _hand_built() -> nbformat.NotebookNode:
    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["papermill"] = {"parameters": {"profile": "smoke"}}
    setup = v4.new_code_cell("x = 21")
    setup.outputs = [v4.new_output("stream", text="noise\n")]
    setup.execution_count = 3
    nb.cells = [
        v4.new_markdown_cell("# Chapter 9: Test"),
        _tagged(v4.new_code_cell('profile = "laptop"'), "parameters"),
        setup,
        v4.new_markdown_cell("### Exercise 1: double x"),
        _tagged(v4.new_code_cell("y = 2 * x\nassert y == 42"), "solution", "hide-cell"),
        v4.new_markdown_cell("### Exercise 2: explain"),
        _tagged(v4.new_markdown_cell("Because SECRET."), "solution"),
        v4.new_code_cell("print(x)"),
    ]
    return nb


def test_solutions_become_empty_exercise_cells() -> None:
    nb = _hand_built()
    student = strip_solutions(nb)
    assert len(student.cells) == len(nb.cells)
    code_placeholder, markdown_placeholder = student.cells[4], student.cells[6]
    assert code_placeholder.cell_type == "code" and code_placeholder.source == PLACEHOLDER
    assert markdown_placeholder.cell_type == "markdown"
    assert markdown_placeholder.source == MARKDOWN_PLACEHOLDER
    for cell in (code_placeholder, markdown_placeholder):
        assert cell.metadata["tags"] == [EXERCISE_TAG]
    text = "".join(c.source for c in student.cells)
    assert "assert y == 42" not in text and "SECRET" not in text
    assert not any(is_solution(c) for c in student.cells)


def test_other_cells_are_kept_and_outputs_cleared() -> None:
    nb = _hand_built()
    student = strip_solutions(nb)
    for index in (0, 1, 2, 3, 5, 7):
        assert student.cells[index].source == nb.cells[index].source
        assert student.cells[index].metadata == nb.cells[index].metadata
    assert student.cells[2].outputs == [] and student.cells[2].execution_count is None
    assert "papermill" not in student.metadata
    assert student.metadata["kernelspec"]["name"] == "python3"
    # the input is left untouched
    assert nb.cells[4].source.startswith("y = 2 * x") and nb.cells[2].execution_count == 3
    assert "papermill" in nb.metadata


def test_a_notebook_without_solutions_is_an_error() -> None:
    nb = _hand_built()
    nb.cells = [c for c in nb.cells if not is_solution(c)]
    with pytest.raises(ValueError, match=r"lonely\.ipynb has no cell tagged 'solution'"):
        strip_solutions(nb, name="lonely.ipynb")
    with pytest.raises(ValueError, match="no cell tagged"):
        first_exercise_index(nb)


def test_truncation_stops_before_the_first_exercise() -> None:
    nb = _hand_built()
    assert first_exercise_index(nb) == 4
    student = strip_solutions(nb)
    assert first_exercise_index(student) == 4
    truncated = up_to_first_exercise(student)
    assert [c.source for c in truncated.cells] == [c.source for c in nb.cells[:4]]
    assert len(student.cells) == 8


def test_command_line_writes_valid_notebooks(tmp_path: Path, capsys) -> None:
    source = tmp_path / "notebooks"
    source.mkdir()
    nbformat.write(_hand_built(), source / "00_demo.ipynb")
    nbformat.write(_hand_built(), source / "01_other.ipynb")
    manifest = (Chapter(0, "00_demo", "Demo", "m0"), Chapter(1, "01_other", "Other", "m1"))
    out = str(tmp_path / "student")
    assert main(["00", "--source", str(source), "--output", out], manifest) == 0
    assert "00_demo: 2 solution(s) removed" in capsys.readouterr().out
    written = tmp_path / "student" / "00_demo.ipynb"
    nbformat.validate(nbformat.read(written, as_version=4))
    assert not (tmp_path / "student" / "01_other.ipynb").exists()
    assert main(["07", "--source", str(source), "--output", out], manifest) == 2
    assert "no chapter '07'" in capsys.readouterr().err
    (source / "01_other.ipynb").unlink()
    assert main(["--source", str(source), "--output", out], manifest) == 2
    assert "lacks 01_other.ipynb, listed in course_lib/manifest.py" in capsys.readouterr().err


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=CHAPTER_IDS)
def test_student_version_of_chapter(notebook: Path, tmp_path: Path) -> None:
    original = nbformat.read(notebook, as_version=4)
    student = nbformat.read(write_student_version(notebook, tmp_path), as_version=4)
    n_solutions = sum(is_solution(c) for c in original.cells)
    exercises = [c for c in student.cells if EXERCISE_TAG in c.metadata.get("tags", [])]
    assert len(exercises) == n_solutions >= 2
    starts = (PLACEHOLDER, MARKDOWN_PLACEHOLDER, PREDICTION_PLACEHOLDER)
    assert all(c.source.startswith(starts) for c in exercises)
    predictions = [
        c for c in original.cells if is_solution(c) and PREDICTION_TAG in c.metadata.tags
    ]
    asked = [c for c in exercises if c.source.startswith(PREDICTION_PLACEHOLDER)]
    assert len(asked) == len(predictions) >= 1
    assert not any(is_solution(c) for c in student.cells)
    first = first_exercise_index(original)
    assert first_exercise_index(student) == first
    assert [c.source for c in student.cells[:first]] == [c.source for c in original.cells[:first]]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=CHAPTER_IDS)
def test_cells_before_the_first_exercise_executed_cleanly(notebook: Path) -> None:
    """The runner's executed copy ran every cell the student version keeps before exercise 1."""
    executed = EXECUTED / notebook.name
    if not executed.exists():
        if os.environ.get("COURSE_REQUIRE_BUILD"):
            pytest.fail(f"{executed} is missing: run `python -m course_book.run` first")
        pytest.skip(f"{executed} not built; run `make book` first")
    run = nbformat.read(executed, as_version=4)
    first = first_exercise_index(run)
    student = up_to_first_exercise(strip_solutions(nbformat.read(notebook, as_version=4)))
    # papermill may insert an "injected-parameters" cell after the parameters cell
    kept = [c for c in run.cells[:first] if "injected-parameters" not in c.metadata.get("tags", [])]
    assert [c.source for c in kept] == [c.source for c in student.cells]
    for cell in kept:
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, f"cell {cell.source[:60]!r} did not run"
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{notebook.name}: {errors[0].ename}: {errors[0].evalue}"


@pytest.mark.notebook
def test_student_version_of_chapter_00_runs_up_to_its_first_exercise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill

    notebook = ROOT / "notebooks" / "00_sequences.ipynb"
    student = strip_solutions(nbformat.read(notebook, as_version=4), name=notebook.name)
    truncated = tmp_path / "00_sequences_student.ipynb"
    nbformat.write(up_to_first_exercise(student), truncated)
    monkeypatch.setenv("COURSE_PROGRESS", "text")
    monkeypatch.setenv("MPLBACKEND", "agg")
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))  # never touch results/
    papermill.execute_notebook(
        str(truncated),
        str(tmp_path / "executed.ipynb"),
        parameters={"profile": "smoke"},
        cwd=str(notebook.parent),
        kernel_name="python3",
        execution_timeout=150,
        progress_bar=False,
    )
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code)


def test_placeholder_sets_the_answers_a_check_reads() -> None:
    nb = _hand_built()
    nb.cells[4].metadata["answers"] = ["y"]
    student = strip_solutions(nb)
    assert student.cells[4].source == f"{PLACEHOLDER}\ny = None  # your answer"
    namespace = {}
    exec(student.cells[4].source, namespace)
    assert namespace["y"] is None


def test_checked_outputs_are_stored_kept_and_only_theirs(tmp_path: Path) -> None:
    from course_book.student import CHECKED_OUTPUT_MARK, store_checked_outputs

    v4 = nbformat.v4
    source = v4.new_notebook()
    checked = f"{CHECKED_OUTPUT_MARK}\nprint(len('ACGT'))"
    source.cells = [v4.new_code_cell(checked), v4.new_code_cell("print(1)")]
    source.cells.append(_tagged(v4.new_code_cell("y = 2"), "solution"))
    executed = copy.deepcopy(source)
    for cell in executed.cells:
        cell.outputs = [v4.new_output("stream", text="4\n")]
        cell.execution_count = 1
    nbformat.write(source, tmp_path / "nb.ipynb")
    nbformat.write(executed, tmp_path / "run.ipynb")
    assert store_checked_outputs(tmp_path / "nb.ipynb", tmp_path / "run.ipynb") == 1
    stored = nbformat.read(tmp_path / "nb.ipynb", as_version=4)
    assert stored.cells[0].outputs[0]["text"] == "4\n" and stored.cells[0].execution_count is None
    assert stored.cells[1].outputs == []
    student = strip_solutions(executed)
    assert student.cells[0].outputs and not student.cells[1].outputs
    assert student.cells[0].execution_count == 1  # nbval checks only cells it thinks were run
    assert student.cells[1].execution_count is None
