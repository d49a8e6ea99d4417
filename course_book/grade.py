"""Grade submitted notebooks: ``python -m course_book.grade SUBMISSIONS --output grades.csv``.

Every notebook under ``SUBMISSIONS`` (``<student>/<chapter>.ipynb`` or flat files;
``.ipynb_checkpoints`` left out) is copied into a temporary folder of its own and executed
there with papermill under a profile (default ``smoke``), in strict mode
(:data:`course_lib.exercises.STRICT_ENV`), with its results and checkpoints in that folder.
A failed check raises :class:`course_lib.exercises.CheckFailed`; the run goes on past it
(nbclient's ``allow_error_names``) so that every check is graded, and stops at any other
error. Each notebook runs in a process of its own (forked, so papermill is imported once) under a
wall-clock limit (``--timeout``, kernel start included); at the limit the process and its
kernel are killed. ``--jobs N`` runs N notebooks at once, each kernel with ``cores // N``
threads (:func:`course_book.run.limit_threads`). Submissions are code from others: grade them
in a container or a virtual machine.

The grade table (CSV) has one row per notebook: submission (its path under ``SUBMISSIONS``),
student (the first folder, else the file's stem), chapter, checks passed, checks total (the
exercises the chapter's module declares, each by its last verdict; for a notebook of no known
chapter, the verdicts and check cells found by :mod:`course_book.progress_report`), status,
reasons and wall time:

- ``ok``: every check passed (right, or a prediction recorded);
- ``failed``: the notebook ran to the end, some check did not pass;
- ``error``: a cell raised something other than a failed check, or the file is no notebook;
- ``timeout``: stopped by the time limit.

``reasons`` holds, separated by `` | ``, the first line of every check that did not pass and
the error or the time limit that stopped the run.
"""

from __future__ import annotations

import argparse
import copy
import csv
import functools
import importlib
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path

import nbformat
import psutil
from nbformat import NotebookNode

from course_book.progress_report import (
    CheckResult,
    ReportError,
    chapter_of,
    checks_in,
    notebook_paths,
    read_notebook,
)
from course_book.run import limit_threads, private_kernel
from course_lib.exercises import PASSING, STRICT_ENV, Exercise
from course_lib.manifest import CHAPTERS
from course_lib.profiles import PROFILE_NAMES, check_profile
from course_lib.progress import progress

CHECK_FAILED = "CheckFailed"
ERROR_FILE = "papermill_error.txt"


@dataclass(frozen=True)
class Grade:
    """One row of the grade table (see the module docstring)."""

    submission: str
    student: str
    chapter: str
    checks_passed: int
    checks_total: int
    status: str
    reasons: str
    wall_time_s: float


