"""Every third-party package that any profile imports is declared in ``pyproject.toml``.

A code path that only ``laptop`` or ``full`` takes (chapter 5's UMAP projection once failed
on a fresh install) is still parsed here: the test reads every import statement of
``course_lib/``, ``course_book/``, ``data_scripts/`` and every notebook's code cells, wherever
it stands (inside a function, behind an ``if``), maps each top-level module to the distributions
that provide it in this environment, and fails when none of them is a declared runtime dependency.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OWN_PACKAGES = {"course_lib", "course_book", "data_scripts"}
# Colab's own module, imported only inside a `"google.colab" in sys.modules` check
PROVIDED_BY_PLATFORM = {"google"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions(extras: tuple[str, ...] = ()) -> set[str]:
    """Normalised names of ``pyproject.toml``'s dependencies (and of the given extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return {_normalise(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in requirements}


def imported_modules(source: str) -> set[str]:
    """Top-level names of absolute imports in ``source`` (magics and shell lines skipped)."""
    lines = [
        re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in source.splitlines()
    ]  # an IPython magic or shell line becomes `pass`, keeping the block it stands in
    names = set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def project_sources() -> dict[str, str]:
    """``{label: source}`` for every module of the package and every notebook code cell."""
    sources = {}
    for folder in ("course_lib", "course_book", "data_scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            sources[str(path.relative_to(ROOT))] = path.read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                sources[f"{path.relative_to(ROOT)} cell {i}"] = "".join(cell["source"])
    return sources


def third_party_imports() -> dict[str, list[str]]:
    """``{module: [where it is imported]}`` for modules outside the stdlib and the project."""
    found: dict[str, list[str]] = {}
    for label, source in project_sources().items():
        for name in imported_modules(source):
            if name in sys.stdlib_module_names or name in OWN_PACKAGES | PROVIDED_BY_PLATFORM:
                continue
            found.setdefault(name, []).append(label)
    return found


def test_imports_are_parsed_from_functions_and_branches():
    source = "def f():\n    if x:\n        import umap\n    from sklearn.linear_model import A\n"
    assert imported_modules(source) == {"umap", "sklearn"}
    assert imported_modules("if colab:\n    !pip install x\nimport h5py\n") == {"h5py"}


def test_every_third_party_import_is_a_declared_dependency():
    providers = importlib.metadata.packages_distributions()
    declared = declared_distributions()
    undeclared = {}
    for module, where in sorted(third_party_imports().items()):
        dists = {_normalise(d) for d in providers.get(module, [])}
        if not dists & declared:
            undeclared[module] = (sorted(dists) or ["not installed"], where[:3])
    assert not undeclared, (
        "imported but not declared in pyproject.toml [project].dependencies "
        "(module: (providing distributions, first places)): "
        + "; ".join(f"{m}: {d}" for m, d in undeclared.items())
    )


@pytest.mark.parametrize("module", ["umap", "RNA", "fm", "h5py"])
def test_optional_paths_resolve_on_this_install(module):
    """Modules that only some profiles or chapters import are importable after install."""
    if module not in third_party_imports():
        pytest.skip(f"{module} is not imported by the course")
    __import__(module)
