"""A progress report from executed notebooks: ``python -m course_book.progress_report PATH``.

``PATH`` is a notebook or a folder of notebooks (searched recursively, ``.ipynb_checkpoints``
left out) that a student has run and saved. Nothing is executed: the report reads the outputs
that are there. Each exercise check shows its verdict as display data carrying
:meth:`course_lib.exercises.Verdict.record` in its metadata (under
:data:`course_lib.exercises.VERDICT_KEY`); the report lists, per chapter and notebook, every
check with its status (``right``, ``wrong``, ``not yet``; a predict-then-run question
``recorded``) and the rung of the hint ladder a ``wrong`` answer reached. A cell that calls
a check (``check_exercise_...(``) and shows no verdict is listed as ``not run`` (never
executed), ``error`` (it raised before the verdict) or ``no verdict`` (it ran, but its output
holds no verdict: run with an older ``course_lib``?).

The report is printed as markdown and, with ``--output report.md`` or ``--output report.json``,
written as a file a student can hand in. Each notebook is named with the sha256 of its bytes,
so a teacher can match the report with the submitted file (``sha256sum``). A single notebook
that holds no outputs (never run, or saved after clearing them) is refused with that reason;
in a folder, such a notebook is listed as not reported, with the reason.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from course_lib.exercises import VERDICT_KEY
from course_lib.manifest import CHAPTERS

#: A code cell whose source matches calls an exercise check (the chapters' naming; not a def).
CHECK_CALL = re.compile(r"(?<!def )\bcheck_exercise_\w*\s*\(")
CHAPTER_HEADING = re.compile(r"^#\s*Chapter\s+(\d+)\s*:", re.MULTILINE)
#: The statuses in the order a report lists their counts.
STATUSES = ("right", "recorded", "wrong", "not yet", "error", "no verdict", "not run")


class ReportError(ValueError):
    """A path that cannot be reported on; the message says why and what to do."""


@dataclass(frozen=True)
class CheckResult:
    """One exercise check found in a notebook.

    Attributes
    ----------
    exercise
        ``"<chapter>.<n>"`` from the verdict; ``""`` when the check gave no verdict.
    title
        The exercise's title; the first line of the cell's source without a verdict.
    status
        One of :data:`STATUSES`.
    hint
        The hint rung a ``wrong`` answer reached (1 to ``hints``); 0 otherwise.
    hints
        The length of the hint ladder (0 when unknown).
    cell
        The cell's index in the notebook.
    message
        The verdict's text, or the error a check cell raised.
    """

    exercise: str
    title: str
    status: str
    hint: int
    hints: int
    cell: int
    message: str


@dataclass(frozen=True)
class NotebookProgress:
    """The checks of one executed notebook, with the notebook's name, sha256 and chapter.

    ``problem`` says why a notebook of a folder could not be reported on (no outputs, not a
    notebook); it is empty otherwise.
    """

    path: str
    sha256: str
    chapter: str
    checks: tuple[CheckResult, ...]
    problem: str = ""

    def counts(self) -> dict[str, int]:
        """How many checks have each status, in the order of :data:`STATUSES`."""
        found = Counter(c.status for c in self.checks)
        return {status: found[status] for status in STATUSES}


def notebook_paths(target: Path) -> list[Path]:
    """The notebooks at ``target``: the file itself, or those in the folder, sorted.

    Raises
    ------
    ReportError
        ``target`` does not exist, is a file without the ``.ipynb`` suffix, or is a folder
        holding no notebook.
    """
    if not target.exists():
        raise ReportError(f"{target}: no such file or folder")
    if target.is_file():
        if target.suffix != ".ipynb":
            raise ReportError(f"{target} is not a Jupyter notebook (expected a .ipynb file)")
        return [target]
    paths = sorted(
        p for p in target.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file()
    )
    if not paths:
        raise ReportError(f"{target} holds no notebook (.ipynb file)")
    return paths


def read_notebook(path: Path) -> NotebookNode:
    """``path`` read with nbformat (version 4).

    Raises
    ------
    ReportError
        The file is not a readable notebook (not JSON, or not the notebook format).
    """
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # noqa: BLE001  (nbformat raises JSON, validation and OS errors)
        raise ReportError(
            f"{path} is not a Jupyter notebook nbformat can read ({type(err).__name__}: "
            f"{str(err)[:200]})"
        ) from err


def has_outputs(nb: NotebookNode) -> bool:
    """Whether any code cell of ``nb`` was executed or holds outputs."""
    return any(
        c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
        for c in nb.cells
    )


def chapter_of(nb: NotebookNode, path: Path) -> str:
    """The manifest stem of ``nb``'s chapter from its ``# Chapter N:`` heading.

    Falls back to ``"chapter N"`` for a number the manifest lacks, and to the file's stem
    when no markdown cell has such a heading.
    """
    stems = {c.number: c.stem for c in CHAPTERS}
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (match := CHAPTER_HEADING.search(cell.source)):
            number = int(match.group(1))
            return stems.get(number, f"chapter {number}")
    return path.stem


def _text(output: NotebookNode) -> str:
    """The plain text of a display output (a string or a list of lines in the file)."""
    text = output.get("data", {}).get("text/plain", "")
    return "".join(text) if isinstance(text, list) else str(text)


def verdicts_in(index: int, cell: NotebookNode) -> list[CheckResult]:
    """The verdicts that cell number ``index`` shows, in output order."""
    found = []
    for output in cell.get("outputs", []):
        record = output.get("metadata", {}).get(VERDICT_KEY)
        if output.get("output_type") != "display_data" or not isinstance(record, dict):
            continue
        found.append(
            CheckResult(
                exercise=str(record.get("exercise", "")),
                title=str(record.get("title", "")),
                status=str(record.get("status", "no verdict")),
                hint=int(record.get("hint", 0)),
                hints=int(record.get("hints", 0)),
                cell=index,
                message=_text(output),
            )
        )
    return found


def _without_verdict(index: int, cell: NotebookNode) -> CheckResult:
    """A check cell without a verdict: ``not run``, ``error`` or ``no verdict``."""
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        status, message = "error", f"{errors[0].get('ename')}: {errors[0].get('evalue')}"
    elif cell.get("execution_count") is None and not cell.get("outputs"):
        status, message = "not run", "the cell was not executed"
    else:
        status, message = "no verdict", "the cell ran but its output holds no check verdict"
    first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
    return CheckResult("", first_line[:80], status, 0, 0, index, message)


def checks_in(nb: NotebookNode) -> list[CheckResult]:
    """Every check of ``nb``: the verdicts shown, and check cells that show none."""
    checks = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        found = verdicts_in(index, cell)
        if not found and CHECK_CALL.search(cell.source):
            found = [_without_verdict(index, cell)]
        checks.extend(found)
    return checks


def notebook_progress(path: Path, relative_to: Path | None = None) -> NotebookProgress:
    """The progress recorded in the executed notebook at ``path``.

    Parameters
    ----------
    path
        An executed, saved notebook.
    relative_to
        The folder the reported name is relative to (default: the name as given).

    Raises
    ------
    ReportError
        ``path`` is not a notebook, or it holds no outputs (it was never run, or was saved
        after clearing its outputs).
    """
    nb = read_notebook(path)
    if not has_outputs(nb):
        raise ReportError(
            f"{path} has no outputs: it was not executed, or was saved after clearing them. "
            "Run all its cells, save it, then make the report again."
        )
    name = path.relative_to(relative_to).as_posix() if relative_to else str(path)
    return NotebookProgress(name, _sha256(path), chapter_of(nb, path), tuple(checks_in(nb)))


def collect(target: Path) -> list[NotebookProgress]:
    """The progress of every notebook at ``target`` (a notebook or a folder), by chapter.

    In a folder, a notebook that cannot be reported on is listed with its ``problem``.

    Raises
    ------
    ReportError
        See :func:`notebook_paths`; for a single notebook, :func:`notebook_progress`.
    """
    paths = notebook_paths(target)
    if target.is_file():
        return [notebook_progress(target)]
    reports = []
    for path in paths:
        try:
            reports.append(notebook_progress(path, target))
        except ReportError as err:
            name, digest = path.relative_to(target).as_posix(), _sha256(path)
            reports.append(NotebookProgress(name, digest, "", (), problem=str(err)))
    return sorted(reports, key=lambda r: (r.chapter, r.path))


def _sha256(path: Path) -> str:
    """The sha256 of the file's bytes, as hex (what ``sha256sum`` prints)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hint(check: CheckResult) -> str:
    """``"k of n"`` for the hint rung reached, ``"-"`` when none was shown."""
    return f"{check.hint} of {check.hints}" if check.hint else "-"


