"""Execute chapter notebooks with papermill: ``python -m course_book.run [CHAPTERS] --profile P``.

Each chapter runs in a fresh kernel with ``COURSE_PROFILE`` set, from the ``notebooks/``
folder, into ``<output>/notebooks/<chapter>.ipynb``. The runner records each chapter's wall
time and peak memory (resident memory of the kernel, sampled every 0.2 s), prints a summary,
and exits non-zero with the failing cell's error when a chapter fails. The book is built from
these executed copies (see :mod:`course_book.site`), never by executing notebooks again.

The chapters are those of :data:`course_lib.manifest.CHAPTERS`, in its order.

``--tiny`` runs ``laptop`` or ``full`` on their own code paths at each chapter's tiny sizes: the
runner passes the papermill parameter ``tiny=True`` to every notebook (see
:mod:`course_lib.profiles`); CI uses it so that every profile's code runs before a student's
does. Tiny runs write to ``_build/tiny/<profile>`` and never reach the book.

``--jobs N`` runs N chapters at once, each kernel limited to ``cores // N`` threads (much of a
small chapter is single-threaded Python, so two chapters on two cores finish sooner than one
after the other). Chapters write disjoint results and checkpoints, so order does not matter.
Wall times recorded with ``--record-times`` come from one chapter at a time only.

The runner leaves ``OMP_WAIT_POLICY`` to OpenMP: threads spin briefly at each barrier, then
sleep. ``PASSIVE`` (sleep at once) made the chapters' training steps 1.4-2.2x slower on two
quiet cores (the BiLSTM of chapter 3, one pretraining step of chapter 5; see
``benchmarks/README.md``); it pays only when other work oversubscribes the cores (two
two-thread processes on two cores: 1.5-3.7x faster than the default), so set it yourself on a
machine shared with other jobs. The runner never oversubscribes: ``--jobs N`` gives each kernel
``cores // N`` threads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from traitlets.config import Config

from course_book.timings import TIMES_FILE, record_times
from course_lib.exercises import STRICT_ENV
from course_lib.manifest import CHAPTERS, Chapter, select_chapters
from course_lib.paths import project_root
from course_lib.profiles import PROFILE_NAMES, check_profile


def private_kernel(folder: Path) -> Config:
    """Kernel settings under which kernels started at the same moment cannot collide.

    A kernel started over TCP is handed ports that were free a moment earlier; two kernels
    started at once (``--jobs 2``) can be handed the same one, and the second dies with
    "Address already in use". With IPC transport the kernel's sockets are files named
    ``<folder>/kernel-<n>``, so kernels with separate ``folder`` s share nothing.

    Parameters
    ----------
    folder
        An existing folder of this kernel's own (a short path: socket names are limited to
        about 100 characters).
    """
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(folder / "kernel")
    return config


@dataclass
class ChapterRun:
    """Outcome of one executed chapter."""

    chapter: str
    ok: bool
    wall_time_s: float
    peak_memory_mb: float
    error: str = ""


class PeakMemory:
    """Sample the resident memory of this process's children (the kernel) in a thread."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20


def find_chapters(
    selection: Sequence[str], folder: Path, chapters: Sequence[Chapter] = CHAPTERS
) -> list[Path]:
    """The notebooks in ``folder`` of the chapters named in ``selection``.

    Parameters
    ----------
    selection : sequence of str
        Chapter stems or two-digit numbers such as ``"01"``; empty selects every chapter.
    folder : Path
        The folder holding the notebooks (``notebooks/``, or a copy of it).
    chapters : sequence of Chapter
        The manifest (default :data:`course_lib.manifest.CHAPTERS`).

    Returns
    -------
    list of Path
        ``folder / "<stem>.ipynb"`` per chosen chapter, in manifest order or that of ``selection``.

    Raises
    ------
    ValueError
        A selection matches no chapter (the message lists them), or a chosen chapter's notebook
        is not in ``folder``.
    """
    paths = [folder / c.notebook.name for c in select_chapters(selection, chapters)]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise ValueError(
            f"{folder} lacks {', '.join(missing)}, listed in course_lib/manifest.py; "
            "restore the notebook or remove its entry from the manifest"
        )
    return paths


