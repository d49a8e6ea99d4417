"""The chapters are listed once, in :mod:`course_lib.manifest`; every other list agrees with it.

The ``notebooks/`` folder, the notebooks' titles, the chapter modules and the README's chapter
table are checked against the manifest; the table of contents' ``Chapters`` part and the
introduction's chapter table are generated from it when the site is staged.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from course_book.site import CHAPTERS_MARK, chapters_table, chapters_toc
from course_lib.manifest import CHAPTERS, Chapter, chapter_label, select_chapters

ROOT = Path(__file__).resolve().parents[1]
MANIFEST_FILES = [str(chapter.notebook.with_suffix("")) for chapter in CHAPTERS]


def _toc_files(toc: dict) -> list[str]:
    """Every ``file`` entry of a table of contents' parts, in order."""
    return [entry["file"] for part in toc["parts"] for entry in part.get("chapters", [])]


def test_staged_toc_lists_the_manifest_chapters_in_order() -> None:
    repo_toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert not [f for f in _toc_files(repo_toc) if f.startswith("notebooks/")], (
        "_toc.yml lists a notebook by hand; the site stages the chapters from the manifest"
    )
    toc = chapters_toc(repo_toc)
    (part,) = [p for p in toc["parts"] if p.get("caption") == "Chapters"]
    assert [entry["file"] for entry in part["chapters"]] == MANIFEST_FILES
    assert toc["parts"][0] == repo_toc["parts"][0], "Getting started stays first"
    assert chapters_toc(toc) == toc, "staging twice changes nothing"


def test_notebooks_folder_holds_exactly_the_manifest() -> None:
    on_disk = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    listed = sorted(chapter.stem for chapter in CHAPTERS)
    assert on_disk == listed, (
        f"notebooks/ only: {sorted(set(on_disk) - set(listed))}; "
        f"manifest only: {sorted(set(listed) - set(on_disk))} (course_lib/manifest.py)"
    )


def test_chapters_are_numbered_in_order_without_duplicates() -> None:
    assert [chapter.number for chapter in CHAPTERS] == list(range(len(CHAPTERS)))
    assert len({chapter.stem for chapter in CHAPTERS}) == len(CHAPTERS)
    assert len({chapter.module for chapter in CHAPTERS}) == len(CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_notebook_title_and_module_match_the_manifest(chapter: Chapter) -> None:
    cells = json.loads((ROOT / chapter.notebook).read_text())["cells"]
    heading = "".join(cells[0]["source"]).splitlines()[0]
    assert heading == f"# {chapter.label}", "the manifest's title is the notebook's first heading"
    assert importlib.util.find_spec(chapter.module) is not None, f"no module {chapter.module}"


def test_readme_and_introduction_list_the_manifest_notebooks_in_order() -> None:
    stems = [chapter.stem for chapter in CHAPTERS]
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (\d+)\. ([^|\n]+) \| `notebooks/(\w+)\.ipynb` \|$", readme, re.M)
    assert rows == [(str(c.number), c.title, c.stem) for c in CHAPTERS], "README: number, title"
    intro = (ROOT / "book" / "intro.md").read_text()
    assert intro.count(CHAPTERS_MARK) == 1, "book/intro.md has no place for the chapter table"
    table = chapters_table()
    assert re.findall(r"^\| \[[^]]+\]\(\.\./notebooks/(\w+)\.ipynb\)", table, re.M) == stems
    assert all(c.teaches and c.data for c in CHAPTERS), "a chapter says what it builds and reads"
    assert all(f"| {c.teaches} | {c.data} |" in table for c in CHAPTERS)


def test_select_chapters_by_number_and_stem() -> None:
    stems = [c.stem for c in select_chapters(["02", CHAPTERS[0].stem, "02"])]
    assert stems == [CHAPTERS[2].stem, CHAPTERS[0].stem]
    assert select_chapters([]) == list(CHAPTERS)
    assert [c.stem for c in select_chapters(["notebooks/01_utr_rnafm.ipynb"])] == ["01_utr_rnafm"]
    with pytest.raises(ValueError, match="no chapter '9'; choose from 00_sequences, "):
        select_chapters(["9"])


def test_chapter_entry_is_checked_and_labelled() -> None:
    with pytest.raises(ValueError, match="stem '02_x' must be '01_<name>'"):
        Chapter(1, "02_x", "Title", "course_lib.chapters.x")
    assert Chapter(7, "07_x", "A title", "m").notebook == Path("notebooks/07_x.ipynb")
    assert chapter_label(CHAPTERS[0].stem) == f"Chapter 0: {CHAPTERS[0].title}"
    assert chapter_label("99_unknown") == "99_unknown"


def test_a_chapter_part_lives_beside_its_module_or_in_it() -> None:
    assert CHAPTERS[0].part("config") == "course_lib.chapters.ch0_config"
    small = Chapter(7, "07_x", "A title", "course_lib.chapters.ch7_small")
    assert small.part("config") == "course_lib.chapters.ch7_small"
