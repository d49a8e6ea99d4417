"""Tests of course_book.drift: pins read, versions compared, failures reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from course_book.drift import (
    Change,
    chapters_outcome,
    drift_report,
    normalise,
    pytest_outcome,
    read_pins,
    version_changes,
)

ROOT = Path(__file__).resolve().parents[1]


def test_pins_are_read_from_constraints_and_freeze_text():
    text = (
        "# pins\nNumPy==2.1.0\ntorch==2.13.0+cpu  # local\n-e git+x#egg=course\nfoo @ file:///x\n\n"
    )
    assert read_pins(text) == {"numpy": "2.1.0", "torch": "2.13.0+cpu"}
    assert read_pins("Typing_Extensions==4.12") == {"typing-extensions": "4.12"}


def test_every_version_change_is_classified():
    pinned = {"numpy": "2.1.0", "pandas": "2.2.0", "gone": "1.0", "same": "1"}
    latest = {"numpy": "2.3.1", "pandas": "2.1.0", "new": "0.1", "same": "1"}
    changes = {c.package: c.kind for c in version_changes(pinned, latest)}
    assert changes == {"gone": "removed", "new": "added", "numpy": "newer", "pandas": "older"}
    assert Change("x", "1.10", "1.9").kind == "older", "versions compare as versions, not text"
    assert version_changes({"torch": "2.13.0"}, {"torch": "2.13.0+cpu"}) == [], "a local build"
    assert version_changes({"torch": "2.13.0+cpu"}, {"torch": "2.13.0"})[0].kind == "older"


def test_pytest_and_chapter_failures_are_reported_with_their_reason(tmp_path):
    failed = "FAILED tests/test_a.py::test_b - AssertionError: 1 != 2"
    output = f"..F\n{failed}\n2 failed, 810 passed in 240.12s\n"
    tests = pytest_outcome(output, 1)
    assert not tests.ok and tests.summary == "2 failed, 810 passed"
    assert tests.failures == ["tests/test_a.py::test_b - AssertionError: 1 != 2"]
    summary = tmp_path / "run_summary.json"
    runs = {"00_x": {"ok": True}, "01_y": {"ok": False, "error": "Traceback\nKeyError: 'utr'\n"}}
    summary.write_text(json.dumps(runs))
    chapters = chapters_outcome(summary, 1)
    assert not chapters.ok and chapters.failures == ["01_y: KeyError: 'utr'"]
    assert chapters.summary == "1 of 2 chapters ran"
    report = drift_report([Change("numpy", "2.1.0", "2.3.1")], [tests, chapters])
    assert "Broke on the newest releases: unit tests, smoke chapters." in report
    assert "| numpy | 2.1.0 | 2.3.1 | newer |" in report and "KeyError: 'utr'" in report
    assert drift_report([], [pytest_outcome("5 passed in 1.0s", 0)]).count("Nothing broke") == 1


def test_the_command_compares_this_environment_with_the_pins(tmp_path):
    pinned = tmp_path / "constraints.txt"
    pinned.write_text("numpy==0.0.1\nnot-installed-anywhere==1.0\n")
    command = [sys.executable, "-m", "course_book.drift", "--pinned", str(pinned)]
    command += ["--output", str(tmp_path / "out"), "--skip-tests", "--skip-chapters"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "out" / "report.json").read_text())
    kinds = {c["package"]: c["kind"] for c in record["changes"]}
    assert kinds["numpy"] == "newer" and kinds["not-installed-anywhere"] == "removed"


def test_the_pins_cover_every_declared_dependency():
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pins = read_pins((ROOT / "constraints.txt").read_text())
    for requirement in map(Requirement, declared):
        pin = pins.get(normalise(requirement.name))
        assert pin, f"constraints.txt does not pin {requirement.name}; run `make constraints`"
        assert requirement.specifier.contains(pin, prereleases=True), (requirement, pin)
