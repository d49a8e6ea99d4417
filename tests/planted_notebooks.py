"""Tiny notebooks with two exercise checks, written the way chapters call course_lib.exercises.

Used by ``tests/test_progress_report.py`` and ``tests/test_grade.py``: exercise 9.1 expects
``double == 4``, exercise 9.2 expects ``triple == 6``; each answer sits in a cell tagged
``solution`` followed by a cell calling its check, as in the chapters.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import NotebookNode

DEFINITIONS = """\
from course_lib.exercises import Exercise, check, compare_number

EXERCISES = {
    1: Exercise("9.1", "double two", ("nudge", "stronger", "look at section 9.1")),
    2: Exercise("9.2", "triple two", ("nudge", "stronger", "look at section 9.2")),
}


def check_exercise_1(answer):
    return check(EXERCISES[1], answer, lambda a: compare_number(a, 4.0, rtol=0, atol=1e-9))


def check_exercise_2(answer):
    return check(EXERCISES[2], answer, lambda a: compare_number(a, 6.0, rtol=0, atol=1e-9))
"""

#: The second solution cell of a notebook whose kernel never finishes.
NEVER_ENDS = "import time\nwhile True:\n    time.sleep(0.05)"


def planted(first: str = "double = 4", second: str = "triple = 6") -> NotebookNode:
    """A notebook of chapter 9 whose solution cells hold ``first`` and ``second``."""
    cells = [
        nbformat.v4.new_markdown_cell("# Chapter 9: Planted exercises"),
        nbformat.v4.new_code_cell(
            'import os\nprofile = os.environ.get("COURSE_PROFILE", "laptop")'
        ),
        nbformat.v4.new_code_cell(DEFINITIONS),
        nbformat.v4.new_code_cell(first),
        nbformat.v4.new_code_cell("check_exercise_1(double);"),
        nbformat.v4.new_code_cell(second),
        nbformat.v4.new_code_cell("check_exercise_2(triple)"),
    ]
    cells[1].metadata["tags"] = ["parameters"]
    cells[3].metadata["tags"] = cells[5].metadata["tags"] = ["solution", "hide-cell"]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def write(nb: NotebookNode, path: Path) -> Path:
    """Write ``nb`` to ``path`` (parents created); return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
