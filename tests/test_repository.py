"""The repository address is one setting, and the Colab cell's install command works with it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from course_book.repository import (
    COLAB_INSTALL,
    PACKAGE_NAME,
    colab_cell_source,
    disagreements,
    repository_url,
)
from course_lib.manifest import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]


def test_launch_buttons_citation_clone_lines_and_colab_cells_use_the_setting() -> None:
    url = repository_url(ROOT)
    assert url.startswith("https://github.com/") and not url.endswith("/")
    assert disagreements(ROOT) == []
    for chapter in CHAPTERS:
        source = colab_cell_source(ROOT / chapter.notebook)
        assert COLAB_INSTALL.search(source).group("url") == url, chapter.stem


def test_a_changed_address_is_caught(tmp_path: Path) -> None:
    for path in ("_config.yml", "CITATION.cff", "README.md", "book/setup.md", "notebooks"):
        source = ROOT / path
        copy = shutil.copytree if source.is_dir() else shutil.copy
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        copy(source, tmp_path / path)
    config = tmp_path / "_config.yml"
    config.write_text(config.read_text().replace(repository_url(ROOT), "https://github.com/a/b"))
    problems = disagreements(tmp_path)
    assert any(p.startswith("CITATION.cff: ") for p in problems)
    assert sum(p.startswith("notebooks/") for p in problems) == len(CHAPTERS)


@pytest.mark.skipif(not shutil.which("git"), reason="git is not installed")
def test_the_colab_install_command_installs_the_package_from_a_git_address(tmp_path) -> None:
    """The Colab cell's requirement with a local clone's address, in a fresh virtual environment.

    ``pip wheel`` resolves ``course-lib @ git+<address>`` exactly as the Colab cell writes it
    (no dependencies, no index: only the address and the package are under test); the wheel
    is installed into a new environment that then imports the package's manifest.
    """
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    source = colab_cell_source(ROOT / CHAPTERS[0].notebook)
    requirement = COLAB_INSTALL.search(source).group(0).strip('"')
    local = requirement.replace(repository_url(ROOT), f"file://localhost{clone}")
    assert local.startswith(f"{PACKAGE_NAME} @ git+file://")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    offline = ["--no-deps", "--no-index", "--no-build-isolation"]
    wheels = tmp_path / "wheels"
    subprocess.run([*pip, "wheel", *offline, "-w", str(wheels), local], check=True, timeout=120)
    (wheel,) = wheels.glob("course_lib-*.whl")
    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    install = [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, timeout=120)
    code = "import course_lib.manifest as m; print(len(m.CHAPTERS), m.__file__)"
    done = subprocess.run(
        [str(python), "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    count, where = done.stdout.split()
    assert int(count) == len(CHAPTERS) and where.startswith(str(env))
