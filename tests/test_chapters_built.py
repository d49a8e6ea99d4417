"""Checks of the chapter notebooks: clean in git, executed by the runner, rendered in the site.

``make test`` runs every chapter (``course_book.run``) and builds the site before pytest, and
sets ``COURSE_REQUIRE_BUILD=1`` so that a missing build fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from course_book.student import has_checked_output
from course_lib.manifest import CHAPTERS
from course_lib.results import REQUIRED_KEYS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT / chapter.notebook for chapter in CHAPTERS]
EXECUTED = ROOT / "_build" / "executed" / "notebooks"
HTML = ROOT / "_build" / "html"
RESULTS = Path(os.environ.get("COURSE_RESULTS_DIR") or ROOT / "results")
CHAPTER_IDS = [chapter.stem for chapter in CHAPTERS]


def _require(path: Path) -> None:
    if not path.exists():
        if os.environ.get("COURSE_REQUIRE_BUILD"):
            pytest.fail(f"{path} is missing: the chapters were not run or the site not built")
        pytest.skip(f"{path} not built; run `make book` first")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=CHAPTER_IDS)
def test_notebook_is_clean_and_parameterised(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    unchecked = [c for c in code if not has_checked_output(c)]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in unchecked), (
        f"{notebook.name} has stored outputs outside the cells nbval checks; clear them "
        "before committing"
    )
    assert all(c.get("execution_count") is None for c in code)
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []), (
        "first code cell must be tagged parameters"
    )
    lines = [line for line in first.source.splitlines() if line.strip()]
    assert lines[:2] == ["import os", 'profile = os.environ.get("COURSE_PROFILE", "laptop")']
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert "google.colab" in code[1].source, "the cell after the parameters installs on Colab"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=CHAPTER_IDS)
def test_notebook_has_checked_exercises(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert len(solutions) >= 2, f"{notebook.name} needs at least two exercises with solutions"
    for cell in solutions:
        assert "hide-cell" in cell.metadata["tags"] or "hide-input" in cell.metadata["tags"]
        after = nb.cells[nb.cells.index(cell) + 1 :]
        checked = bool(after) and "check_exercise" in after[0].source
        predicted = "prediction" in cell.metadata["tags"] and any(
            "check_exercise" in c.source for c in after
        )
        assert checked or predicted or "assert " in cell.source, (
            "a solution must be followed by a cell calling its check_exercise_N (or assert); "
            "a prediction (tagged prediction) by such a cell after the result it predicts"
        )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=CHAPTER_IDS)
def test_executed_chapter_has_no_errors(notebook: Path) -> None:
    executed = EXECUTED / notebook.name
    _require(executed)
    nb = nbformat.read(executed, as_version=4)
    assert nb.metadata.get("papermill", {}).get("parameters", {}).get("profile") == "smoke"
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", f"{notebook.name}: {output.get('evalue')}"
    images = sum(
        1 for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    )
    assert images >= 2, f"{notebook.name} shows fewer than two figures"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=CHAPTER_IDS)
def test_chapter_wrote_its_results(notebook: Path) -> None:
    path = RESULTS / f"{notebook.stem}.json"
    _require(path)
    record = json.loads(path.read_text())
    assert all(key in record for key in REQUIRED_KEYS)
    assert record["chapter"] == notebook.stem
    provenance = json.dumps(record["provenance"])
    assert "real" in provenance or "synthetic" in provenance
    assert record["metrics"], "no metrics recorded"
    assert record["anchors"], "no anchors recorded"
    shape = {"name", "value", "metric", "protocol", "source"}
    assert all(set(anchor) == shape for anchor in record["anchors"]), "one anchor shape"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=CHAPTER_IDS)
def test_chapter_page_is_in_the_site_with_its_figures(notebook: Path) -> None:
    page = HTML / "notebooks" / f"{notebook.stem}.html"
    _require(page)
    html = page.read_text()
    executed = nbformat.read(EXECUTED / notebook.name, as_version=4)
    figures = sum(
        1 for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    )
    shown = len(re.findall(r"<img [^>]*src=\"[^\"]*\.png\"", html))
    assert shown >= figures, f"{page.name} shows {shown} of {figures} figures"
    assert "parameters" not in re.findall(r"<h1>(.*?)</h1>", html)


def test_site_has_results_and_index() -> None:
    _require(HTML / "index.html")
    results = (HTML / "book" / "results.html").read_text()
    for notebook in NOTEBOOKS:
        assert notebook.stem in results, f"results page lacks {notebook.stem}"


@pytest.mark.parametrize("profile", ["laptop", "full"])
def test_every_chapter_ran_tiny_on_the_code_paths_of(profile: str) -> None:
    """``make tiny`` ran each chapter's laptop and full paths at tiny sizes, green."""
    summary = ROOT / "_build" / "tiny" / profile / "run_summary.json"
    _require(summary)
    runs = json.loads(summary.read_text())
    missing = sorted(set(CHAPTER_IDS) - set(runs))
    assert not missing, f"no tiny {profile} run of {missing}"
    for chapter in CHAPTER_IDS:
        run = runs[chapter]
        assert run["ok"] and run["tiny"] and run["profile"] == profile, (chapter, run)
        results = ROOT / "_build" / "tiny" / profile / "results" / f"{chapter}.json"
        assert json.loads(results.read_text())["profile"] == profile


def test_every_chapter_has_tiny_sizes() -> None:
    import importlib

    for chapter in CHAPTERS:
        module = importlib.import_module(chapter.module)
        config = getattr(
            importlib.import_module(chapter.part("config")), f"Ch{chapter.number}Config"
        )
        assert config.TINY, f"{chapter.module} has no tiny sizes"
        assert set(config.TINY) <= set(config.parameter_names())
        assert Path(module.NOTEBOOK).stem == chapter.stem