def to_markdown(reports: list[NotebookProgress], made: str) -> str:
    """The report as markdown: per chapter and notebook, a table of its checks."""
    lines = [
        "# Progress report",
        "",
        f"Made {made} by `python -m course_book.progress_report` from the saved outputs of "
        "executed notebooks (nothing was re-run).",
    ]
    for report in reports:
        counts = ", ".join(f"{n} {status}" for status, n in report.counts().items() if n)
        summary = f"{len(report.checks)} checks: {counts or 'none found'}."
        lines += [
            "",
            f"## {report.chapter or 'not reported'}: `{report.path}`",
            "",
            f"sha256 `{report.sha256}`",
            "",
            report.problem or summary,
        ]
        if report.checks:
            lines += [
                "",
                "| exercise | title | status | hint reached | cell |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {c.exercise or '?'} | {c.title.replace('|', '/')} | {c.status} | "
                f"{_hint(c)} | {c.cell} |"
                for c in report.checks
            ]
    return "\n".join(lines) + "\n"


def to_json(reports: list[NotebookProgress], made: str) -> str:
    """The report as JSON: ``made`` and, per notebook, path, sha256, chapter, counts, checks."""
    notebooks = [asdict(r) | {"counts": r.counts()} for r in reports]
    return json.dumps({"made": made, "notebooks": notebooks}, indent=2) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_book.progress_report", description=__doc__.split("\n")[0]
    )
    parser.add_argument("path", type=Path, help="an executed notebook, or a folder of them")
    parser.add_argument(
        "--output", type=Path, default=None, help="write the report to this .md or .json file"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Print the report of ``path``, write it to ``--output``; the exit status (2 on errors)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.output is not None and args.output.suffix not in (".md", ".json"):
        parser.error(f"--output must end in .md or .json, got {args.output}")
    try:
        reports = collect(args.path)
    except ReportError as err:
        print(f"progress report: {err}", file=sys.stderr)
        return 2
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    markdown = to_markdown(reports, made)
    print(markdown, end="")
    if args.output is not None:
        text = markdown if args.output.suffix == ".md" else to_json(reports, made)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
