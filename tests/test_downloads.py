"""Downloads through pooch, served by a local HTTP server on 127.0.0.1 (no internet needed).

Covers the registry's contracts for real transfers: a verified file and its stamp, mirrors
tried in order, a gzip source stored decompressed, a corrupted download (the error names the
file, the expected and the found sha256), a download cut off mid-way and an unreachable
address (the message says where to put the file); none of them leaves a partial file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from http_source import unused_port

from course_lib import registry
from course_lib.registry import REGISTRY, ChecksumError, DataSet, DataUnavailableError, RemoteFile

pytest.importorskip("pooch")

CONTENT = b"id\tvalue\n" + b"".join(f"{i}\t{i / 7:.4f}\n".encode() for i in range(2000))
FILENAME = "table.tsv"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def dataset(tmp_data_dir):
    """``dataset(name, urls, sha256, compression=None)`` registers a throw-away data set."""
    import course_lib.datasets  # noqa: F401  (the real registrations, loaded before ours)

    names = []

    def make(name, urls, sha256, compression=None):
        names.append(name)
        return registry.register(
            DataSet(
                name=name,
                description="a test data set",
                files=(RemoteFile(FILENAME, tuple(urls), sha256, compression),),
                licence="CC0",
                citation="none",
                schema="one TSV file",
                synthesize=lambda folder, seed: (folder / FILENAME).write_text("synthetic\n"),
                loader=lambda folder: (folder / FILENAME).read_bytes(),
            )
        )

    yield make
    for name in names:
        REGISTRY.pop(name, None)


def files_in(folder: Path) -> list[str]:
    """Everything in ``folder``, hidden files and folders included."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_http_download_is_verified_stamped_and_shows_progress(server, dataset, capsys, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", "auto")  # the chapter runner may have set "text"
    url = server.serve("/data/table.tsv", CONTENT)
    dataset("dl_ok", [url], sha(CONTENT))
    folder = registry.fetch("dl_ok", show_progress=True)
    assert (folder / FILENAME).read_bytes() == CONTENT
    assert files_in(folder) == [".verified.json", FILENAME]
    stamp = json.loads((folder / ".verified.json").read_text())[FILENAME]
    assert stamp == {**stamp, "sha256": sha(CONTENT), "verified": True, "size": len(CONTENT)}
    captured = capsys.readouterr()
    assert FILENAME in captured.err + captured.out  # the progress bar names the file
    assert registry.load("dl_ok", fallback="error").provenance == "real"
    assert server.requests == ["/data/table.tsv"]


def test_mirrors_are_tried_in_order(server, dataset):
    good = server.serve("/mirror2/table.tsv", CONTENT)
    dataset("dl_mirror", [server.base + "/gone/table.tsv", good], sha(CONTENT))
    folder = registry.fetch("dl_mirror", show_progress=False)
    assert (folder / FILENAME).read_bytes() == CONTENT
    assert server.requests == ["/gone/table.tsv", "/mirror2/table.tsv"]


def test_gzip_source_is_stored_decompressed(server, dataset):
    packed = gzip.compress(CONTENT)
    url = server.serve("/table.tsv.gz", packed)
    dataset("dl_gz", [url], sha(packed), compression="gzip")
    folder = registry.fetch("dl_gz", show_progress=False)
    assert (folder / FILENAME).read_bytes() == CONTENT
    assert files_in(folder) == [".verified.json", FILENAME]
    assert json.loads((folder / ".verified.json").read_text())[FILENAME]["sha256"] == sha(packed)
    assert registry.locate("dl_gz") == (folder, "real")


def test_a_gzip_source_that_is_not_gzip_falls_through_to_the_next_mirror(server, dataset):
    packed = gzip.compress(CONTENT)
    plain = server.serve("/plain.tsv", CONTENT)
    good = server.serve("/table.tsv.gz", packed)
    dataset("dl_not_gz", [plain, good], None, compression="gzip")
    folder = registry.fetch("dl_not_gz", show_progress=False)
    assert (folder / FILENAME).read_bytes() == CONTENT
    assert files_in(folder) == [".verified.json", FILENAME]


def test_corrupted_download_names_file_and_both_checksums(server, dataset):
    corrupted = CONTENT.replace(b"0.1429", b"0.1430")
    url = server.serve("/table.tsv", corrupted)
    dataset("dl_corrupt", [url], sha(CONTENT))
    with pytest.raises(ChecksumError) as err:
        registry.fetch("dl_corrupt", show_progress=False)
    message = str(err.value)
    assert FILENAME in message and sha(CONTENT) in message and sha(corrupted) in message
    assert files_in(registry.real_folder("dl_corrupt")) == []
    loaded = registry.load("dl_corrupt")  # the synthetic fallback is unchanged
    assert loaded.provenance == "synthetic" and loaded.data == b"synthetic\n"


def test_download_cut_off_midway_leaves_no_partial_file(server, dataset):
    url = server.serve("/table.tsv", CONTENT[:1000], declared_length=len(CONTENT))
    dataset("dl_cut", [url], sha(CONTENT))
    with pytest.raises(DataUnavailableError, match=f"could not download {FILENAME}"):
        registry.fetch("dl_cut", show_progress=False)
    assert files_in(registry.real_folder("dl_cut")) == []


def test_unreachable_address_says_where_to_put_the_file(dataset):
    url = f"http://127.0.0.1:{unused_port()}/table.tsv"
    dataset("dl_offline", [url], sha(CONTENT))
    with pytest.raises(DataUnavailableError) as err:
        registry.fetch("dl_offline", show_progress=False, timeout=5)
    message = str(err.value)
    target = registry.real_folder("dl_offline") / FILENAME
    assert f"copy the file to {target} (sha256 {sha(CONTENT)})" in message
    assert url in message and "python -m data_scripts synth dl_offline" in message
    assert files_in(registry.real_folder("dl_offline")) == []


def test_http_error_is_reported_per_address(server, dataset):
    first, second = server.base + "/a/table.tsv", server.base + "/b/table.tsv"
    dataset("dl_404", [first, second], sha(CONTENT))
    with pytest.raises(DataUnavailableError) as err:
        registry.fetch("dl_404", show_progress=False)
    assert f"{first}: 404" in str(err.value) and f"{second}: 404" in str(err.value)
