"""A student's first hour: real data from an empty cache, and a notebook that opens and runs.

(a) ``python -m data_scripts prepare`` with an empty cache downloads the real files of every
data set the profile reads (from a local HTTP server on 127.0.0.1 standing in for the sources,
serving the real files of ``../shared/data``); with the sources unreachable or changed it builds
the labelled stand-ins and ends with the summary and the command that fetches the rest.

(b) ``make lab``, the README's command, starts JupyterLab headless on 127.0.0.1 and a chapter's
first cells run through the kernel API at the profile the student picked.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from http_source import Server, unused_port

import course_lib.datasets  # noqa: F401  (the catalog: registers every data set)
from course_lib import registry
from data_scripts.__main__ import main as data_scripts_main
from data_scripts.prepare import prepare_all

ROOT = Path(__file__).resolve().parents[1]
#: The GEO training tables: read only at ``full``, so never downloaded for ``laptop``.
FULL_ONLY = ("egfp_unmod_1", "utr_varying_length")
#: Seconds JupyterLab may take to answer one request (starting a kernel on a busy machine).
SLOW = 120


def point_sources_at(monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    """Every registered file's download address becomes ``<base>/<data set>/<file>``."""
    for name, dataset in list(registry.REGISTRY.items()):
        files = tuple(
            dataclasses.replace(f, urls=(f"{base}/{name}/{f.filename}",)) for f in dataset.files
        )
        monkeypatch.setitem(registry.REGISTRY, name, dataclasses.replace(dataset, files=files))


def serve_shared(server: Server, shared: Path) -> list[str]:
    """Serve the real files of every data set that ``shared`` holds; return those names."""
    served = []
    for name, dataset in registry.REGISTRY.items():
        folder = shared / (dataset.shared_subdir or "-")
        if all((folder / f.filename).exists() for f in dataset.files):
            for f in dataset.files:
                server.serve(f"/{name}/{f.filename}", (folder / f.filename).read_bytes())
            served.append(name)
    return served


def test_empty_cache_and_reachable_sources_give_real_files(
    server, shared_data, tmp_data_dir, monkeypatch, capsys
):
    served = serve_shared(server, shared_data)
    assert len(served) >= 7 and not set(served) & set(FULL_ONLY)
    point_sources_at(monkeypatch, server.base)

    rows = {row.name: row for row in prepare_all("laptop")}

    for name in served:
        assert rows[name].provenance == "real" and rows[name].how == "downloaded", name
        dataset = registry.get(name)
        for f in dataset.files:
            cached = registry.real_folder(name) / f.filename
            assert (
                cached.read_bytes()
                == (shared_data / dataset.shared_subdir / f.filename).read_bytes()
            )
        assert registry.load(name).provenance == "real"
    for name in FULL_ONLY:  # large tables of another profile: stand-in, never requested
        assert rows[name].provenance == "synthetic" and "full only" in rows[name].how
    asked = [*server.requests, *server.head_requests]
    assert not any(path.startswith(tuple(f"/{n}/" for n in FULL_ONLY)) for path in asked)
    out = capsys.readouterr().out
    assert " MB)" in out  # each download's size is said before it starts
    assert f"{len(served)} of {len(rows)} data sets real" in out
    assert f"python -m data_scripts fetch {' '.join(sorted(FULL_ONLY))}" in out

    # a second preparation finds everything in the cache and downloads nothing
    before = len(asked)
    assert all(r.how == "cache" for r in prepare_all("laptop") if r.name in served)
    assert len(server.requests) + len(server.head_requests) == before


def test_unreachable_sources_give_labelled_stand_ins_and_the_fetch_command(
    tmp_data_dir, monkeypatch, capsys
):
    point_sources_at(monkeypatch, f"http://127.0.0.1:{unused_port()}")

    assert data_scripts_main(["prepare", "--profile", "smoke", "--timeout", "5"]) == 0

    out = capsys.readouterr().out
    names = sorted(registry.REGISTRY)
    assert f"0 of {len(names)} data sets real, {len(names)} synthetic stand-ins." in out
    assert f"python -m data_scripts fetch {' '.join(names)}" in out
    assert "source unreachable" in out
    for name in names:
        assert registry.load(name).provenance == "synthetic"
        leftovers = (
            list(registry.real_folder(name).glob("*"))
            if registry.real_folder(name).exists()
            else []
        )
        assert not [p for p in leftovers if p.name != ".verified.json"], name


def test_a_changed_source_gives_a_stand_in_and_says_why(
    server, shared_data, tmp_data_dir, monkeypatch, capsys
):
    serve_shared(server, shared_data)
    server.serve("/pum2/PUM2_PARCLIP.positives.fa", b">x\nACGU\n")  # not the registered file
    point_sources_at(monkeypatch, server.base)

    rows = {row.name: row for row in prepare_all("smoke")}

    assert rows["pum2"].provenance == "synthetic"
    assert rows["pum2"].how == "download failed: checksum changed at the source"
    assert rows["hg38_chr22_excerpt"].provenance == "real"
    assert not (registry.real_folder("pum2") / "PUM2_PARCLIP.positives.fa").exists()
    assert "expected sha256" in capsys.readouterr().out