def describe_failure(err: BaseException) -> str:
    """One readable paragraph naming the failing cell and its error."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        source = err.source.strip().splitlines()
        first_line = source[0] if source else ""
        return (
            f"cell {err.cell_index} of the executed notebook (execution count {err.exec_count}, "
            f"starts {first_line!r}) "
            f"raised {err.ename}: {err.evalue}"
        )
    return f"{type(err).__name__}: {err}"


def run_chapter(
    notebook: Path,
    output_dir: Path,
    profile: str,
    timeout: int,
    parameters: dict[str, Any] | None = None,
) -> ChapterRun:
    """Execute one notebook with papermill; never raises for a failing cell.

    ``profile`` and ``parameters`` (e.g. ``{"tiny": True}``) become papermill parameters.
    """
    import papermill

    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / notebook.name
    start = time.perf_counter()
    error = ""
    with PeakMemory() as memory, tempfile.TemporaryDirectory(prefix="kernel") as sockets:
        try:
            papermill.execute_notebook(
                str(notebook),
                str(target),
                parameters={"profile": profile, **(parameters or {})},
                cwd=str(notebook.parent),
                kernel_name="python3",
                execution_timeout=timeout,
                progress_bar=False,
                log_output=False,
                config=private_kernel(Path(sockets)),
            )
        except Exception as err:  # noqa: BLE001  (reported, then the run exits non-zero)
            error = describe_failure(err)
    return ChapterRun(
        notebook.stem,
        not error,
        round(time.perf_counter() - start, 1),
        round(memory.peak_mb, 1),
        error,
    )


def _print_summary(runs: list[ChapterRun], output: Path) -> None:
    """The table of chapters with status, wall time and peak memory."""
    print(f"\n{'chapter':<28}{'status':<8}{'wall time':>12}{'peak memory':>14}")
    for r in runs:
        status = "ok" if r.ok else "FAILED"
        print(f"{r.chapter:<28}{status:<8}{r.wall_time_s:>10.1f} s{r.peak_memory_mb:>11.0f} MB")
    total = sum(r.wall_time_s for r in runs)
    print(f"{'sum of chapters':<36}{total:>10.1f} s\nexecuted notebooks: {output / 'notebooks'}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_book.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument("chapters", nargs="*", help="chapter stems or numbers (default: all)")
    parser.add_argument(
        "--profile", default=os.environ.get("COURSE_PROFILE", "smoke"), choices=PROFILE_NAMES
    )
    parser.add_argument(
        "--output", default=None, help="folder for executed notebooks (default _build/executed)"
    )
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument(
        "--fail-fast", action="store_true", help="stop at the first failing chapter"
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="this profile's code paths at tiny sizes (papermill parameter tiny=True); results, "
        "checkpoints and executed notebooks go to _build/tiny/<profile>, never into the book",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("COURSE_JOBS", "1")),
        help="chapters run at once (default $COURSE_JOBS or 1); threads per kernel = cores // jobs",
    )
    parser.add_argument(
        "--record-times",
        action="store_true",
        help=f"keep the wall times of this run in {TIMES_FILE} (shown on the setup page and "
        "in each chapter; not with --tiny)",
    )
    return parser


def _prepare_environment(args: argparse.Namespace, root: Path) -> Path:
    """Set the kernels' environment for this run; return the folder of executed notebooks."""
    if args.tiny:
        output = Path(args.output) if args.output else root / "_build" / "tiny" / args.profile
        os.environ["COURSE_RESULTS_DIR"] = str(output / "results")
        os.environ["COURSE_CHECKPOINT_DIR"] = str(output / "checkpoints")
    else:
        output = Path(args.output) if args.output else root / "_build" / "executed"
    os.environ["COURSE_PROFILE"] = args.profile
    os.environ.setdefault("COURSE_PROGRESS", "text")
    # the chapters run with their solutions: every exercise check must pass
    os.environ.setdefault(STRICT_ENV, "1")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return output


def _report(result: ChapterRun, label: str) -> None:
    status = "ok" if result.ok else "FAILED"
    print(
        f"[{label}] {result.chapter}: {status} in {result.wall_time_s:.1f} s, "
        f"peak memory {result.peak_memory_mb:.0f} MB",
        flush=True,
    )
    if not result.ok:
        print(f"    {result.error}", file=sys.stderr, flush=True)


def limit_threads(jobs: int) -> int:
    """Give each of ``jobs`` kernels ``cores // jobs`` threads (at least 1); return that number.

    Sets ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` unless they are set already; the kernels
    inherit them, and torch reads them when it is imported.
    """
    threads = max(1, (os.cpu_count() or 1) // jobs)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    return int(os.environ["OMP_NUM_THREADS"])


def _run_all(
    chapters: list[Path], output: Path, profile: str, args: argparse.Namespace
) -> list[ChapterRun]:
    """Run the chapters one at a time, or ``args.jobs`` at once; results in chapter order."""
    label = f"{profile}, tiny" if args.tiny else profile
    parameters = {"tiny": True} if args.tiny else {}
    folder = output / "notebooks"
    if args.jobs == 1:
        runs = []
        for notebook in chapters:
            print(f"[{label}] running {notebook.stem} ...", flush=True)
            runs.append(run_chapter(notebook, folder, profile, args.timeout, parameters))
            _report(runs[-1], label)
            if args.fail_fast and not runs[-1].ok:
                break
        return runs
    threads = limit_threads(args.jobs)
    print(f"[{label}] {len(chapters)} chapters, {args.jobs} at a time, {threads} threads each")
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [
            pool.submit(run_chapter, nb, folder, profile, args.timeout, parameters)
            for nb in chapters
        ]
        for future in as_completed(futures):
            _report(future.result(), label)
    return [f.result() for f in futures]


def _write_summary(runs: list[ChapterRun], output: Path, args: argparse.Namespace) -> None:
    summary = output / "run_summary.json"
    previous = json.loads(summary.read_text()) if summary.exists() else {}
    extra = {"profile": args.profile, "tiny": args.tiny}
    previous.update({r.chapter: asdict(r) | extra for r in runs})
    summary.write_text(json.dumps(previous, indent=2) + "\n")
    if args.record_times:
        record_times(project_root() / TIMES_FILE, args.profile, [asdict(r) for r in runs])


def main(argv: list[str] | None = None, chapters: Sequence[Chapter] = CHAPTERS) -> int:
    """Run the chosen ``chapters`` of the manifest (see the module docstring); the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.record_times and args.tiny:
        parser.error("--record-times records real-size runs only; drop --tiny")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.record_times and args.jobs > 1:
        parser.error("--record-times records one chapter at a time; drop --jobs")
    root = project_root()
    profile = check_profile(args.profile)
    try:
        notebooks = find_chapters(args.chapters, root / "notebooks", chapters)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    output = _prepare_environment(args, root)
    runs = _run_all(notebooks, output, profile, args)
    _write_summary(runs, output, args)
    _print_summary(runs, output)
    failed = [r for r in runs if not r.ok]
    if failed:
        print(f"\n{len(failed)} chapter(s) failed:", file=sys.stderr)
        for r in failed:
            print(f"  {r.chapter}: {r.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
