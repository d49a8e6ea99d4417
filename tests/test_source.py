"""``course_lib.source``: a model's code shown once per chapter, and the notebooks that show it."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import types
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from course_lib.manifest import CHAPTERS
from course_lib.source import show_source, source_view

ROOT = Path(__file__).resolve().parents[1]
SHOW_TAG = "hide-output"
IMPORT_TAG = "hide-input"


class TinyNet(nn.Module):
    """A two-layer network for the tests.

    This paragraph is the docstring's body: it must not be shown.
    """

    def __init__(self, width: int = 8) -> None:
        """Build the layers.

        Parameters
        ----------
        width
            Hidden units (a line of documentation that must not be shown).
        """
        super().__init__()
        self.hidden = nn.Linear(4, width)
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[n, 4]`` -> ``[n]``.

        More documentation that must not be shown.
        """
        return self.out(torch.relu(self.hidden(x))).squeeze(-1)

    def helper(self) -> int:
        return 1  # a method the members view leaves out


def test_a_class_keeps_its_code_and_loses_its_docstring_bodies():
    view = source_view(TinyNet)
    assert "self.hidden = nn.Linear(4, width)" in view.code
    assert "return self.out(torch.relu(self.hidden(x))).squeeze(-1)" in view.code
    assert '"""A two-layer network for the tests."""' in view.code
    assert '"""``[n, 4]`` -> ``[n]``."""' in view.code
    assert "must not be shown" not in view.code and "Parameters" not in view.code
    assert view.shortened
    ast.parse(view.code)  # still valid Python
    first_line = inspect.getsourcelines(TinyNet)[1]
    assert view.location.endswith(f"test_source.py:{first_line}")


def test_members_keep_only_the_named_methods():
    view = source_view(TinyNet, members=["forward"])
    assert "def forward(" in view.code and "def __init__(" not in view.code
    assert "def helper(" not in view.code and "return 1" not in view.code
    assert view.code.rstrip().endswith("# not shown: __init__, helper")
    assert "\n\n\n" not in view.code
    ast.parse(view.code)


def test_a_member_the_class_lacks_is_named():
    with pytest.raises(ValueError, match="no method backward.*__init__, forward, helper"):
        source_view(TinyNet, members=["forward", "backward"])


def test_objects_without_source_raise_a_clear_type_error():
    with pytest.raises(TypeError, match="has no source"):
        show_source(len)
    with pytest.raises(TypeError, match="an instance of TinyNet.*type\\(obj\\)"):
        show_source(TinyNet())
    with pytest.raises(TypeError, match="members applies to a class"):
        show_source(show_source, members=["forward"])


def test_a_library_model_is_named_by_its_file_and_line(capsys):
    from course_lib.models.attention_cnn import AttentionCNN

    show_source(AttentionCNN, members=["__init__", "forward"])
    printed = capsys.readouterr().out
    first_line = inspect.getsourcelines(AttentionCNN)[1]
    assert printed.startswith(f"# course_lib/models/attention_cnn.py:{first_line}")
    assert "torch.softmax(self.score(hidden).squeeze(-1), dim=1)" in printed
    assert "Shapes" not in printed  # the docstring's sections are cut


def test_a_function_keeps_a_one_paragraph_docstring_whole():
    def documented(x):
        """One paragraph only,
        spread over two lines."""
        return x

    view = source_view(documented)
    assert "spread over two lines." in view.code and not view.shortened
    assert view.code.startswith("def documented(x):")


def test_jupyter_gets_a_fenced_python_block(monkeypatch):
    shown = []
    display = types.ModuleType("IPython.display")
    display.display = lambda bundle, raw: shown.append(bundle)
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: object()
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    show_source(TinyNet, members=["forward"])
    markdown = shown[0]["text/markdown"]
    assert markdown.startswith("`") and "test_source.py:" in markdown.splitlines()[0]
    assert "```python\nclass TinyNet(nn.Module):" in markdown and markdown.endswith("```")
    assert shown[0]["text/plain"].startswith("# ")


def test_code_holding_a_fence_gets_a_longer_one():
    def fenced():
        return "```"

    assert "````python\n" in source_view(fenced).markdown()


def _cells(stem: str) -> list:
    return nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4).cells


def _tree(source: str) -> ast.Module:
    """A code cell parsed, its magics (``%pip``, ``!ls``) read as ``pass``."""
    return ast.parse(
        "\n".join(
            line[: len(line) - len(line.lstrip())] + "pass"
            if line.lstrip().startswith(("%", "!"))
            else line
            for line in source.splitlines()
        )
    )


def _imported_names(cells: list) -> dict[str, tuple[str, str]]:
    """``{name: (module, attribute)}`` of every ``from module import attribute`` in the cells."""
    names = {}
    for cell in cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(_tree(cell.source)):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    names[alias.asname or alias.name] = (node.module, alias.name)
    return names


def _show_calls(cells: list) -> list[tuple[list[str], ast.Call]]:
    """``(tags, call)`` of every ``show_source(...)`` call in a code cell."""
    found = []
    for cell in cells:
        if cell.cell_type != "code" or "show_source" not in cell.source:
            continue
        for node in ast.walk(_tree(cell.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "show_source":
                found.append((cell.metadata.get("tags", []), node))
    return found


@pytest.mark.parametrize("stem", [chapter.stem for chapter in CHAPTERS])
def test_every_chapter_shows_its_model_in_a_folded_cell(stem):
    cells = _cells(stem)
    calls = _show_calls(cells)
    assert any(SHOW_TAG in tags for tags, _ in calls), (
        f"{stem}: show the chapter's central model with show_source(...) in a cell tagged "
        f"{SHOW_TAG!r}"
    )
    imported = _imported_names(cells)
    for _, call in calls:
        target = call.args[0]
        assert isinstance(target, ast.Name) and target.id in imported, (
            f"{stem}: show_source({ast.unparse(target)}) names nothing the notebook imports"
        )
        module, attribute = imported[target.id]
        obj = getattr(importlib.import_module(module), attribute)
        members = {k.arg: ast.literal_eval(k.value) for k in call.keywords}.get("members")
        assert source_view(obj, members=members).code


@pytest.mark.parametrize("stem", [chapter.stem for chapter in CHAPTERS])
def test_the_import_wall_is_folded(stem):
    code = [cell for cell in _cells(stem) if cell.cell_type == "code"]
    colab = next(i for i, cell in enumerate(code) if "google.colab" in cell.source)
    imports = code[colab + 1]
    assert any(isinstance(n, ast.ImportFrom) for n in _tree(imports.source).body)
    assert IMPORT_TAG in imports.metadata.get("tags", []), (
        f"{stem}: tag the import cell after the Colab cell {IMPORT_TAG!r}"
    )
