"""An offline course pack: ``python -m data_scripts pack OUT``.

A workshop room with a poor network installs the course from one folder:

- ``course/``: the course's source at the packed commit (``git archive``), notebooks included;
- ``wheels/``: the wheels of the course and of every dependency at the versions CI installs
  (``constraints.txt``), torch included (the local CPU build);
- ``data/``: the real files of every data set in the cache whose licence permits handing them on
  (:attr:`course_lib.registry.DataSet.redistributable`), laid out as ``../shared/data`` so that
  ``python -m data_scripts prepare --shared data`` seeds the cache from them (checksummed);
- ``weights/``: registered pretrained weights found in the cache whose licence permits it;
- ``manifest.json``: what is in the pack, what was left out and how to obtain it;
  ``SHA256SUMS`` (``sha256sum -c SHA256SUMS``) and ``install.sh``, the command that installs and
  prepares from the pack with no network.

``--packages NAME ...`` packs the wheels of those requirements only (and the course's own wheel
without its dependencies): a small pack, for a test or a machine that has the rest.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from course_lib import registry, weights
from course_lib.paths import project_root

#: The install script written into every pack (``{...}`` filled by :func:`install_script`).
_INSTALL = """#!/bin/sh
# Install the course and prepare its data from this pack, with no network.
# Usage: sh install.sh [VENV]   (default VENV: course/.venv; PYTHON picks the interpreter)
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
VENV=${{1:-$HERE/course/.venv}}
(cd "$HERE" && sha256sum --quiet -c SHA256SUMS)
${{PYTHON:-python3}} -m venv "$VENV"
PIP="$VENV/bin/pip install --no-index --find-links $HERE/wheels"
{installs}
"$VENV/bin/python" -m data_scripts prepare --profile {profile} --shared "$HERE/data" --offline{only}
CHECKPOINTS=$("$VENV/bin/python" -c \
  "from course_lib.paths import checkpoints_dir; print(checkpoints_dir())")
if [ -n "$(ls -A "$HERE/weights" 2>/dev/null)" ]; then
  mkdir -p "$CHECKPOINTS" && cp -R "$HERE/weights/." "$CHECKPOINTS/"
