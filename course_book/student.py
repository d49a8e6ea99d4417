"""Student versions of the chapters: ``python -m course_book.student [CHAPTERS]``.

A chapter's exercise solutions are cells tagged ``solution`` (and ``hide-cell`` for the site).
The student version replaces each of them by an empty cell of the same kind holding only
:data:`PLACEHOLDER` and tagged ``exercise``, keeps every other cell unchanged, and clears all
outputs and execution counts. Files are written to ``_build/student/<chapter>.ipynb``; the
chapters are those of :data:`course_lib.manifest.CHAPTERS`.

A solution cell whose metadata lists ``answers`` (the names its exercise's check reads) gets
a placeholder that sets each of them to ``None``, so that the check after it reports "not
yet" (see :mod:`course_lib.exercises`) and the student version runs top to bottom. A solution
cell also tagged ``prediction`` (a predict-then-run question) gets
:data:`PREDICTION_PLACEHOLDER` instead: the student writes a guess before the result is computed.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from course_book.run import find_chapters
from course_lib.manifest import CHAPTERS, Chapter
from course_lib.paths import project_root

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"
PLACEHOLDER = "# Your solution here"
MARKDOWN_PLACEHOLDER = "*Your answer here*"
PREDICTION_TAG = "prediction"
PREDICTION_PLACEHOLDER = "# Your prediction here: write it down before you run the cells below"
ANSWERS_KEY = "answers"
#: A code cell whose output is a deterministic teaching fact keeps its stored output in git
#: and in the student version, and ``pytest --nbval-lax`` compares it with a fresh run.
CHECKED_OUTPUT_MARK = "# NBVAL_CHECK_OUTPUT"


def is_solution(cell: NotebookNode) -> bool:
    """Whether ``cell`` is tagged as an exercise solution."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def has_checked_output(cell: NotebookNode) -> bool:
    """Whether ``cell`` is a code cell whose stored output nbval checks."""
    return cell.cell_type == "code" and CHECKED_OUTPUT_MARK in cell.source


def store_checked_outputs(notebook: Path, executed: Path) -> int:
    """Copy the outputs of ``notebook``'s checked cells from its ``executed`` copy.

    Cells are matched by source (papermill adds one injected cell). Returns how many cells
    were updated; every other cell of ``notebook`` stays without outputs.

    Raises
    ------
    ValueError
        A checked cell of ``notebook`` has no cell of the same source in ``executed``.
    """
    nb = nbformat.read(notebook, as_version=4)
    ran = {
        c.source: c for c in nbformat.read(executed, as_version=4).cells if has_checked_output(c)
    }
    n = 0
    for cell in nb.cells:
        if not has_checked_output(cell):
            continue
        if cell.source not in ran:
            raise ValueError(
                f"{executed.name} has no executed copy of the checked cell {cell.source[:60]!r}"
            )
        cell.outputs = [
            o for o in ran[cell.source].outputs if o.get("output_type") != "display_data"
        ]
        for output in cell.outputs:
            if output.get("output_type") == "execute_result":
                output["execution_count"] = None
        cell.execution_count = None
        n += 1
    nbformat.write(nb, notebook)
    return n


def placeholder_cell(
    cell_type: str, answers: list[str] | tuple[str, ...] = (), prediction: bool = False
) -> NotebookNode:
    """An empty exercise cell (code or markdown) tagged ``exercise``.

    ``answers`` are names the exercise's check reads; a code placeholder sets each to ``None``.
    ``prediction``: the placeholder of a predict-then-run question.
    """
    if cell_type == "code":
        first, what = (
            (PREDICTION_PLACEHOLDER, "prediction") if prediction else (PLACEHOLDER, "answer")
        )
        lines = [first, *(f"{name} = None  # your {what}" for name in answers)]
        cell = nbformat.v4.new_code_cell("\n".join(lines))
    elif cell_type == "markdown":
        cell = nbformat.v4.new_markdown_cell(MARKDOWN_PLACEHOLDER)
    else:
        raise ValueError(f"a solution cell must be code or markdown, not {cell_type!r}")
    cell.metadata["tags"] = [EXERCISE_TAG]
    return cell


