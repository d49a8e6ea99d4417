"""Importing the library never imports the book's tooling.

``course_book`` (runner, site, student versions, timings) needs papermill, nbformat and Jupyter
Book; ``course_lib`` (models, data sets, training, chapters) must not: a student who imports a
model gets no notebook machinery, and the library never imports ``course_book``. The import is
checked in a fresh interpreter, where nothing was imported before.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from course_lib.manifest import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
BOOK_TOOLING = ("papermill", "nbformat", "jupyter_book", "myst_nb", "sphinx", "nbclient")
FORBIDDEN = (*BOOK_TOOLING, "course_book")

PROBE = f"""
import importlib, json, pkgutil, sys
import course_lib
names = [m.name for m in pkgutil.walk_packages(course_lib.__path__, "course_lib.")]
for name in names:
    importlib.import_module(name)
forbidden = {FORBIDDEN!r}
loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
print(json.dumps({{"modules": names, "loaded": loaded}}))
"""


def _import_every_module() -> dict[str, list[str]]:
    """``{"modules": [imported course_lib modules], "loaded": [forbidden modules imported]}``."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    run = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_importing_every_course_lib_module_imports_no_book_tooling() -> None:
    found = _import_every_module()
    modules = set(found["modules"])
    expected = {
        "course_lib.models.rnafm",
        "course_lib.datasets",
        "course_lib.training",
        "course_lib.registry",
        "course_lib.manifest",
        *(chapter.module for chapter in CHAPTERS),
    }
    assert expected <= modules, f"the probe did not import {sorted(expected - modules)}"
    assert not found["loaded"], (
        f"importing course_lib imported {found['loaded']}: move that code to course_book/ or "
        "import the package inside the function that needs it"
    )


def test_no_course_lib_source_imports_course_book() -> None:
    """Also inside functions, which the import above does not run."""
    offenders = []
    for path in sorted((ROOT / "course_lib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            else:
                continue
            if any(name.split(".")[0] == "course_book" for name in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"course_lib imports course_book at {offenders}"
