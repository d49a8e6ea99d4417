"""The repository's address, held once: ``repository.url`` in ``_config.yml``.

Jupyter Book's launch buttons (Binder, Colab) and its repository button read it from there;
``CITATION.cff`` (``repository-code``), the ``git clone`` lines of ``README.md`` and
``book/setup.md`` and every chapter's Colab install cell
(``%pip install -q "course-lib @ git+<address>"``, the notebook cell tagged ``colab``) repeat it.
``python -m course_book.repository check`` lists every place that disagrees with the setting;
``python -m course_book.repository set URL`` writes ``URL`` into all of them (the notebooks
through nbformat, keeping cell ids) when the course moves.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from course_lib.manifest import CHAPTERS
from course_lib.paths import project_root

CONFIG = Path("_config.yml")
CITATION = Path("CITATION.cff")
CLONE_PAGES = (Path("README.md"), Path("book") / "setup.md")
#: The package name the Colab cell installs (``[project] name`` in ``pyproject.toml``).
PACKAGE_NAME = "course-lib"
COLAB_INSTALL = re.compile(r'"course-lib @ git\+(?P<url>[^"@]+)"')
CLONE = re.compile(r"git clone (?P<url>\S+)")
CITED = re.compile(r'^repository-code: "(?P<url>[^"]+)"', re.MULTILINE)


def repository_url(root: Path) -> str:
    """The setting: ``repository.url`` of ``_config.yml``."""
    return yaml.safe_load((root / CONFIG).read_text())["repository"]["url"]


def colab_cell_source(notebook: Path) -> str:
    """The source of ``notebook``'s Colab install cell (the code cell tagged ``colab``).

    Raises
    ------
    ValueError
        The notebook has no such cell.
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "colab" in cell.metadata.get("tags", []):
            return cell.source
    raise ValueError(f"{notebook} has no code cell tagged 'colab' (the Colab install cell)")


def addresses(root: Path) -> dict[str, list[str]]:
    """``{place: [addresses found there]}`` for every place that repeats the address."""
    found = {str(CITATION): CITED.findall((root / CITATION).read_text())}
    for page in CLONE_PAGES:
        found[str(page)] = CLONE.findall((root / page).read_text())
    for chapter in CHAPTERS:
        source = colab_cell_source(root / chapter.notebook)
        found[str(chapter.notebook)] = COLAB_INSTALL.findall(source)
    return found


def disagreements(root: Path) -> list[str]:
    """The places whose address is missing or differs from :func:`repository_url`."""
    url = repository_url(root)
    problems = []
    for place, urls in addresses(root).items():
        if not urls:
            problems.append(f"{place}: no repository address found")
        problems += [f"{place}: {u} (the setting is {url})" for u in urls if u != url]
    return problems


def set_url(root: Path, url: str) -> list[str]:
    """Write ``url`` into the setting and every place that repeats it; the files changed."""
    old = repository_url(root)
    changed = []
    for path in (CONFIG, CITATION, *CLONE_PAGES):
        text = (root / path).read_text()
        if old in text:
            (root / path).write_text(text.replace(old, url))
            changed.append(str(path))
    import nbformat

    for chapter in CHAPTERS:
        nb = nbformat.read(root / chapter.notebook, as_version=4)
        cells = [c for c in nb.cells if "colab" in c.metadata.get("tags", [])]
        for cell in cells:
            cell.source = COLAB_INSTALL.sub(f'"{PACKAGE_NAME} @ git+{url}"', cell.source)
        nbformat.write(nb, root / chapter.notebook)
        changed.append(str(chapter.notebook))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_book.repository", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="list the places that disagree with the setting")
    setter = commands.add_parser("set", help="write a new address everywhere")
    setter.add_argument("url", help="e.g. https://github.com/<owner>/<name>")
    args = parser.parse_args(argv)
    root = project_root()
    if args.command == "set":
        print("\n".join(f"updated {p}" for p in set_url(root, args.url.rstrip("/"))))
    problems = disagreements(root)
    print("\n".join(problems) or f"every place uses {repository_url(root)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