fi
echo "installed into $VENV; open the chapters with: $VENV/bin/jupyter lab $HERE/course/notebooks"
"""


class PackError(RuntimeError):
    """A step of packing failed (``git archive``, a wheel build or download)."""


@dataclass
class PackManifest:
    """What a pack holds (``included``) and what it left out, with the reason and the fix."""

    commit: str
    profile: str
    packages: list[str]
    included: dict[str, list[str]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)


def _git_commit(root: Path) -> str:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown (not a git checkout)"


def pack_source(root: Path, out: Path) -> Path:
    """``out/course``: the committed source at ``HEAD`` (``git archive``: nothing untracked)."""
    target = out / "course"
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "course.tar"
        command = ["git", "archive", "--format=tar", "-o", str(archive), "HEAD"]
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise PackError(f"git archive failed in {root}: {done.stderr.strip()}")
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    return target


def pack_data(names: Sequence[str], out: Path, manifest: PackManifest) -> None:
    """Copy the cached real files of ``names`` that may be handed on into ``out/data/<subdir>``."""
    for name in names:
        dataset = registry.get(name)
        if not registry.is_real_available(name):
            manifest.left_out[name] = (
                f"not in the cache: run `python -m data_scripts fetch {name}` before packing"
            )
        elif not dataset.redistributable or dataset.shared_subdir is None:
            manifest.left_out[name] = (
                f"licence ({dataset.licence}) does not let the course hand it on: "
                f"`python -m data_scripts fetch {name}` where there is a network"
            )
        else:
            target = out / "data" / dataset.shared_subdir
            target.mkdir(parents=True, exist_ok=True)
            for remote in dataset.files:
                shutil.copyfile(
                    registry.real_folder(name) / remote.filename, target / remote.filename
                )
            manifest.included[name] = [
                f"data/{dataset.shared_subdir}/{f.filename}" for f in dataset.files
            ]


def pack_weights(out: Path, manifest: PackManifest) -> None:
    """Copy registered weights found in the cache whose licence permits it into ``out/weights``."""
    for name, entry in sorted(weights.WEIGHTS.items()):
        path, provenance = weights.locate_weights(name)
        if provenance != "real" or path is None:
            manifest.left_out[f"weights {name}"] = f"not in the cache: {entry.how_to_place()}"
        elif not entry.redistributable:
            why = f"licence ({entry.licence}) does not let the course hand it on"
            manifest.left_out[f"weights {name}"] = f"{why}: {entry.how_to_place()}"
        else:
            target = out / "weights" / entry.location
            target.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if path.is_dir() else shutil.copyfile)(path, target)
            manifest.included[f"weights {name}"] = [f"weights/{entry.location}"]


def pack_wheels(source: Path, out: Path, packages: Sequence[str], constraints: Path) -> None:
    """Wheels of the course (built from ``source``) and of ``packages`` with their dependencies.

    Empty ``packages`` means torch and the course's own dependencies (``.[dev]``), pinned by
    ``constraints``. Raises :class:`PackError` with pip's last line when a download fails.
    """
    wheels = out / "wheels"
    pip = [sys.executable, "-m", "pip"]
    steps = [[*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source)]]
    requirements = list(packages) or ["torch==2.13.0", f"{source}[dev]"]
    steps.append([*pip, "download", "--quiet", "--dest", str(wheels), "-c", str(constraints)])
    steps[-1] += requirements
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise PackError(f"{' '.join(step[2:4])} failed: {last}")
    for built in wheels.glob("*.zip"):  # pip download of a local folder keeps an sdist zip
        built.unlink()


def install_script(profile: str, packages: Sequence[str], data: Sequence[str] | None) -> str:
    """``install.sh``: checks the sums, installs with ``--no-index``, prepares the data offline
    (``data``: only those data sets; ``None``: all)."""
    if packages:
        installs = "$PIP --no-deps course-lib\n$PIP " + " ".join(f'"{p}"' for p in packages)
    else:
        installs = '$PIP torch==2.13.0\n$PIP "course-lib[dev]"'
    only = "" if data is None else " --data " + " ".join(data)
    return _INSTALL.format(installs=installs, profile=profile, only=only)


def _checksums(out: Path, manifest: PackManifest) -> None:
    """Record the sha256 of every file of the pack but the course source; write ``SHA256SUMS``."""
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.parts[len(out.parts)] != "course")
    manifest.sha256 = {str(p.relative_to(out)): registry.sha256sum(p) for p in files}
    lines = [f"{digest}  {name}" for name, digest in manifest.sha256.items()]
    (out / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def build_pack(
    out: str | Path,
    data: Sequence[str] | None = None,
    packages: Sequence[str] = (),
    wheels: bool = True,
    profile: str = "laptop",
) -> PackManifest:
    """Write an offline pack into ``out`` (absent or empty) and return its manifest.

    Parameters
    ----------
    out
        The pack's folder.
    data
        Data sets to pack (default: every registered one).
    packages
        Requirements whose wheels are packed (default: torch and all the course's dependencies).
    wheels
        ``False``: no wheels (a data-only pack; ``install.sh`` then needs a network).
    profile
        The profile ``install.sh`` prepares the data for.
    """
    out, root = Path(out), project_root()
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; give a new folder for the pack")
    out.mkdir(parents=True, exist_ok=True)
    manifest = PackManifest(_git_commit(root), profile, list(packages))
    source = pack_source(root, out)
    pack_data(sorted(registry.REGISTRY) if data is None else list(data), out, manifest)
    pack_weights(out, manifest)
    if wheels:
        pack_wheels(source, out, packages, root / "constraints.txt")
    else:
        manifest.left_out["wheels"] = "packed with --no-wheels: install.sh needs a network"
    (out / "install.sh").write_text(install_script(profile, packages, data))
    _checksums(out, manifest)
    (out / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
    return manifest
