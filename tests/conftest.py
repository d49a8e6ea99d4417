"""Shared fixtures: private data/results folders, the real files in ``../shared/data``, a local
HTTP server standing in for the data sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from http_source import Server
from test_browser import browser  # noqa: F401 -- headless Chromium, shared with test_concepts

#: Real, checksummed files beside the project root (present in CI, never committed).
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def tmp_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``COURSE_DATA_DIR`` and ``COURSE_RESULTS_DIR`` at fresh folders; return the data one.

    Nothing a test fetches, synthesizes or writes reaches the user's cache or ``results/``.
    """
    data = tmp_path / "course_data"
    results = tmp_path / "course_results"
    data.mkdir()
    results.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(data))
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(results))
    return data


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the project root; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def server() -> Iterator[Server]:
    """A local HTTP server on 127.0.0.1 (:class:`http_source.Server`), shut down afterwards."""
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