def execute(source: Path, target: Path, profile: str) -> None:
    """Run ``source`` into ``target`` with papermill in strict mode (in a child process).

    The kernel runs in ``target``'s folder with results and checkpoints there. An exception
    other than a cell's error (e.g. a kernel that cannot start) is written to
    :data:`ERROR_FILE` beside ``target``.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    folder = target.parent
    os.environ.update(
        {
            STRICT_ENV: "1",
            "COURSE_PROFILE": profile,
            "COURSE_PROGRESS": "text",
            "COURSE_RESULTS_DIR": str(folder / "results"),
            "COURSE_CHECKPOINT_DIR": str(folder / "checkpoints"),
        }
    )
    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters={"profile": profile},
            cwd=str(folder),
            kernel_name="python3",
            progress_bar=False,
            allow_error_names=[CHECK_FAILED],
            config=private_kernel(folder),
        )
    except PapermillExecutionError:
        pass  # the cell's error is in the executed notebook
    except Exception as err:  # noqa: BLE001  (reported in the grade table)
        (folder / ERROR_FILE).write_text(f"{type(err).__name__}: {err}")


def kill_tree(pid: int) -> None:
    """Kill the process ``pid`` and every process below it (the kernel included)."""
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    processes = [*parent.children(recursive=True), parent]
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(processes, timeout=10)


def cleared(nb: NotebookNode) -> NotebookNode:
    """A copy of ``nb`` without outputs: what was submitted counts only once re-run."""
    blank = copy.deepcopy(nb)
    for cell in blank.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return blank


def _running_cell(nb: NotebookNode) -> str:
    """Which cell papermill marked as running, as text for a reason."""
    for index, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            return f" in cell {index}"
    return ""


def cell_errors(nb: NotebookNode) -> list[str]:
    """``"cell i raised E: message"`` for each error output that is not a failed check."""
    return [
        f"cell {index} raised {output.get('ename')}: {output.get('evalue')}"
        for index, cell in enumerate(nb.cells)
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error" and output.get("ename") != CHECK_FAILED
    ]


@functools.cache
def expected_exercises(chapter: str) -> tuple[Exercise, ...]:
    """The exercises the manifest's chapter ``chapter`` (a stem) declares; ``()`` for others.

    Read from the ``EXERCISES`` of the chapter's exercises module (``chN_exercises`` beside the
    chapter module, else the chapter module), so that a check a student deleted still counts.
    """
    for entry in CHAPTERS:
        if entry.stem == chapter:
            module = importlib.import_module(entry.part("exercises"))
            return tuple(getattr(module, "EXERCISES", {}).values())
    return ()


def _reason(check: CheckResult) -> str:
    """The first line of a check's verdict, or where a check cell gave none."""
    if check.exercise:
        return check.message.strip().splitlines()[0]
    return f"cell {check.cell}: check {check.status}"


def score(
    checks: Sequence[CheckResult], expected: Sequence[Exercise]
) -> tuple[int, int, list[str]]:
    """Checks passed, checks total and the reason of each check not passed.

    Without ``expected`` every check found counts; with it, exactly those exercises count, each
    by its last verdict (an exercise without one fails with ``no verdict``).
    """
    if not expected:
        reasons = [_reason(c) for c in checks if c.status not in PASSING]
        return len(checks) - len(reasons), len(checks), reasons
    last = {c.exercise: c for c in checks if c.exercise}
    reasons = []
    for exercise in expected:
        check = last.get(exercise.number)
        if check is None:
            reasons.append(f"Exercise {exercise.number} ({exercise.title}): no verdict")
        elif check.status not in PASSING:
            reasons.append(_reason(check))
    return len(expected) - len(reasons), len(expected), reasons


def assess(
    nb: NotebookNode, finished: bool, timeout: float, expected: Sequence[Exercise] = ()
) -> tuple[int, int, str, list[str]]:
    """Checks passed, checks total, status and reasons of an executed notebook.

    Parameters
    ----------
    nb
        The executed copy (as far as it ran).
    finished
        Whether the run ended before the time limit.
    timeout
        The time limit in seconds (named in the reason).
    expected
        The chapter's exercises (see :func:`score`); empty for a notebook of no known chapter.
    """
    passed, total, reasons = score(checks_in(nb), expected)
    errors = cell_errors(nb)
    if not finished:
        status = "timeout"
        reasons.append(f"stopped by the time limit of {timeout:g} s{_running_cell(nb)}")
    elif errors:
        status = "error"
        reasons.extend(errors)
    elif not total:
        status = "failed"
        reasons.append("no exercise check found in the notebook")
    else:
        status = "ok" if passed == total else "failed"
    return passed, total, status, reasons


@dataclass
class Submission:
    """A submitted notebook being run: its path, what it holds, its folder and its process."""

    relative: Path
    notebook: NotebookNode
    folder: tempfile.TemporaryDirectory
    process: BaseProcess
    start: float


def student_of(relative: Path) -> str:
    """The first folder of a submission's path under the submissions folder, else its stem."""
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def launch(path: Path, root: Path, profile: str) -> Submission | Grade:
    """Copy ``path`` into a temporary folder and start running it in a forked process.

    Returns the running :class:`Submission`, or the ``error`` grade of a file that is not a
    notebook.
    """
    relative = path.relative_to(root)
    try:
        nb = read_notebook(path)
    except ReportError as err:
        return Grade(relative.as_posix(), student_of(relative), "", 0, 0, "error", str(err), 0.0)
    folder = tempfile.TemporaryDirectory(prefix="course_grade_")
    source = Path(folder.name) / "submitted.ipynb"
    shutil.copyfile(path, source)
    target = Path(folder.name) / "executed.ipynb"
    process = multiprocessing.get_context("fork").Process(
        target=execute, args=(source, target, profile)
    )
    process.start()
    return Submission(relative, nb, folder, process, time.perf_counter())