def strip_solutions(nb: NotebookNode, name: str = "notebook") -> NotebookNode:
    """The student version of ``nb`` (a new notebook; ``nb`` is left unchanged).

    Parameters
    ----------
    nb
        A notebook whose exercise solutions are cells tagged ``solution``.
    name
        Used in error messages.

    Raises
    ------
    ValueError
        ``nb`` has no cell tagged ``solution`` (nothing would be left for the student to do).
    """
    if not any(is_solution(cell) for cell in nb.cells):
        raise ValueError(
            f"{name} has no cell tagged {SOLUTION_TAG!r}: tag each exercise's solution cell "
            f'with ["{SOLUTION_TAG}", "hide-cell"]'
        )
    student = copy.deepcopy(nb)
    student.cells = [
        placeholder_cell(
            cell.cell_type,
            cell.metadata.get(ANSWERS_KEY, ()),
            PREDICTION_TAG in cell.metadata.get("tags", []),
        )
        if is_solution(cell)
        else cell
        for cell in student.cells
    ]
    for number, cell in enumerate(c for c in student.cells if c.cell_type == "code"):
        if has_checked_output(cell):
            # nbval refuses a reference cell with outputs but no execution count ("unrun")
            cell.execution_count = number + 1
        else:
            cell.outputs = []
            cell.execution_count = None
    student.metadata.pop("papermill", None)
    return student


def first_exercise_index(nb: NotebookNode) -> int:
    """Index of the first solution or exercise-placeholder cell.

    Raises
    ------
    ValueError
        ``nb`` has neither.
    """
    for index, cell in enumerate(nb.cells):
        if is_solution(cell) or EXERCISE_TAG in cell.get("metadata", {}).get("tags", []):
            return index
    raise ValueError(f"no cell tagged {SOLUTION_TAG!r} or {EXERCISE_TAG!r}")


def up_to_first_exercise(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` holding only the cells before its first exercise."""
    truncated = copy.deepcopy(nb)
    truncated.cells = truncated.cells[: first_exercise_index(nb)]
    return truncated


def write_student_version(notebook: Path, output_dir: Path) -> Path:
    """Write the student version of ``notebook`` into ``output_dir`` (same file name)."""
    nb = nbformat.read(notebook, as_version=4)
    student = strip_solutions(nb, name=notebook.name)
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / notebook.name
    nbformat.write(student, target)
    return target


def main(argv: list[str] | None = None, chapters: Sequence[Chapter] = CHAPTERS) -> int:
    """Write the student versions of the chosen ``chapters`` (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m course_book.student", description=__doc__.split("\n")[0]
    )
    parser.add_argument("chapters", nargs="*", help="chapter stems or numbers (default: all)")
    parser.add_argument("--source", default=None, help="chapter notebooks (default notebooks/)")
    parser.add_argument("--output", default=None, help="output folder (default _build/student)")
    parser.add_argument(
        "--store-checked-outputs",
        action="store_true",
        help=f"instead: copy the outputs of cells marked {CHECKED_OUTPUT_MARK!r} from "
        "_build/executed into the chapter notebooks (after a smoke run)",
    )
    args = parser.parse_args(argv)
    root = project_root()
    source = Path(args.source) if args.source else root / "notebooks"
    output = Path(args.output) if args.output else root / "_build" / "student"
    try:
        notebooks = find_chapters(args.chapters, source, chapters)
        if args.store_checked_outputs:
            for notebook in notebooks:
                executed = root / "_build" / "executed" / "notebooks" / notebook.name
                n = store_checked_outputs(notebook, executed)
                print(f"{notebook.stem}: stored the outputs of {n} checked cell(s)")
            return 0
        for notebook in notebooks:
            target = write_student_version(notebook, output)
            n_exercises = sum(
                EXERCISE_TAG in c.metadata.get("tags", [])
                for c in nbformat.read(target, as_version=4).cells
            )
            print(f"{notebook.stem}: {n_exercises} solution(s) removed -> {target}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
