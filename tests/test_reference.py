"""Reference results: recorded from a run, one commit per set, stale when the code changes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from course_book import reference
from course_book.reference import (
    GitState,
    code_hash,
    collect_run,
    hashed_files,
    reference_record,
    write_reference_set,
)
from course_book.site import (
    Reference,
    dashboard_table,
    reference_note,
    reference_paragraph,
    shown_profiles,
)
from course_lib.manifest import Chapter

CHAPTER = Chapter(1, "01_toy", "Toy", "course_lib.chapters.ch1_toy")


def _project(tmp_path: Path) -> Path:
    """A tiny project: a notebook, a chapter family and shared modules, in a git repository."""
    root = tmp_path / "project"
    (root / "course_lib" / "chapters").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "course_lib" / "__init__.py").write_text('"""The package."""\n')
    (root / "course_lib" / "chapters" / "__init__.py").write_text("")
    (root / "course_lib" / "shared.py").write_text("import course_lib.deep\nX = 1\n")
    (root / "course_lib" / "deep.py").write_text('"""Deep."""\nY = 2\n')
    (root / "course_lib" / "unused.py").write_text("Z = 3\n")
    (root / "course_lib" / "chapters" / "ch1_toy.py").write_text(
        "from course_lib import shared\n\n\ndef f():\n    from . import ch1_report\n"
    )
    (root / "course_lib" / "chapters" / "ch1_report.py").write_text("A = 1\n")
    cells = [{"cell_type": "code", "source": ["%pip install x\n", "import course_lib.deep"]}]
    (root / CHAPTER.notebook).write_text(json.dumps({"cells": cells}))
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "toy", "--no-verify"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True
        )
    return root


def _result(profile: str = "laptop", value: float = 0.8) -> dict:
    interval = {"low": value - 0.05, "high": value + 0.05, "method": "95 % bootstrap"}
    headline = {
        "metric": "R2",
        "data": "real toy",
        "compared": {"model": {"value": value, "interval": interval}},
    }
    return {
        "chapter": CHAPTER.stem,
        "title": CHAPTER.title,
        "profile": profile,
        "provenance": "real",
        "metrics": {"model": {"test": {"R2": value}}},
        "uncertainty": ["95 % bootstrap"],
        "wall_time_s": 12.0,
        "anchors": [],
        "headline": headline,
    }


def test_code_hash_follows_imports_and_ignores_docstrings_and_unused_modules(tmp_path):
    root = _project(tmp_path)
    files = {p.relative_to(root).as_posix() for p in hashed_files(CHAPTER, root)}
    assert files == {
        "course_lib/__init__.py",
        "course_lib/chapters/__init__.py",
        "course_lib/chapters/ch1_toy.py",
        "course_lib/chapters/ch1_report.py",
        "course_lib/shared.py",
        "course_lib/deep.py",
    }
    before = code_hash(CHAPTER, root)
    (root / "course_lib" / "unused.py").write_text("Z = 4\n")
    (root / "course_lib" / "deep.py").write_text('"""Deep, documented again."""\n# c\nY = 2\n')
    assert code_hash(CHAPTER, root) == before
    (root / "course_lib" / "deep.py").write_text("Y = 3\n")
    assert code_hash(CHAPTER, root) != before


def test_record_from_a_run_writes_the_results_with_commit_machine_and_hash(tmp_path, monkeypatch):
    root = _project(tmp_path)
    results, executed = tmp_path / "results", tmp_path / "executed"
    results.mkdir()
    executed.mkdir()
    (results / f"{CHAPTER.stem}.json").write_text(json.dumps(_result()))
    run = {"ok": True, "profile": "laptop", "tiny": False, "wall_time_s": 1500.0}
    (executed / "run_summary.json").write_text(json.dumps({CHAPTER.stem: run}))
    monkeypatch.setattr(reference, "CHAPTERS", (CHAPTER,))
    monkeypatch.setattr(reference, "project_root", lambda: root)
    argv = ["record", "--profile", "laptop", "--from-run", str(executed), "--results", str(results)]
    assert reference.main(argv) == 0
    written = json.loads((root / "book/reference_results/laptop/01_toy.json").read_text())
    entry = written.pop("reference")
    assert written == _result()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    assert entry["commit"] == commit.stdout.strip() and entry["dirty"] is False
    assert entry["code_hash"] == code_hash(CHAPTER, root) and "CPU cores" in entry["machine"]
    assert entry["run_wall_time_s"] == 1500.0
    assert reference.status_lines(root, (CHAPTER,))[0].startswith("laptop 01_toy: current")
    (root / "course_lib" / "shared.py").write_text("X = 2\n")
    assert "STALE" in reference.status_lines(root, (CHAPTER,))[0]
    assert reference.main(["status", "--require", "laptop"]) == 0


def test_a_smoke_or_failed_run_is_not_recorded(tmp_path):
    results, summary = tmp_path / "results", tmp_path / "run_summary.json"
    results.mkdir()
    (results / f"{CHAPTER.stem}.json").write_text(json.dumps(_result("smoke")))
    summary.write_text(json.dumps({CHAPTER.stem: {"ok": True, "profile": "laptop"}}))
    with pytest.raises(ValueError, match="01_toy: no laptop results file"):
        collect_run([CHAPTER], "laptop", results, summary)
    summary.write_text(json.dumps({CHAPTER.stem: {"ok": False, "profile": "laptop"}}))
    with pytest.raises(ValueError, match="no successful laptop run.*course_book.run"):
        collect_run([CHAPTER], "laptop", results, summary)


def test_one_set_holds_one_commit(tmp_path):
    root = _project(tmp_path)
    run = {"wall_time_s": 60.0}
    first = reference_record(_result(), run, GitState("a" * 40, False), CHAPTER, root)
    other = Chapter(2, "02_other", "Other", "course_lib.chapters.ch2_other")
    second = {**reference_record(_result(), run, GitState("b" * 40, False), other, root)}
    second["chapter"] = other.stem
    folder = tmp_path / "set"
    write_reference_set({CHAPTER.stem: first}, folder)
    with pytest.raises(ValueError, match="holds 01_toy recorded at commit aaaaaaaaaaaa.*--replace"):
        write_reference_set({other.stem: second}, folder)
    with pytest.raises(ValueError, match="several commits"):
        write_reference_set({CHAPTER.stem: first, other.stem: second}, folder)
    write_reference_set({other.stem: second}, folder, replace=True)
    assert sorted(p.name for p in folder.iterdir()) == ["02_other.json"]
    shutil.rmtree(folder)


def test_pages_show_references_beside_smoke_numbers_and_say_when_there_are_none(tmp_path):
    root = _project(tmp_path)
    record = reference_record(
        _result(value=0.81), {"wall_time_s": 60.0}, GitState("c" * 40, True), CHAPTER, root
    )
    smoke = _result("smoke", 0.42)
    assert shown_profiles("smoke", {}) == ["laptop"] and shown_profiles("laptop", {}) == []
    none = reference_note(CHAPTER.stem, "smoke", smoke, {})
    assert "No `laptop` reference has been recorded" in none and ":class: warning" in none
    for stale in (False, True):
        refs = {"laptop": {CHAPTER.stem: Reference("laptop", record, stale)}}
        note = reference_note(CHAPTER.stem, "smoke", smoke, refs)
        assert "this page (`smoke`): model, R2 0.420 [0.370, 0.470] on real toy" in note
        assert "`laptop`: model, R2 0.810 [0.760, 0.860] on real toy (laptop run of" in note
        assert "commit cccccccc + uncommitted changes" in note
        assert ("STALE" in note) is stale
        # the stamp stays whole, so a stale reference is still found by its date and commit
        assert "commit cccccccc + uncommitted changes)" in note
        table = dashboard_table({CHAPTER.stem: smoke}, refs)
        assert "| this build [interval] | laptop reference |" in table.splitlines()[0]
        assert "| 0.420 [0.370, 0.470] (smoke) | 0.810 [0.760, 0.860] (20" in table
        assert ("cccccccc + uncommitted changes) **STALE**" in table) is stale
        # the results page's line: a run under a minute and a half is said in seconds
        assert "; 60 s on " in reference_paragraph(CHAPTER.stem, "laptop", refs)
    assert "no laptop reference recorded" in dashboard_table({CHAPTER.stem: smoke}, {})


def test_record_runs_the_chapters_into_their_own_folder(tmp_path, monkeypatch):
    root = _project(tmp_path)
    calls = []

    def fake_run(chapters, profile, output, jobs):
        calls.append(([c.stem for c in chapters], profile, output, jobs))
        (output / "results").mkdir(parents=True, exist_ok=True)
        (output / "results" / f"{CHAPTER.stem}.json").write_text(json.dumps(_result()))
        run = {"ok": True, "profile": profile, "tiny": False, "wall_time_s": 99.0}
        (output / "run_summary.json").write_text(json.dumps({CHAPTER.stem: run}))
        return 0

    monkeypatch.setattr(reference, "CHAPTERS", (CHAPTER,))
    monkeypatch.setattr(reference, "project_root", lambda: root)
    monkeypatch.setattr(reference, "run_chapters", fake_run)
    assert reference.main(["record", "--profile", "laptop"]) == 0
    assert calls == [(["01_toy"], "laptop", root / "_build" / "reference" / "laptop", 1)]
    written = json.loads((root / "book/reference_results/laptop/01_toy.json").read_text())
    assert written["reference"]["run_wall_time_s"] == 99.0
    with pytest.raises(SystemExit):  # smoke is no reference profile
        reference.main(["record", "--profile", "smoke"])


def test_one_chapter_at_a_time_keeps_the_wall_times(tmp_path, monkeypatch):
    from course_book import run

    argvs = []
    monkeypatch.setattr(run, "main", lambda argv: argvs.append(argv) or 0)
    monkeypatch.delenv("COURSE_RESULTS_DIR", raising=False)
    for jobs in (1, 2):
        assert reference.run_chapters([CHAPTER], "laptop", tmp_path, jobs) == 0
    one, two = argvs
    assert one[:3] == ["01_toy", "--profile", "laptop"] and one[-3:] == [
        "--jobs",
        "1",
        "--record-times",
    ]
    # two chapters at once share the cores: no wall time is kept
    assert two[-2:] == ["--jobs", "2"] and "--record-times" not in two