def finish(run: Submission, timeout: float) -> Grade:
    """Stop ``run`` if it still runs (the time limit), grade it, remove its folder."""
    finished = not run.process.is_alive()
    if not finished:
        kill_tree(run.process.pid)
    run.process.join()
    wall = round(time.perf_counter() - run.start, 1)
    target, failure = Path(run.folder.name) / "executed.ipynb", Path(run.folder.name) / ERROR_FILE
    executed = nbformat.read(target, as_version=4) if target.exists() else cleared(run.notebook)
    chapter = chapter_of(run.notebook, run.relative)
    passed, total, status, reasons = assess(
        executed, finished, timeout, expected_exercises(chapter)
    )
    if failure.exists() or (finished and not target.exists()):
        status = "error"
        reasons.append(failure.read_text() if failure.exists() else "papermill wrote nothing")
    run.folder.cleanup()
    joined = " | ".join(reasons)
    return Grade(
        run.relative.as_posix(),
        student_of(run.relative),
        chapter,
        passed,
        total,
        status,
        joined,
        wall,
    )


def grade_all(root: Path, profile: str, timeout: float, jobs: int = 1) -> list[Grade]:
    """Grade every notebook under ``root``, ``jobs`` at a time, with a progress bar.

    Returns
    -------
    list of Grade
        One per notebook, sorted by submission.

    Raises
    ------
    ReportError
        ``root`` is missing, not a folder, or holds no notebook.
    """
    if not root.is_dir():
        what = "a file, not a folder" if root.exists() else "no such folder"
        raise ReportError(f"{root}: {what} of submissions")
    waiting, running, grades = notebook_paths(root), [], []
    import papermill  # noqa: F401  (imported once here: the forked runs start without it)

    with progress(total=len(waiting), desc="grading", unit="notebook") as bar:
        while waiting or running:
            while waiting and len(running) < jobs:
                started = launch(waiting.pop(0), root, profile)
                if isinstance(started, Submission):
                    running.append(started)
                else:
                    grades.append(started)
            wait([r.process.sentinel for r in running], timeout=0.2)
            now = time.perf_counter()
            for run in [r for r in running if not r.process.is_alive() or now - r.start > timeout]:
                running.remove(run)
                grades.append(finish(run, timeout))
            if len(grades) > bar.n:
                bar.update(len(grades) - bar.n)
    return sorted(grades, key=lambda g: g.submission)


def write_csv(grades: Sequence[Grade], output: Path) -> None:
    """Write ``grades`` to ``output`` with a header row (the fields of :class:`Grade`)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f.name for f in fields(Grade)])
        writer.writerows(astuple(g) for g in grades)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_book.grade", description=__doc__.split("\n")[0]
    )
    parser.add_argument("submissions", type=Path, help="folder of submitted notebooks")
    parser.add_argument("--output", type=Path, default=Path("grades.csv"), help="the CSV to write")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds per notebook, kernel start included"
    )
    parser.add_argument("--profile", default="smoke", choices=PROFILE_NAMES)
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Grade, write the CSV and print one line per notebook; the exit status (2 on errors)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.timeout <= 0 or args.jobs < 1:
        parser.error("--timeout must be positive and --jobs at least 1")
    limit_threads(args.jobs)
    try:
        grades = grade_all(args.submissions, check_profile(args.profile), args.timeout, args.jobs)
    except ReportError as err:
        print(f"grade: {err}", file=sys.stderr)
        return 2
    write_csv(grades, args.output)
    for g in grades:
        print(f"{g.submission}: {g.status}, {g.checks_passed} of {g.checks_total} checks passed")
    print(f"grade table: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
