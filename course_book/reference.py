"""Reference results: a chapter's results at ``laptop`` (or ``full``) kept for the site to show.

``python -m course_book.reference record --profile laptop [CHAPTERS]`` runs the chosen chapters
at that profile (one at a time, into ``_build/reference/<profile>``; with ``--from-run`` it takes
an existing run's ``results/`` and ``run_summary.json`` instead) and writes
``book/reference_results/<profile>/<chapter>.json``: the chapter's results file (same schema as
``results/<chapter>.json``) with a ``reference`` entry holding the commit (and whether the
working tree had uncommitted changes), the date, the machine
(:func:`course_book.timings.machine_description`), the runner's wall time and peak memory, and
the chapter's code hash. A run made here one chapter at a time (``--jobs 1``, the default)
is the runner's ``--record-times`` run: it also keeps each chapter's wall time in
``book/chapter_times.json``, which the setup page and the chapter maps read.
All chapters of one profile's set come from one commit: recording at another commit into a set
that holds other chapters is refused (``--replace`` starts a new set).
``python -m course_book.reference status`` lists each set with what is stale.

The **code hash** of a chapter (:func:`code_hash`) is the sha256 of

- the code cells of its notebook (their source text; outputs, ids and prose are left out), and
- every Python file of its closure, by path and by its syntax tree without the docstrings of
  the module, its classes and functions (so comments, docstrings and formatting do not count):
  the chapter's family ``course_lib/chapters/chN_*.py``, and every ``course_lib`` module that
  these files or the notebook's code cells import, transitively (``import`` statements anywhere
  in a file, found statically), with the ``__init__.py`` of each package on the way.

Imports made by name at run time (``importlib``) are not followed; the chapter family covers
those the manifest makes (:meth:`course_lib.manifest.Chapter.part`). Data files are not hashed.
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_book.timings import machine_description
from course_lib.manifest import CHAPTERS, Chapter, select_chapters
from course_lib.paths import project_root, results_dir
from course_lib.results import read_results

REFERENCE_DIR = Path("book") / "reference_results"
#: Profiles a reference set may hold: ``smoke`` only checks that the code runs.
REFERENCE_PROFILES = ("laptop", "full")
PACKAGE = "course_lib"


@dataclass(frozen=True)
class GitState:
    """The commit a reference was recorded at, and whether tracked files differed from it."""

    commit: str
    dirty: bool


def git_state(root: Path) -> GitState:
    """``git rev-parse HEAD`` and whether ``git status`` shows changes to tracked files.

    Raises
    ------
    ValueError
        ``root`` is not a git working tree (a reference must name its commit).
    """

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ValueError(
                f"`git {' '.join(args)}` failed in {root}: {done.stderr.strip()}; reference "
                "results are recorded from a git checkout"
            )
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return GitState(commit, dirty)


def _module_file(name: str, root: Path) -> Path | None:
    """The file of dotted module ``name`` under ``root`` (a module or a package), if any."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_names(tree: ast.AST, package: str) -> set[str]:
    """Dotted names a syntax tree imports (``from a import b`` gives ``a`` and ``a.b``).

    ``package`` is the package of the file, for relative imports.
    """
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(filter(None, [*parts, node.module or ""]))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _closure(start: Iterable[str], root: Path) -> dict[str, Path]:
    """``{module name: file}`` of the ``course_lib`` modules ``start`` imports, transitively.

    Every package ``__init__.py`` on the way is included.
    """
    found: dict[str, Path] = {}
    queue = [n for n in start if n.split(".")[0] == PACKAGE]
    while queue:
        name = queue.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            path = _module_file(prefix, root)
            if prefix in found or path is None:
                continue
            found[prefix] = path
            _, imported = _facts(path, root)
            queue.extend(n for n in imported if n.split(".")[0] == PACKAGE)
    return found


def _strip_docstrings(node: ast.AST) -> None:
    """Remove the docstring of ``node`` and of the classes and functions it defines (in place)."""
    body = getattr(node, "body", None)
    if not isinstance(body, list):
        return
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    for child in node.body:
        if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            _strip_docstrings(child)


