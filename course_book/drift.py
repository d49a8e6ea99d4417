"""Dependency drift: the course on the newest releases, reported against the pinned ones.

``make test-latest`` builds a separate virtual environment (``.venv-latest``) with the newest
version of every dependency the package index offers within ``pyproject.toml``'s ranges (torch
kept at the local build), then runs this module with that interpreter::

    python -m course_book.drift --pinned constraints.txt --output _build/latest

It compares the interpreter's installed versions with ``constraints.txt`` (the versions CI
installs: the reproducible path), runs the unit tests and the ``smoke`` chapters there, and
writes ``report.md`` and ``report.json``: which packages moved, which tests and chapters broke,
with the first line of each error. A student's install breaking on a new release shows up here
before it shows up in a workshop.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

#: pytest's closing line, e.g. "3 failed, 812 passed, 1 skipped in 240.1s".
_SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s")


def normalise(name: str) -> str:
    """A distribution name as pip compares them: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> dict[str, str]:
    """``{name: version}`` of the ``name==version`` lines of a constraints or freeze text.

    Comments, blank lines, editable installs and direct references (``name @ url``) are skipped.
    """
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-") and " @ " not in line:
            name, version = line.split("==", 1)
            pins[normalise(name)] = version.strip()
    return pins


@dataclass(frozen=True)
class Change:
    """One package whose version differs between the pinned and the tested environment."""

    package: str
    pinned: str | None
    latest: str | None

    @property
    def kind(self) -> str:
        """``"newer"``, ``"older"``, ``"added"`` (not pinned) or ``"removed"`` (not installed)."""
        if self.pinned is None:
            return "added"
        if self.latest is None:
            return "removed"
        try:
            return "newer" if Version(self.latest) > Version(self.pinned) else "older"
        except InvalidVersion:
            return "newer" if self.latest > self.pinned else "older"


def _same(pinned: str | None, installed: str | None) -> bool:
    """Whether ``installed`` satisfies the pin: equal, or equal but for a local label
    (``torch==2.13.0`` is met by ``2.13.0+cpu``, as pip's ``==`` reads it)."""
    if pinned is None or installed is None:
        return pinned == installed
    try:
        return Version(installed).public == Version(pinned).public and not Version(pinned).local
    except InvalidVersion:
        return pinned == installed


def version_changes(pinned: dict[str, str], latest: dict[str, str]) -> list[Change]:
    """Every package whose version differs, sorted by name (same versions are left out)."""
    names = sorted(set(pinned) | set(latest))
    return [
        Change(name, pinned.get(name), latest.get(name))
        for name in names
        if not _same(pinned.get(name), latest.get(name))
    ]


@dataclass
class CheckRun:
    """What one check (the unit tests, the chapters) printed and whether it passed."""

    name: str
    ok: bool
    summary: str
    failures: list[str] = field(default_factory=list)


def pytest_outcome(output: str, returncode: int) -> CheckRun:
    """The unit tests' outcome from pytest's ``-q -rf`` output: summary line, failed tests."""
    lines = output.splitlines()
    summary = next((m.group(1) for ln in reversed(lines) if (m := _SUMMARY.match(ln))), "")
    failures = [ln.removeprefix("FAILED ") for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    return CheckRun(
        "unit tests", returncode == 0, summary or f"pytest exited {returncode}", failures
    )


def chapters_outcome(summary_file: Path, returncode: int) -> CheckRun:
    """The smoke chapters' outcome from :mod:`course_book.run`'s ``run_summary.json``."""
    runs = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    failures = [
        f"{chapter}: {(run.get('error') or 'failed').strip().splitlines()[-1]}"
        for chapter, run in runs.items()
        if not run.get("ok")
    ]
    text = f"{sum(bool(r.get('ok')) for r in runs.values())} of {len(runs)} chapters ran"
    return CheckRun("smoke chapters", returncode == 0 and not failures, text, failures)


def drift_report(changes: list[Change], checks: list[CheckRun]) -> str:
    """The report as markdown: a verdict, the checks with their failures, the version changes."""
    broke = [check for check in checks if not check.ok]
    verdict = (
        "Nothing broke on the newest releases."
        if not broke
        else "Broke on the newest releases: " + ", ".join(c.name for c in broke) + "."
    )
    lines = ["# Dependency drift", "", verdict, "", "## Checks", ""]
    for check in checks:
        lines.append(f"- **{check.name}**: {'ok' if check.ok else 'FAILED'} ({check.summary})")
        lines.extend(f"  - {failure}" for failure in check.failures)
    lines += ["", f"## Versions that differ from the pins ({len(changes)})", ""]
    if changes:
        lines += ["| package | pinned | tested | change |", "|---|---|---|---|"]
        lines += [
            f"| {c.package} | {c.pinned or '-'} | {c.latest or '-'} | {c.kind} |" for c in changes
        ]
    else:
        lines.append("None: this environment has the pinned versions.")
    return "\n".join(lines) + "\n"


def _installed() -> dict[str, str]:
    """``{name: version}`` of this interpreter's environment (``pip freeze``)."""
    command = [sys.executable, "-m", "pip", "freeze"]
    return read_pins(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def _run_unit_tests(output: Path) -> CheckRun:
    """pytest on ``tests/`` with this interpreter; its output kept in ``output/pytest.txt``."""
    command = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "tests"]
    # the first-hour and browser tests drive make and Chromium with the pinned environment
    command += ["--ignore=tests/test_first_hour.py", "--ignore=tests/test_browser.py"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    (output / "pytest.txt").write_text(done.stdout + done.stderr)
    return pytest_outcome(done.stdout, done.returncode)


def _run_chapters(output: Path, jobs: int) -> CheckRun:
    """The smoke chapters, their results and checkpoints kept under ``output`` (not the book's)."""
    executed = output / "executed"
    command = [sys.executable, "-m", "course_book.run", "--profile", "smoke"]
    command += ["--output", str(executed), "--jobs", str(jobs)]
    folders = {"COURSE_RESULTS_DIR": "results", "COURSE_CHECKPOINT_DIR": "checkpoints"}
    env = os.environ | {name: str(output / sub) for name, sub in folders.items()}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    (output / "chapters.txt").write_text(done.stdout + done.stderr)
    return chapters_outcome(executed / "run_summary.json", done.returncode)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_book.drift", description=__doc__)
    parser.add_argument("--pinned", type=Path, default=Path("constraints.txt"))
    parser.add_argument("--output", type=Path, default=Path("_build") / "latest")
    parser.add_argument("--skip-tests", action="store_true", help="do not run the unit tests")
    parser.add_argument("--skip-chapters", action="store_true", help="do not run the chapters")
    parser.add_argument("--jobs", type=int, default=2, help="chapters run at once")
    args = parser.parse_args(argv)
    if not args.pinned.exists():
        parser.error(f"no pinned versions at {args.pinned}; run from the project root")
    args.output.mkdir(parents=True, exist_ok=True)
    changes = version_changes(read_pins(args.pinned.read_text()), _installed())
    checks = [] if args.skip_tests else [_run_unit_tests(args.output)]
    checks += [] if args.skip_chapters else [_run_chapters(args.output, args.jobs)]
    report = drift_report(changes, checks)
    (args.output / "report.md").write_text(report)
    record = {"changes": [asdict(c) | {"kind": c.kind} for c in changes]}
    record["checks"] = [asdict(check) for check in checks]
    (args.output / "report.json").write_text(json.dumps(record, indent=2))
    print(report + f"\n(written to {args.output / 'report.md'})")
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
