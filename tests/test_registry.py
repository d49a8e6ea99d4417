"""Tests of course_lib.registry: fetch, checksums, fallbacks, seeding, corruption detection.

Every test registers temporary data sets whose files come from ``file://`` addresses in the
test's folder (a local mirror; downloads over HTTP are tested in ``test_downloads.py``); the
``temp_datasets`` fixture removes them from ``REGISTRY`` afterwards.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest

from course_lib import registry
from course_lib.registry import (
    REGISTRY,
    ChecksumError,
    DataError,
    DataSet,
    DataUnavailableError,
    RemoteFile,
)

CONTENT = b"id\tvalue\n1\t0.5\n2\t0.7\n"
FILENAME = "table.tsv"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_synthetic(folder: Path, seed: int) -> None:
    (folder / FILENAME).write_text(f"synthetic seed {seed}\n")


def read_table(folder: Path) -> str:
    return (folder / FILENAME).read_text()


@pytest.fixture
def temp_datasets(tmp_data_dir):
    """Register throw-away data sets with ``make(name, urls, sha256, ...)``; removed afterwards."""
    import course_lib.datasets  # noqa: F401  (the real registrations, loaded before ours)

    names = []

    def make(name, urls, sha256, compression=None, synthesize=write_synthetic, subdir=None):
        dataset = DataSet(
            name=name,
            description="a test data set",
            files=(RemoteFile(FILENAME, tuple(urls), sha256, compression),),
            licence="CC0",
            citation="none",
            schema="one TSV file, 2 rows",
            synthesize=synthesize,
            loader=read_table,
            shared_subdir=subdir,
        )
        names.append(name)
        return registry.register(dataset)

    yield make
    for name in names:
        REGISTRY.pop(name, None)


@pytest.fixture
def source(tmp_path) -> Path:
    """The 'remote' file, reachable through a file:// address."""
    path = tmp_path / "remote" / FILENAME
    path.parent.mkdir()
    path.write_bytes(CONTENT)
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_from_file_url_verifies_and_stamps(temp_datasets, source, tmp_data_dir):
    temp_datasets("test_ok", [source.as_uri()], sha(CONTENT))
    folder = registry.fetch("test_ok", show_progress=False)
    assert folder == tmp_data_dir / "test_ok"
    assert (folder / FILENAME).read_bytes() == CONTENT
    assert files_in(folder) == [".verified.json", FILENAME]
    stamp = json.loads((folder / ".verified.json").read_text())[FILENAME]
    assert stamp["sha256"] == sha(CONTENT) and stamp["verified"] is True
    loaded = registry.load("test_ok", fallback="error")
    assert loaded.provenance == "real" and loaded.data == CONTENT.decode()
    assert loaded.folder == folder and loaded.name == "test_ok"


def test_fetch_tries_the_next_address(temp_datasets, source, tmp_path):
    missing = (tmp_path / "nowhere" / FILENAME).as_uri()
    temp_datasets("test_mirror", [missing, source.as_uri()], sha(CONTENT))
    folder = registry.fetch("test_mirror", show_progress=False)
    assert (folder / FILENAME).read_bytes() == CONTENT


def test_fetch_decompresses_gzip(temp_datasets, tmp_path):
    packed = tmp_path / "table.tsv.gz"
    packed.write_bytes(gzip.compress(CONTENT))
    temp_datasets("test_gz", [packed.as_uri()], sha(packed.read_bytes()), compression="gzip")
    folder = registry.fetch("test_gz", show_progress=False)
    assert (folder / FILENAME).read_bytes() == CONTENT
    assert files_in(folder) == [".verified.json", FILENAME]
    assert registry.locate("test_gz") == (folder, "real")