@functools.lru_cache(maxsize=1024)
def _file_facts(path: Path, mtime_ns: int, package: str) -> tuple[str, frozenset[str]]:
    """A Python file's digest (its syntax tree without docstrings) and the names it imports.

    Cached while the file's modification time ``mtime_ns`` is unchanged; ``package`` is the
    file's package, for relative imports.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = frozenset(_imported_names(tree, package))
    _strip_docstrings(tree)
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest(), imported


def _facts(path: Path, root: Path) -> tuple[str, frozenset[str]]:
    """:func:`_file_facts` of ``path``, its package named by its folder under ``root``."""
    package = ".".join(path.parent.relative_to(root).parts)
    return _file_facts(path, path.stat().st_mtime_ns, package)


def _notebook_code(path: Path) -> list[str]:
    """The source of every code cell of a notebook, in order."""
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _code_imports(sources: Iterable[str]) -> set[str]:
    """Dotted names imported by notebook cells (lines starting with ``%`` or ``!`` skipped)."""
    names: set[str] = set()
    for source in sources:
        lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            names |= _imported_names(ast.parse("\n".join(lines)), "")
        except SyntaxError:
            continue
    return names


def hashed_files(chapter: Chapter, root: Path) -> list[Path]:
    """The Python files of ``chapter``'s code hash (see the module docstring), sorted.

    Parameters
    ----------
    chapter
        A chapter of the manifest.
    root
        The project root (holding ``notebooks/`` and ``course_lib/``).
    """
    family = sorted((root / PACKAGE / "chapters").glob(f"ch{chapter.number}_*.py"))
    start = {f"{PACKAGE}.chapters.{p.stem}" for p in family} | {chapter.module}
    notebook = root / chapter.notebook
    if notebook.exists():
        start |= _code_imports(_notebook_code(notebook))
    return sorted(set(_closure(start, root).values()))


def code_hash(chapter: Chapter, root: Path) -> str:
    """The sha256 (hex) of ``chapter``'s notebook code cells and code closure.

    See the module docstring for what is hashed; comments, docstrings and formatting are not.
    """
    digest = hashlib.sha256()
    notebook = root / chapter.notebook
    cells = _notebook_code(notebook) if notebook.exists() else []
    digest.update(json.dumps(cells).encode())
    for path in hashed_files(chapter, root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(_facts(path, root)[0].encode())
    return digest.hexdigest()


def reference_record(
    result: Mapping[str, Any],
    run: Mapping[str, Any],
    state: GitState,
    chapter: Chapter,
    root: Path,
) -> dict[str, Any]:
    """A chapter's results record with its ``reference`` entry (commit, date, machine, ...).

    Parameters
    ----------
    result
        The chapter's ``results/<chapter>.json`` as read by :func:`course_lib.results.read_results`.
    run
        Its entry in the runner's ``run_summary.json`` (``wall_time_s``, ``peak_memory_mb``).
    state
        The commit the run was made at.
    """
    entry = {
        "commit": state.commit,
        "dirty": state.dirty,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine_description(),
        "run_wall_time_s": run["wall_time_s"],
        "peak_memory_mb": run.get("peak_memory_mb"),
        "code_hash": code_hash(chapter, root),
        "hashed_files": [p.relative_to(root).as_posix() for p in hashed_files(chapter, root)],
    }
    return {**result, "reference": entry}


def read_reference_set(folder: Path) -> dict[str, dict[str, Any]]:
    """``{chapter: record}`` of one profile's reference folder (empty when it does not exist)."""
    if not folder.is_dir():
        return {}
    return {r["chapter"]: r for r in read_results(folder).values() if "reference" in r}


