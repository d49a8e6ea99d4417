"""Faulty and interrupted writes: nothing half-written is read; errors name the folder."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from course_lib.atomic import WriteFailed, atomic_path, write_text_atomic
from course_lib.structure import fold_cached, sequence_set_key

SEQS = ["GGGAAACCC", "ACGUACGUAAGG", "GGGAAACCC"]


def _full_disk(*args, **kwargs):
    """A write that fails part-way, as on a full disk: some bytes written, then ENOSPC."""
    Path(args[0]).write_bytes(b"PK\x03\x04 half")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_an_atomic_write_replaces_the_file_whole_or_leaves_it_unchanged(tmp_path):
    target = tmp_path / "results" / "chapter.json"
    write_text_atomic(target, '{"r": 1}')
    with pytest.raises(RuntimeError), atomic_path(target) as part:
        part.write_text('{"r": 2, "half')
        raise RuntimeError("kernel interrupted")
    assert json.loads(target.read_text()) == {"r": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["chapter.json"], "no part left"


def test_a_failed_write_names_the_folder_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez_compressed", _full_disk)
    with pytest.raises(WriteFailed) as err:
        fold_cached(SEQS, cache_dir=tmp_path, processes=1, show_progress=False)
    assert str(tmp_path) in str(err.value) and "No space left on device" in str(err.value)
    assert "Nothing was left half-written" in str(err.value)
    assert list(tmp_path.iterdir()) == [], "no partial cache file"


def test_a_corrupted_folding_cache_is_reported_and_rebuilt(tmp_path):
    fresh = fold_cached(SEQS, cache_dir=tmp_path, processes=1, show_progress=False)
    (path,) = tmp_path.glob("*.npz")
    assert path.stem == sequence_set_key([s.replace("T", "U") for s in SEQS])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated by a killed run
    with pytest.warns(UserWarning, match="is corrupted .* folding again"):
        again = fold_cached(SEQS, cache_dir=tmp_path, processes=1, show_progress=False)
    assert again.structures == fresh.structures and np.array_equal(again.mfe, fresh.mfe)
    with np.load(path) as data:  # replaced by a whole file
        assert data["sequences"].tolist() == sorted(set(fresh.sequences))


def test_a_results_file_survives_a_run_killed_while_writing(tmp_path):
    """A process killed inside the write leaves the previous results, and no part file."""
    target = tmp_path / "results.json"
    write_text_atomic(target, '{"run": 1}')
    script = textwrap.dedent(
        f"""
        import os, signal
        from course_lib.atomic import atomic_path
        with atomic_path({str(target)!r}) as part:
            part.write_text('{{"run": 2, "unfinished')
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False)
    assert done.returncode == -9
    assert json.loads(target.read_text()) == {"run": 1}
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert all(".part" in p.name for p in leftovers), leftovers  # never read: not the target
    write_text_atomic(target, '{"run": 3}')
    assert json.loads(target.read_text()) == {"run": 3}