def test_checksum_mismatch_raises_and_leaves_no_partial_file(temp_datasets, source):
    expected = "0" * 64
    temp_datasets("test_bad_sum", [source.as_uri()], expected)
    with pytest.raises(ChecksumError) as err:
        registry.fetch("test_bad_sum", show_progress=False)
    message = str(err.value)
    assert FILENAME in message and expected in message and sha(CONTENT) in message
    assert files_in(registry.real_folder("test_bad_sum")) == []
    assert registry.locate("test_bad_sum")[1] == "synthetic"


def test_interrupted_download_leaves_no_partial_file(temp_datasets, source, monkeypatch):
    temp_datasets("test_cut", [source.as_uri()], sha(CONTENT))
    folder = registry.real_folder("test_cut")

    def cut_off(url, remote, staging, show_progress, timeout):
        (staging / "table.tsv.download").write_bytes(CONTENT[:5])
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(registry, "_download", cut_off)
    with pytest.raises(DataUnavailableError, match="could not download table.tsv"):
        registry.fetch("test_cut", show_progress=False)
    assert files_in(folder) == []

    def interrupted(url, remote, staging, show_progress, timeout):
        (staging / "table.tsv.download").write_bytes(CONTENT[:5])
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "_download", interrupted)
    with pytest.raises(KeyboardInterrupt):
        registry.fetch("test_cut", show_progress=False)
    assert files_in(folder) == []


def test_unreachable_address_says_where_to_put_the_file(temp_datasets, tmp_path):
    url = (tmp_path / "does" / "not" / "exist.tsv").as_uri()
    temp_datasets("test_offline", [url], sha(CONTENT))
    with pytest.raises(DataUnavailableError) as err:
        registry.fetch("test_offline", show_progress=False)
    message = str(err.value)
    target = registry.real_folder("test_offline") / FILENAME
    assert f"copy the file to {target}" in message
    assert sha(CONTENT) in message and url in message
    assert "python -m data_scripts synth test_offline" in message
    assert files_in(registry.real_folder("test_offline")) == []


def test_locate_with_error_fallback_explains_the_fix(temp_datasets, source):
    temp_datasets("test_absent", [source.as_uri()], sha(CONTENT))
    with pytest.raises(DataUnavailableError) as err:
        registry.locate("test_absent", fallback="error")
    message = str(err.value)
    assert str(registry.real_folder("test_absent")) in message
    assert "python -m data_scripts fetch test_absent" in message
    assert "fallback='synthetic'" in message
    with pytest.raises(ValueError, match="fallback must be"):
        registry.locate("test_absent", fallback="download")


def test_synthetic_fallback_is_labelled_and_built_once(temp_datasets, source, tmp_data_dir):
    calls = []

    def counting_synthesize(folder, seed):
        calls.append(seed)
        write_synthetic(folder, seed)

    temp_datasets("test_synth", [source.as_uri()], sha(CONTENT), synthesize=counting_synthesize)
    loaded = registry.load("test_synth")
    assert loaded.provenance == "synthetic"
    assert loaded.folder == tmp_data_dir / "synthetic" / "test_synth"
    assert loaded.data == "synthetic seed 0\n"
    assert "provenance='synthetic'" in repr(loaded)
    registry.load("test_synth")
    assert calls == [0]  # cached
    registry.synthesize("test_synth", seed=5, force=True)
    assert calls == [0, 5] and registry.load("test_synth").data == "synthetic seed 5\n"
    # real files win once they are there
    registry.fetch("test_synth", show_progress=False)
    assert registry.load("test_synth").provenance == "real"


def test_synthesizer_that_forgets_a_file_is_an_error(temp_datasets, source):
    temp_datasets("test_lazy", [source.as_uri()], None, synthesize=lambda folder, seed: None)
    with pytest.raises(DataError, match=r"did not write \['table.tsv'\]"):
        registry.load("test_lazy")