def read_references(root: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{profile: {chapter: record}}`` of every reference set in ``book/reference_results``."""
    base = root / REFERENCE_DIR
    sets = {p.name: read_reference_set(p) for p in sorted(base.glob("*")) if p.is_dir()}
    return {profile: records for profile, records in sets.items() if records}


def is_stale(record: Mapping[str, Any], chapter: Chapter, root: Path) -> bool:
    """Whether ``chapter``'s code hash now differs from the one its reference recorded."""
    return record["reference"]["code_hash"] != code_hash(chapter, root)


def write_reference_set(
    records: Mapping[str, Mapping[str, Any]], folder: Path, replace: bool = False
) -> list[Path]:
    """Write ``records`` (``{chapter: reference record}``) into ``folder``, one commit per set.

    Raises
    ------
    ValueError
        ``records`` come from several commits, or ``folder`` holds chapters from another
        commit and ``replace`` is false (the message names both commits and the fix).
    """
    commits = {r["reference"]["commit"] for r in records.values()}
    if len(commits) > 1:
        raise ValueError(f"these results come from several commits ({', '.join(commits)})")
    existing = read_reference_set(folder)
    if replace and folder.exists():
        shutil.rmtree(folder)
    elif existing and commits:
        (commit,) = commits
        others = {c: r for c, r in existing.items() if r["reference"]["commit"] != commit}
        if others:
            old = next(iter(others.values()))["reference"]["commit"]
            raise ValueError(
                f"{folder} holds {', '.join(sorted(others))} recorded at commit {old[:12]}, "
                f"these results are from {commit[:12]}: a reference set is one commit. Record "
                "every chapter at this commit with --replace (which removes the old set)"
            )
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter, record in records.items():
        path = folder / f"{chapter}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        written.append(path)
    return written


def collect_run(
    chapters: Sequence[Chapter], profile: str, results: Path, summary: Path
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The results records and run-summary entries of ``chapters`` from one run at ``profile``.

    Raises
    ------
    ValueError
        A chapter has no results file or no successful, full-size run at ``profile`` in
        ``summary`` (the message says which and how to run it).
    """
    records = read_results(results) if results.is_dir() else {}
    runs = json.loads(summary.read_text()) if summary.exists() else {}
    problems = []
    for chapter in chapters:
        run, record = runs.get(chapter.stem, {}), records.get(chapter.stem)
        if not (run.get("ok") and run.get("profile") == profile and not run.get("tiny")):
            problems.append(f"{chapter.stem}: no successful {profile} run in {summary}")
        elif record is None or record["profile"] != profile:
            problems.append(f"{chapter.stem}: no {profile} results file in {results}")
    if problems:
        raise ValueError(
            "; ".join(problems)
            + f"; run `python -m course_book.run CHAPTERS --profile {profile}` first"
        )
    return (
        {c.stem: records[c.stem] for c in chapters},
        {c.stem: runs[c.stem] for c in chapters},
    )


def run_chapters(chapters: Sequence[Chapter], profile: str, output: Path, jobs: int) -> int:
    """Run ``chapters`` at ``profile`` into ``output`` (results in ``output/results``).

    One chapter at a time (``jobs == 1``), the runner also keeps the wall times
    (``--record-times``); chapters sharing the cores give no wall time worth keeping.
    """
    from course_book import run

    os.environ["COURSE_RESULTS_DIR"] = str(output / "results")
    argv = [c.stem for c in chapters] + ["--profile", profile, "--output", str(output)]
    return run.main([*argv, "--jobs", str(jobs), *(["--record-times"] if jobs == 1 else [])])


def record(args: argparse.Namespace, root: Path) -> int:
    """The ``record`` command: run (or take) the chapters, write their references."""
    chapters = select_chapters(args.chapters, CHAPTERS)
    state = git_state(root)
    if args.from_run:
        executed, results = Path(args.from_run), Path(args.results or results_dir())
        status = 0
    else:
        executed = root / "_build" / "reference" / args.profile
        results = executed / "results"
        status = run_chapters(chapters, args.profile, executed, args.jobs)
        if git_state(root).commit != state.commit:
            raise ValueError("HEAD moved during the run: record again from one commit")
    summary = executed / "run_summary.json"
    if status:
        done = json.loads(summary.read_text()) if summary.exists() else {}
        chapters = [c for c in chapters if done.get(c.stem, {}).get("ok")]
    records, runs = collect_run(chapters, args.profile, results, summary)
    refs = {
        c.stem: reference_record(records[c.stem], runs[c.stem], state, c, root) for c in chapters
    }
    folder = root / REFERENCE_DIR / args.profile
    for path in write_reference_set(refs, folder, args.replace):
        print(f"recorded {path.relative_to(root)}")
    if state.dirty:
        print(f"note: the working tree differs from {state.commit[:12]}; the code hash records it")
    return status


def status_lines(root: Path, chapters: Sequence[Chapter] = CHAPTERS) -> list[str]:
    """One line per reference profile and chapter: recorded (commit, date), stale or missing."""
    lines = []
    for profile, records in read_references(root).items():
        for chapter in chapters:
            ref = records.get(chapter.stem)
            if ref is None:
                lines.append(f"{profile} {chapter.stem}: no reference")
                continue
            entry = ref["reference"]
            state = "STALE (code changed)" if is_stale(ref, chapter, root) else "current"
            lines.append(
                f"{profile} {chapter.stem}: {state}, commit {entry['commit'][:12]}, {entry['date']}"
            )
    return lines or ["no reference results recorded"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_book.reference", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="run chapters at a profile and keep their results")
    rec.add_argument("chapters", nargs="*", help="chapter stems or numbers (default: all)")
    rec.add_argument("--profile", required=True, choices=REFERENCE_PROFILES)
    rec.add_argument(
        "--from-run",
        metavar="EXECUTED",
        help="take an existing run instead: its folder holding run_summary.json "
        "(e.g. _build/executed); results from --results",
    )
    rec.add_argument("--results", help="results folder of --from-run (default results/)")
    rec.add_argument("--replace", action="store_true", help="remove the profile's old set first")
    rec.add_argument("--jobs", type=int, default=1, help="chapters at once (wall times: 1)")
    stat = commands.add_parser("status", help="list the reference sets and what is stale")
    stat.add_argument("--require", choices=REFERENCE_PROFILES, help="fail if a chapter lacks one")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = project_root()
    if args.command == "status":
        lines = status_lines(root)
        print("\n".join(lines))
        missing = args.require and len(read_references(root).get(args.require, {})) < len(CHAPTERS)
        if missing:
            print(f"error: not every chapter has a {args.require} reference", file=sys.stderr)
        return 1 if missing else 0
    try:
        return record(args, root)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
