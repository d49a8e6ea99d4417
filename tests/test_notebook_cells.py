"""A notebook holds narrative, parameters, calls, plots and exercises, not logic.

The contract (``COURSE_DESIGN.md``): "no function, class or loop of logic over about 15 lines
outside solution cells". This test measures it as follows.

- **Which cells**: every code cell of every chapter notebook, except cells tagged
  ``parameters`` (the papermill parameters: one assignment per parameter) and ``solution``
  (the answers to exercises, hidden from the reader).
- **What counts**: one *line of logic* per Python statement, nested statements included (the
  body of a ``for``, ``if`` or ``def`` counts line by line). A statement is counted once
  however many physical lines ``ruff format`` spreads it over: a call with one argument per
  line, or a dict literal, is one line of logic. Blank lines and comments do not count.
- **What does not count**: imports, Jupyter magics (``%pip``), and statements that only draw:
  a call or assignment whose value is a method of ``plt``, of a figure (a name starting with
  ``fig``) or of axes (a name starting with ``ax``), a call of a plotting helper (``plot_*``,
  ``draw_*``), and a ``for`` loop whose body only draws. So a plotting cell may be as long as
  its figure needs, as long as it only plots.
- **The limit**: :data:`MAX_LOGIC_LINES` = 15 lines of logic per cell. Logic beyond that belongs
  in the chapter's modules (``course_lib/chapters/chN_*.py``) as a tested function, with a call
  left in the notebook.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from course_lib.manifest import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
MAX_LOGIC_LINES = 15
EXEMPT_TAGS = {"parameters", "solution"}
DRAWING_ROOTS = ("plt", "fig", "ax")
DRAWING_FUNCTIONS = ("plot_", "draw_")


def _root_name(node: ast.expr) -> str | None:
    """The name at the root of ``a.b[0].c(...)`` (``a``), or ``None``."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def draws(statement: ast.stmt) -> bool:
    """Whether ``statement`` only draws (see the module docstring)."""
    if isinstance(statement, ast.For):
        return all(draws(s) for s in statement.body) and not statement.orelse
    if not isinstance(statement, ast.Expr | ast.Assign):
        return False
    value = statement.value
    if not isinstance(value, ast.Call):
        return False
    if isinstance(value.func, ast.Name):
        return value.func.id.startswith(DRAWING_FUNCTIONS)
    root = _root_name(value.func)
    return root is not None and root.startswith(DRAWING_ROOTS)


def logic_lines(source: str) -> int:
    """Lines of logic of one code cell (see the module docstring)."""
    code = "\n".join(
        line[: len(line) - len(line.lstrip())] + "pass"
        if line.lstrip().startswith(("%", "!"))
        else line
        for line in source.splitlines()
    )
    count = 0
    pending = list(ast.parse(code).body)
    while pending:
        statement = pending.pop()
        if isinstance(statement, ast.Import | ast.ImportFrom | ast.Pass) or draws(statement):
            continue
        count += 1
        for field in ("body", "orelse", "finalbody", "handlers"):
            pending.extend(getattr(statement, field, []))
    return count


def long_cells(notebook: Path) -> list[str]:
    """``"cell <id> (<n> lines of logic): <first line>"`` for each cell over the limit."""
    found = []
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type != "code" or tags & EXEMPT_TAGS:
            continue
        lines = logic_lines(cell.source)
        if lines > MAX_LOGIC_LINES:
            first = cell.source.strip().splitlines()[0]
            found.append(f"cell {cell.get('id')} ({lines} lines of logic): {first}")
    return found


@pytest.mark.parametrize("stem", [chapter.stem for chapter in CHAPTERS])
def test_no_code_cell_holds_more_than_15_lines_of_logic(stem):
    found = long_cells(ROOT / "notebooks" / f"{stem}.ipynb")
    assert not found, (
        f"{stem}: move the logic of these cells into the chapter's modules as tested "
        "functions and leave a call: " + "; ".join(found)
    )


def test_a_call_over_many_lines_is_one_line_and_drawing_is_free():
    source = "\n".join(
        [
            "%pip install x",
            "import numpy as np",
            "fig, axes = plt.subplots(1, 2)",
            "for ax in axes:",
            "    ax.plot([1, 2])",
            "plot_map(m, axes[0])",
            "table = summarise(",
            "    rows,",
            "    columns,",
            ")",
            "# a comment",
            "for name in names:",
            "    value = table[name]",
            "    print(value)",
            "plt.show()",
        ]
    )
    assert logic_lines(source) == 4  # table =, for, value =, print


def test_a_long_loop_of_logic_is_caught(tmp_path):
    body = "\n".join(f"    total = total + {i}" for i in range(MAX_LOGIC_LINES))
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(f"total = 0\nfor _ in range(3):\n{body}"),
        nbformat.v4.new_code_cell(f"for _ in range(3):\n{body}", metadata={"tags": ["solution"]}),
    ]
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, str(path))
    found = long_cells(path)
    assert len(found) == 1 and f"({MAX_LOGIC_LINES + 2} lines of logic)" in found[0]