def test_full_downloads_the_large_tables_it_reads_and_says_their_size(
    server, tmp_data_dir, monkeypatch, capsys
):
    table = b"utr,rl\nACGT,1.0\n"
    point_sources_at(monkeypatch, server.base)
    for name in FULL_ONLY:
        (remote,) = registry.get(name).files
        server.serve(f"/{name}/{remote.filename}", gzip.compress(table))

    rows = {row.name: row for row in prepare_all("full")}

    for name in FULL_ONLY:
        assert rows[name].provenance == "real" and rows[name].how == "downloaded"
        (remote,) = registry.get(name).files
        assert (registry.real_folder(name) / remote.filename).read_bytes() == table
        assert f"/{name}/{remote.filename}" in server.head_requests
    out = capsys.readouterr().out
    assert "egfp_unmod_1: downloading GSM3130435_egfp_unmod_1.csv (0.0 MB)" in out


# --------------------------------------------------------------------------------------------
# (b) `make lab` opens the chapters, and their first cells run through the kernel API


def http_json(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=SLOW) as response:
        text = response.read()
    return json.loads(text) if text else {}


def wait_for_server(url: str, process: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"`make lab` exited with {process.returncode} before serving")
        try:
            http_json(url)
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer at {url} within {seconds} s")


def execute(ws, code: str, timeout: float = 180) -> tuple[str, list[str]]:
    """Run ``code`` on the kernel behind websocket ``ws``; return (status, stream text).

    Waits for the shell's ``execute_reply`` and for iopub's ``idle`` status: the two channels
    are not ordered, so a cell's printed output can arrive after its reply."""
    msg_id = uuid.uuid4().hex
    ws.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": True},
                "channel": "shell",
            }
        )
    )
    streams, errors = [], []
    status, idle = None, False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            streams.append(msg["content"]["text"])
        elif kind == "error":
            errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
        elif kind == "execute_reply":
            status = msg["content"]["status"]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
        if status is not None and idle:
            return status, streams + errors
    missing = [name for name, got in (("execute_reply", status), ("idle status", idle)) if not got]
    raise AssertionError(f"no {' and no '.join(missing)} within {timeout} s for:\n{code}")


def first_code_cells(notebook: Path, n: int) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"][:n]


@pytest.mark.notebook
def test_make_lab_starts_jupyterlab_and_a_chapter_runs_through_its_kernel(tmp_path):
    pytest.importorskip("websocket")
    if not (ROOT / ".venv" / "bin" / "jupyter-lab").exists():
        pytest.skip("no .venv with JupyterLab: run `make setup` first")
    port, token = unused_port(), uuid.uuid4().hex
    workspace = ROOT / "_build" / "first-hour-workspace"
    shutil.rmtree(workspace, ignore_errors=True)  # make never overwrites a copy: start fresh
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    command = ["make", "-s", "lab", "LAB_PROFILE=smoke", "OFFLINE=1"]
    command += [f"WORKSPACE={workspace.relative_to(ROOT)}", f"LAB_ARGS={args}"]
    log = (tmp_path / "lab.log").open("w")
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        use_lab(base, token, workspace, process)
    except (AssertionError, OSError, ValueError) as error:  # keep what JupyterLab said
        raise AssertionError(f"{error}\n--- `make lab` log ---\n{log_tail(tmp_path)}") from error
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    assert "your copies of the chapters" in (tmp_path / "lab.log").read_text()


def log_tail(folder: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of ``folder / "lab.log"`` (what ``make lab`` printed)."""
    return "\n".join((folder / "lab.log").read_text().splitlines()[-lines:])


def use_lab(base: str, token: str, workspace: Path, process: subprocess.Popen) -> None:
    """What a student does first, on the JupyterLab that ``process`` serves at ``base``: open
    it, see the chapters, run chapter 0's first cells in a kernel and check that the kernel
    runs the course's package at the chosen profile."""
    import websocket

    wait_for_server(f"{base}/api/status?token={token}", process)
    with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=SLOW) as page:
        assert page.status == 200 and b"JupyterLab" in page.read()
    listing = http_json(f"{base}/api/contents?token={token}")
    names = {item["name"] for item in listing["content"]}
    assert "00_sequences.ipynb" in names and len(names) >= 6
    session = http_json(
        f"{base}/api/sessions?token={token}",
        "POST",
        {"path": "00_sequences.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
    )
    kernel = session["kernel"]["id"]
    address = f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel}/channels?token={token}"
    ws = websocket.create_connection(address, timeout=180)
    try:
        for code in first_code_cells(workspace / "00_sequences.ipynb", 3):
            status, output = execute(ws, code)
            assert status == "ok", (code, output)
        status, output = execute(ws, "print(profile, settings.profile, course_lib.__file__)")
        assert status == "ok", output
        profile, resolved, package = "".join(output).split()
        assert profile == resolved == "smoke"  # LAB_PROFILE reached the kernel
        assert Path(package).is_relative_to(ROOT)  # the course's own package
    finally:
        ws.close()
    http_json(f"{base}/api/sessions/{session['id']}?token={token}", "DELETE")
