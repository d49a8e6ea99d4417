"""The package layout: one home per chapter, no import cycle, small functions and modules.

Every chapter module listed in :mod:`course_lib.manifest` names its notebook, and its
``chN_report`` beside it holds anchors with protocol labels; its configuration is one class in
``chN_config`` whose every field is a parameter of the notebook's parameters cell, resolved
once and read by the notebook or its recipes; nothing else in ``course_lib`` imports a chapter
module. The import graph of ``course_lib`` has no cycle, no function is longer than 60 lines and
no module longer than 700.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import course_lib
from course_lib.config import BASE_PROFILE, ChapterConfig
from course_lib.manifest import CHAPTERS as MANIFEST
from course_lib.profiles import PROFILE_NAMES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_lib"
CHAPTERS = [chapter.module.rpartition(".")[2] for chapter in MANIFEST]
PARTS = {chapter.module.rpartition(".")[2]: chapter for chapter in MANIFEST}
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 700


def module_name(path: Path) -> str:
    """``course_lib/a/b.py`` -> ``course_lib.a.b`` (a package's ``__init__`` is the package)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def notebook_code(notebook: str) -> str:
    """All code cells of ``notebooks/<notebook>`` joined."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def imported_modules(path: Path) -> set[str]:
    """``course_lib`` modules that ``path`` imports anywhere (top level or inside functions).

    ``from package import name`` counts as importing ``package.name`` when that is a module.
    Importing ``a.b.c`` also runs the packages ``a.b`` above it, unless the importer lives in
    that package already.
    """
    importer = module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in SOURCES else node.module
                for a in node.names
            ]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            for depth in range(2, len(parts) + 1):
                name = ".".join(parts[:depth])
                inside = importer == name or importer.startswith(name + ".")
                if name in SOURCES and not (inside and depth < len(parts)):
                    found.add(name)
    found.discard(importer)
    return found


def chapter_config(chapter: str) -> type[ChapterConfig]:
    """The one :class:`ChapterConfig` subclass of the chapter (``chN_config`` or its module)."""
    module = importlib.import_module(PARTS[chapter].part("config"))
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ChapterConfig)
        and value.__module__ == module.__name__
    ]
    assert len(found) == 1, f"{module.__name__} defines {len(found)} configuration classes"
    return found[0]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_module_follows_the_convention(chapter):
    module = importlib.import_module(f"course_lib.chapters.{chapter}")
    assert (ROOT / "notebooks" / module.NOTEBOOK).exists()
    assert module.NOTEBOOK.startswith(f"0{chapter[2]}_"), "chN_... belongs to notebook 0N_..."
    assert module.NOTEBOOK in module.__doc__, "the module docstring names its notebook"
    config = chapter_config(chapter)
    assert config.__name__ == f"Ch{chapter[2]}Config"
    assert module.NOTEBOOK in importlib.import_module(config.__module__).__doc__
    assert set(config.PROFILES) <= set(PROFILE_NAMES) - {BASE_PROFILE}
    for profile in PROFILE_NAMES:
        for tiny in (False, True):
            assert config.resolve(profile, tiny=tiny).profile == profile
    rules = {f.name: f.metadata["rule"] for f in dataclasses.fields(config)}
    options = [name for name in config.TINY if rules[name].choices or rules[name].kind is bool]
    assert config.TINY and not options, f"tiny holds sizes only, not {options}"
    report = importlib.import_module(PARTS[chapter].part("report"))
    assert module.NOTEBOOK in report.__doc__, "the report module docstring names its notebook"
    for anchor in report.ANCHORS:
        assert anchor.protocol, f"{chapter}: anchor {anchor.name!r} has no protocol label"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_parameter_is_in_the_parameters_cell_and_resolved_once(chapter):
    module = importlib.import_module(f"course_lib.chapters.{chapter}")
    config = chapter_config(chapter)
    names = config.parameter_names()
    cells = json.loads((ROOT / "notebooks" / module.NOTEBOOK).read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", []), "the first code cell"
    assigned = {
        target.id
        for node in ast.parse("".join(code[0]["source"])).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    missing = sorted({"profile", "tiny", *names} - assigned)
    assert not missing, f"{module.NOTEBOOK}: the parameters cell lacks {missing}"
    text = notebook_code(module.NOTEBOOK)
    assert f"course_lib.chapters.{chapter}" in text, "the notebook imports its chapter module"
    calls = [
        node
        for c in code[1:]
        if f"{config.__name__}.resolve(" in "".join(c["source"])
        for node in ast.walk(ast.parse("".join(c["source"])))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == f"{config.__name__}.resolve"
    ]
    assert len(calls) == 1, f"{module.NOTEBOOK} resolves its configuration {len(calls)} times"
    passed = {k.arg: getattr(k.value, "id", None) for k in calls[0].keywords}
    assert passed == {name: name for name in ("tiny", *names)}, "every parameter passed on"
    # the chapter's recipes and report receive settings and read it there
    family = sorted((PACKAGE / "chapters").glob(f"{chapter[:3]}_*.py"))
    text += "".join(p.read_text() for p in family if not p.name.endswith("_config.py"))
    unread = [
        name for name in names if not re.search(rf"settings(\.{name}\b|\[[\"']{name}[\"']\])", text)
    ]
    assert not unread, f"{module.NOTEBOOK} (or its recipes, report) never reads settings {unread}"


def test_only_chapter_modules_import_chapter_modules():
    offenders = {
        name: sorted(m for m in imported_modules(path) if m.startswith("course_lib.chapters."))
        for name, path in SOURCES.items()
        if not name.startswith("course_lib.chapters")
    }
    assert not {k: v for k, v in offenders.items() if v}


def chapter_family(module: str) -> str | None:
    """``"ch5"`` for ``course_lib.chapters.ch5_utr_lm`` (any ``chN_`` module); else ``None``."""
    match = re.fullmatch(r"course_lib\.chapters\.(ch\d+)_\w+", module)
    return match[1] if match else None


def test_no_chapter_imports_another_chapter():
    """A chapter's modules (``chN_*``) import only their own family; what two chapters share
    (chapter 5's UTR-LM backbone, read by chapter 1) lives in a shared module."""
    offenders = {
        name: sorted(m for m in imported_modules(path) if chapter_family(m) not in (None, family))
        for name, path in SOURCES.items()
        if (family := chapter_family(name))
    }
    assert not {k: v for k, v in offenders.items() if v}
    assert chapter_family("course_lib.chapters.ch1_utr_rnafm") == "ch1"


def test_chapter_1_and_the_shared_backbone_import_no_other_chapter():
    shared = imported_modules(PACKAGE / "utr_lm_backbone.py")
    assert not [m for m in shared if m.startswith("course_lib.chapters")]
    for path in PACKAGE.glob("chapters/ch1_*.py"):
        assert not [m for m in imported_modules(path) if chapter_family(m) not in (None, "ch1")]


def test_no_import_cycle_among_course_lib_modules():
    graph = {name: imported_modules(path) for name, path in SOURCES.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, " ; ".join(" -> ".join(c) for c in cycles)


def test_no_function_over_60_lines():
    long = []
    for name, path in SOURCES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name} ({lines} lines)")
    assert not long, ", ".join(long)


def test_no_module_over_700_lines():
    long = {name: n for name, p in SOURCES.items() if (n := len(p.read_text().splitlines())) > 700}
    assert not long


def mapped_elsewhere(name: str) -> bool:
    """A data set module (the catalog ``course_lib.datasets`` lists it in ``__all__``) or a
    module of a manifest chapter's family (``course_lib.chapters.chN_*``): their own lists map
    them, so adding a data set or a chapter does not touch ``course_lib/__init__.py``."""
    import course_lib.datasets

    package, _, leaf = name.rpartition(".")
    if package == "course_lib.datasets":
        return leaf in course_lib.datasets.__all__
    numbers = {f"ch{chapter.number}_" for chapter in MANIFEST}
    return package == "course_lib.chapters" and leaf.startswith(tuple(numbers))


def test_package_docstring_maps_every_module():
    doc = course_lib.__doc__
    missing = [
        name
        for name in SOURCES
        if name != "course_lib" and f":mod:`{name}`" not in doc and not mapped_elsewhere(name)
    ]
    assert not missing, f"course_lib/__init__.py does not describe {missing}"


def test_the_catalog_imports_every_data_set_module():
    import course_lib.datasets

    modules = {p.stem for p in (PACKAGE / "datasets").glob("*.py") if p.stem != "__init__"}
    assert modules == set(course_lib.datasets.__all__)


EXERCISE_HEADING = re.compile(r"^#{2,4} Exercise (\d+)\.(\d+):")
NOTEBOOKS = [chapter.stem for chapter in MANIFEST]


def exercise_labels(markdown: list[str]) -> dict[str, str]:
    """``{"2.1": "ch2-exercise-1", ...}``: each exercise heading and the MyST target above it."""
    labels = {}
    for text in markdown:
        lines = text.splitlines()
        for index, line in enumerate(lines):
            if match := EXERCISE_HEADING.match(line):
                above = re.fullmatch(r"\((.+)\)=", lines[index - 1]) if index else None
                labels[f"{match[1]}.{match[2]}"] = above[1] if above else ""
    return labels


def summary_sections(markdown: list[str]) -> str:
    """The text of every ``## Key points`` and ``## Summary`` section, up to the next heading."""
    found = re.findall(
        r"^## (?:Key points|Summary)\n(.*?)(?=^#{1,2} |\Z)", "\n".join(markdown), re.M | re.S
    )
    return "\n".join(found)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_exercise_is_linked_from_the_key_points(notebook):
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    labels = exercise_labels(markdown)
    assert len(labels) >= 2, f"{notebook}: fewer than two exercise headings"
    unlabelled = [number for number, label in labels.items() if not label]
    assert not unlabelled, f"{notebook}: no (label)= target above Exercise {unlabelled}"
    summary = summary_sections(markdown)
    assert summary, f"{notebook} has no Key points or Summary section"
    unlinked = [
        number
        for number, label in labels.items()
        if not re.search(rf"\{{ref\}}`(?:[^`<]*<{re.escape(label)}>|{re.escape(label)})`", summary)
    ]
    assert not unlinked, f"{notebook}: Key points / Summary do not link Exercise {unlinked}"


def test_registry_does_not_import_data_set_modules():
    assert not {m for m in imported_modules(SOURCES["course_lib.registry"]) if "datasets" in m}


def test_data_scripts_list_does_not_import_torch(tmp_path):
    probe = (
        "import runpy, sys; sys.argv = ['data_scripts', 'list']\n"
        "try:\n    runpy.run_module('data_scripts', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')"
    )
    env = {**os.environ, "COURSE_DATA_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, env=env
    )
    out = run.stdout
    assert out.strip().endswith("no torch"), out[-500:]
