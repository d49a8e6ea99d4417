"""A chapter's central model shown as code, the way d2l shows its networks.

``show_source(AttentionCNN, members=["__init__", "forward"])`` displays the source of a class
or function as a highlighted ``python`` block in Jupyter (and prints it elsewhere), named by
its file and first line (``course_lib/models/attention_cnn.py:27``). So that the reader reads
code rather than documentation, every docstring is cut to its summary (its first paragraph);
``members`` keeps only the named methods of a class and lists the others in a comment.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_WITH_BODY = (*_FUNCTIONS, ast.ClassDef, ast.Module)
_QUOTES = re.compile(r"^\s*[rRuU]?(\"\"\"|''')")


@dataclass(frozen=True)
class SourceView:
    """The trimmed source of one object and where it lives.

    Attributes
    ----------
    location
        ``"<file relative to its package's parent>:<first line>"``.
    code
        The source, dedented, with docstrings cut to their summary and, for a class shown
        with ``members``, only those methods.
    shortened
        Whether any docstring was cut.
    """

    location: str
    code: str
    shortened: bool

    def header(self) -> str:
        """The line above the code: file, line and what was left out."""
        note = " (docstrings cut to their summary)" if self.shortened else ""
        return f"{self.location}{note}"

    def text(self) -> str:
        """Header and code as plain text (what :func:`show_source` prints outside Jupyter)."""
        return f"# {self.header()}\n{self.code}"

    def markdown(self) -> str:
        """Header and a fenced ``python`` block (what :func:`show_source` displays in Jupyter)."""
        longest = max((len(run) for run in re.findall(r"`+", self.code)), default=0)
        fence = "`" * max(3, longest + 1)
        note = self.header()[len(self.location) :]
        return f"`{self.location}`{note}\n\n{fence}python\n{self.code}\n{fence}"


def _location(obj: Any, first_line: int) -> str:
    """``course_lib/models/x.py:12``: the file relative to the folder of its top package."""
    path = Path(inspect.getsourcefile(obj) or inspect.getfile(obj)).resolve()
    module = inspect.getmodule(obj)
    top = sys.modules.get(module.__name__.split(".")[0]) if module else None
    top_file = getattr(top, "__file__", None)
    if top_file and Path(top_file).name == "__init__.py":
        root = Path(top_file).resolve().parent.parent
        if path.is_relative_to(root):
            return f"{path.relative_to(root).as_posix()}:{first_line}"
    return f"{path.name}:{first_line}"


def _docstring(node: ast.AST) -> ast.Expr | None:
    """The docstring statement of a module, class or function node, else ``None``."""
    body = getattr(node, "body", None)
    if isinstance(node, _WITH_BODY) and body and isinstance(body[0], ast.Expr):
        value = body[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return body[0]
    return None


def _summary_lines(lines: list[str]) -> list[str] | None:
    """A triple-quoted docstring's lines cut to its first paragraph (``None``: nothing to cut).

    ``lines`` are the docstring's physical source lines; the kept ones end with its quotes.
    """
    opener = _QUOTES.match(lines[0])
    if opener is None or len(lines) == 1:
        return None
    start = 2 if lines[0].strip() == opener.group(0).strip() else 1
    blank = next((i for i in range(start, len(lines)) if not lines[i].strip()), None)
    if blank is None:
        return None
    kept = lines[:blank]
    kept[-1] = kept[-1].rstrip() + opener.group(1)
    return kept


def _method_spans(tree: ast.Module, members: Sequence[str]) -> tuple[list[range], list[str]]:
    """Line spans (0-based) of the class's methods not in ``members``, and their names.

    Raises
    ------
    ValueError
        A name in ``members`` is not a method defined in the class body.
    """
    cls = tree.body[0]
    methods = [node for node in cls.body if isinstance(node, _FUNCTIONS)]
    names = [node.name for node in methods]
    unknown = [name for name in members if name not in names]
    if unknown:
        raise ValueError(
            f"{cls.name} defines no method {', '.join(unknown)}; its methods are {', '.join(names)}"
        )
    dropped = [node for node in methods if node.name not in members]
    spans = [
        range(min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1, node.end_lineno)
        for node in dropped
    ]
    return spans, [node.name for node in dropped]


def _trim(source: str, members: Sequence[str] | None) -> tuple[str, bool]:
    """Cut the docstrings of ``source`` to their summary and drop methods not in ``members``."""
    lines = source.splitlines()
    tree = ast.parse(source)
    removed, dropped = _method_spans(tree, members) if members is not None else ([], [])
    edits = {span.start: (span.stop, []) for span in removed}
    for node in ast.walk(tree):
        doc = _docstring(node)
        if doc is None or any(doc.lineno - 1 in span for span in removed):
            continue
        summary = _summary_lines(lines[doc.lineno - 1 : doc.end_lineno])
        if summary is not None:
            edits[doc.lineno - 1] = (doc.end_lineno, summary)
    shortened = any(replacement for _, replacement in edits.values())
    for start in sorted(edits, reverse=True):
        stop, replacement = edits[start]
        lines[start:stop] = replacement
    if dropped:
        indent = tree.body[0].body[-1].col_offset
        lines.append(" " * indent + f"# not shown: {', '.join(dropped)}")
    code = re.sub(r"\n(\s*\n)+", "\n\n", "\n".join(lines).rstrip() + "\n")
    return code.rstrip("\n"), shortened


def source_view(obj: Any, *, members: Sequence[str] | None = None) -> SourceView:
    """The trimmed source of a class or function (see the module docstring).

    Parameters
    ----------
    obj
        A class or function defined in a Python file (a method: ``Model.forward``).
    members
        For a class only: the methods to keep (e.g. ``["__init__", "forward"]``); ``None``
        keeps the whole class.

    Raises
    ------
    TypeError
        ``obj`` has no Python source (a builtin, an instance, an object made at run time), or
        ``members`` is given for something that is not a class.
    ValueError
        ``members`` names a method the class does not define.
    """
    if members is not None and not inspect.isclass(obj):
        raise TypeError(f"members applies to a class, not to {obj!r}")
    try:
        lines, first_line = inspect.getsourcelines(obj)
    except (TypeError, OSError) as error:
        named = inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj)
        what = repr(obj) if named else f"an instance of {type(obj).__name__}"
        hint = "" if named else "; pass its class: type(obj)"
        raise TypeError(
            f"show_source needs a class or function defined in a Python file; {what} has no "
            f"source ({error}){hint}"
        ) from error
    code, shortened = _trim(textwrap.dedent("".join(lines)), members)
    return SourceView(_location(obj, first_line), code, shortened)


def show_source(obj: Any, *, members: Sequence[str] | None = None) -> None:
    """Show the trimmed source of a class or function, named by its file and line.

    In Jupyter it is displayed as a highlighted ``python`` block (Markdown), elsewhere printed.
    Arguments and errors are those of :func:`source_view`.
    """
    view = source_view(obj, members=members)
    ipython = sys.modules.get("IPython")
    if ipython is None or ipython.get_ipython() is None:
        print(view.text())
        return
    from IPython.display import display

    display({"text/markdown": view.markdown(), "text/plain": view.text()}, raw=True)
