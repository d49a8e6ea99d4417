"""The offline course pack: what it holds, what it leaves out, and an install with no index."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import course_lib.datasets  # noqa: F401  (registers the catalog)
from course_lib import registry
from data_scripts.pack import build_pack

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
#: What ``python -m data_scripts prepare`` imports besides the course: the small pack's wheels.
PREPARE_PACKAGES = ("numpy", "pandas", "scikit-learn", "platformdirs", "h5py")


@pytest.fixture
def seeded_cache(tmp_path, monkeypatch):
    """A data cache holding the real PUM2 files (from ``../shared/data``)."""
    if not (SHARED / "pum2").is_dir():
        pytest.skip("../shared/data/pum2 is not here")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    assert registry.seed_from("pum2", SHARED) is not None
    return tmp_path / "cache"


def test_a_data_pack_holds_checksummed_real_files_and_says_what_it_left_out(
    tmp_path, seeded_cache, monkeypatch
):
    out = tmp_path / "pack"
    manifest = build_pack(out, data=["pum2", "utr_testsets"], wheels=False, profile="smoke")
    assert manifest.included["pum2"] == [
        f"data/pum2/{f.filename}" for f in registry.get("pum2").files
    ]
    assert "python -m data_scripts fetch utr_testsets" in manifest.left_out["utr_testsets"]
    assert "put the file at" in manifest.left_out["weights rnafm"], "how to place absent weights"
    assert (out / "course" / "notebooks").is_dir() and (out / "course" / "pyproject.toml").exists()
    assert not (out / "course" / "results").exists(), "only committed files are packed"
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "--offline" in (out / "install.sh").read_text()
    assert json.loads((out / "manifest.json").read_text())["sha256"] == manifest.sha256
    # a fresh cache is seeded from the pack, verified against the registry's checksums
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "fresh"))
    assert registry.seed_from("pum2", out / "data") is not None
    assert registry.load("pum2").provenance == "real"


def test_data_whose_licence_forbids_it_is_listed_not_packed(tmp_path, seeded_cache, monkeypatch):
    closed = registry.get("pum2").__class__(
        **{**vars(registry.get("pum2")), "redistributable": False}
    )
    monkeypatch.setitem(registry.REGISTRY, "pum2", closed)
    manifest = build_pack(tmp_path / "pack", data=["pum2"], wheels=False)
    assert "pum2" not in manifest.included and not (tmp_path / "pack" / "data").exists()
    assert "does not let the course hand it on" in manifest.left_out["pum2"]
    with pytest.raises(FileExistsError, match="is not empty"):
        build_pack(tmp_path / "pack", data=["pum2"], wheels=False)


def test_a_small_pack_installs_with_no_index_and_prepares_its_data(tmp_path, seeded_cache):
    out = tmp_path / "pack"
    command = [sys.executable, "-m", "data_scripts", "pack", str(out), "--data", "pum2"]
    command += ["--packages", *PREPARE_PACKAGES, "--profile", "smoke"]
    env = {**os.environ, "COURSE_DATA_DIR": str(seeded_cache)}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "install with no network: sh" in done.stdout
    assert any(out.glob("wheels/course_lib-*.whl")) and any(out.glob("wheels/numpy-*.whl"))
    # install: no index (pip may read only the pack's wheels), then prepare offline from the pack
    env = {**os.environ, "COURSE_DATA_DIR": str(tmp_path / "student"), "PIP_NO_INDEX": "1"}
    env.pop("PIP_FIND_LINKS", None)
    install = subprocess.run(
        ["sh", str(out / "install.sh"), str(tmp_path / "venv")],
        env=env | {"PIP_CONFIG_FILE": os.devnull, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert re.search(r"^pum2\s+real\s+seeded from ", install.stdout, re.M), install.stdout[-2000:]
    python = tmp_path / "venv" / "bin" / "python"
    probe = "from course_lib import registry; import course_lib.datasets; "
    probe += "print(registry.load('pum2').provenance)"
    loaded = subprocess.run([python, "-c", probe], env=env, capture_output=True, text=True)
    assert loaded.stdout.strip() == "real", loaded.stderr