def test_seed_from_copies_and_verifies(temp_datasets, tmp_path):
    shared = tmp_path / "shared"
    (shared / "sub").mkdir(parents=True)
    (shared / "sub" / FILENAME).write_bytes(CONTENT)
    temp_datasets("test_seed", ["file:///unused"], sha(CONTENT), subdir="sub")
    folder = registry.seed_from("test_seed", shared)
    assert folder == registry.real_folder("test_seed")
    assert (folder / FILENAME).read_bytes() == CONTENT
    assert registry.load("test_seed", fallback="error").provenance == "real"
    assert registry.seed_from("test_seed", tmp_path / "elsewhere") is None

    temp_datasets("test_seed_bad", ["file:///unused"], "f" * 64, subdir="sub")
    with pytest.raises(ChecksumError, match="f" * 64):
        registry.seed_from("test_seed_bad", shared)
    assert files_in(registry.real_folder("test_seed_bad")) == []

    temp_datasets("test_no_subdir", ["file:///unused"], sha(CONTENT))
    assert registry.seed_from("test_no_subdir", shared) is None


def test_corrupted_real_file_in_cache_is_detected(temp_datasets, source):
    temp_datasets("test_corrupt", [source.as_uri()], sha(CONTENT))
    folder = registry.fetch("test_corrupt", show_progress=False)
    with open(folder / FILENAME, "ab") as fh:
        fh.write(b"3\t0.9\n")
    with pytest.raises(ChecksumError) as err:
        registry.load("test_corrupt")
    assert FILENAME in str(err.value) and sha(CONTENT) in str(err.value)
    # fetching again with force repairs the cache
    registry.fetch("test_corrupt", force=True, show_progress=False)
    assert registry.load("test_corrupt").data == CONTENT.decode()
    # a same-size corruption is caught too (the file's modification time changed)
    target = folder / FILENAME
    target.write_bytes(CONTENT.replace(b"0.5", b"0.6"))
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    with pytest.raises(ChecksumError, match=FILENAME):
        registry.locate("test_corrupt")


def test_hand_placed_file_is_verified_then_trusted(temp_datasets, source):
    temp_datasets("test_by_hand", [source.as_uri()], sha(CONTENT))
    folder = registry.real_folder("test_by_hand")
    folder.mkdir(parents=True)
    (folder / FILENAME).write_bytes(CONTENT)
    assert registry.is_real_available("test_by_hand")
    assert json.loads((folder / ".verified.json").read_text())[FILENAME]["verified"] is True
    (folder / FILENAME).write_bytes(b"something else entirely")
    with pytest.raises(ChecksumError):
        registry.is_real_available("test_by_hand")


def test_fetch_keeps_an_existing_file_unless_forced(temp_datasets, source):
    temp_datasets("test_keep", [source.as_uri()], None)
    folder = registry.fetch("test_keep", show_progress=False)
    source.write_bytes(b"new version\n")
    registry.fetch("test_keep", show_progress=False)
    assert (folder / FILENAME).read_bytes() == CONTENT
    registry.fetch("test_keep", force=True, show_progress=False)
    assert (folder / FILENAME).read_bytes() == b"new version\n"
    stamp = json.loads((folder / ".verified.json").read_text())[FILENAME]
    assert stamp["verified"] is False  # no published checksum


def test_register_get_describe(temp_datasets, source):
    dataset = temp_datasets("test_named", [source.as_uri()], sha(CONTENT))
    assert registry.get("test_named") is dataset
    assert registry.register(dataset) is dataset  # registering the same object is harmless
    with pytest.raises(ValueError, match="already registered"):
        temp_datasets("test_named", [source.as_uri()], sha(CONTENT))
    with pytest.raises(KeyError, match="unknown data set 'nope'; known: .*pum2"):
        registry.get("nope")
    rows = {row["name"]: row for row in registry.describe()}
    assert rows["test_named"]["real in cache"] is False
    assert {"pum2", "hg38_chr22_excerpt"} <= set(rows)


def test_sha256sum_matches_hashlib(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 3_000_001)
    assert registry.sha256sum(path, chunk=1 << 16) == sha(b"x" * 3_000_001)
