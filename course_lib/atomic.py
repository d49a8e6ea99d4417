"""Writes that are whole or absent: a file is written beside its target and renamed onto it.

A kernel killed mid-write, a full disk or a read-only folder must never leave a half-written
results file, cache or checkpoint that a later run would read. :func:`atomic_path` yields a
temporary path in the target's folder; only when the block finishes is it renamed onto the
target (a rename within one folder is atomic), and on any failure the temporary file is removed
and the target keeps its previous content. An ``OSError`` (no space, no permission) becomes a
:class:`WriteFailed` that names the folder and the fix.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class WriteFailed(OSError):
    """A file could not be written; nothing was left half-written."""


def _failure(path: Path, err: OSError) -> WriteFailed:
    reason = err.strerror or str(err)
    return WriteFailed(
        err.errno,
        f"could not write {path.name} in {path.parent}: {reason}. Nothing was left "
        "half-written; free space there or make the folder writable (or point "
        "COURSE_DATA_DIR / COURSE_RESULTS_DIR / COURSE_CHECKPOINT_DIR elsewhere) and run again",
    )


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix), renamed onto ``path`` when the block ends.

    Raises
    ------
    WriteFailed
        Writing or renaming failed with an ``OSError``; the temporary file is removed and
        ``path`` is unchanged.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(
            prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent
        )
        os.close(handle)
    except OSError as err:
        raise _failure(path, err) from err
    part = Path(name)
    try:
        yield part
        part.replace(path)
    except OSError as err:
        raise _failure(path, err) from err
    finally:
        part.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` whole or not at all (see :func:`atomic_path`); return ``path``."""
    with atomic_path(path) as part:
        part.write_text(text)
    return Path(path)


@contextmanager
def build_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a cache entry) while it is checked or built.

    Two chapters run at once that need the same pretrained backbone take turns: the second
    waits, then finds the first one's finished folder instead of building it again. The lock
    is the file ``.<name>.lock`` beside ``path`` (``fcntl.flock``; released when the process
    ends, even if it is killed).
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
