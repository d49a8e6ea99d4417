"""The data registry: every data set's source, checksum, licence, citation, schema and stand-in.

Real files live in ``$COURSE_DATA_DIR/<name>/``; synthetic stand-ins, which have the same
file names and schema, live in ``$COURSE_DATA_DIR/synthetic/<name>/`` so that they can never
be mistaken for real data. :func:`load` returns the data together with its provenance.

Data sets are declared in :mod:`course_lib.datasets` (one module each) with :func:`register`.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from course_lib.paths import data_dir
from course_lib.progress import progress

Provenance = Literal["real", "synthetic"]
Fallback = Literal["synthetic", "error"]
T = TypeVar("T")


class DataError(RuntimeError):
    """Base class of the registry's errors; the message always says how to fix it."""


class ChecksumError(DataError):
    """A file's sha256 differs from the registered one."""


class DataUnavailableError(DataError):
    """A real file is neither in the cache nor downloadable (e.g. offline)."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set.

    Parameters
    ----------
    filename
        Name in the cache folder (after decompression).
    urls
        Download addresses, tried in order.
    sha256
        Checksum of the downloaded bytes; ``None`` where the source publishes none (then the
        file is recorded as unverified).
    compression
        ``"gzip"`` when the download is gzipped and is stored decompressed.
    """

    filename: str
    urls: tuple[str, ...]
    sha256: str | None = None
    compression: Literal["gzip"] | None = None


@dataclass(frozen=True)
class DataSet(Generic[T]):
    """A registered data set: real source, licence, schema, stand-in generator and loader."""

    name: str
    description: str
    files: tuple[RemoteFile, ...]
    licence: str
    citation: str
    schema: str
    synthesize: Callable[[Path, int], None]
    loader: Callable[[Path], T]
    shared_subdir: str | None = None
    homepage: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """Data returned by :func:`load`, with where it came from."""

    data: T
    provenance: Provenance
    folder: Path
    name: str

    def __repr__(self) -> str:
        return f"Loaded({self.name!r}, provenance={self.provenance!r}, folder={str(self.folder)!r})"


REGISTRY: dict[str, DataSet] = {}


def register(dataset: DataSet) -> DataSet:
    """Add ``dataset`` to :data:`REGISTRY` (names are unique)."""
    if dataset.name in REGISTRY and REGISTRY[dataset.name] is not dataset:
        raise ValueError(f"a data set called {dataset.name!r} is already registered")
    REGISTRY[dataset.name] = dataset
    return dataset


def get(name: str) -> DataSet:
    """The registered data set ``name``; the error lists the known ones."""
    if not REGISTRY:
        raise KeyError(
            f"unknown data set {name!r}: no data set is registered yet; import the catalog "
            "first (`import course_lib.datasets`), which registers every data set"
        )
    if name not in REGISTRY:
        raise KeyError(f"unknown data set {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def real_folder(name: str) -> Path:
    """Cache folder of the real files of ``name``."""
    return data_dir() / name


def synthetic_folder(name: str) -> Path:
    """Cache folder of the synthetic stand-in of ``name``."""
    return data_dir() / "synthetic" / name


def sha256sum(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _stamp(folder: Path) -> Path:
    return folder / ".verified.json"


def _read_stamps(folder: Path) -> dict[str, dict[str, Any]]:
    try:
        return json.loads(_stamp(folder).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_stamp(folder: Path, remote: RemoteFile, downloaded_sha: str | None) -> None:
    stamps = _read_stamps(folder)
    target = folder / remote.filename
    stat = target.stat()
    stamps[remote.filename] = {
        "sha256": downloaded_sha,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "verified": remote.sha256 is not None,
    }
    _stamp(folder).write_text(json.dumps(stamps, indent=1))


def verify_file(path: Path, expected: str | None) -> str:
    """Check ``path`` against ``expected`` sha256; return the found checksum.

    Raises
    ------
    ChecksumError
        Naming the file, the expected and the found checksum.
    """
    found = sha256sum(path)
    if expected is not None and found != expected:
        raise ChecksumError(
            f"checksum mismatch for {path.name}: expected sha256 {expected}, found {found}. "
            "The file is corrupted or a different version; delete it and fetch again."
        )
    return found


def is_real_available(name: str) -> bool:
    """Whether every file of ``name`` is in the real cache folder and passed verification.

    A file is trusted when its verification stamp matches its size and modification time;
    a file without a stamp (copied in by hand) is checked now and stamped.
    """
    dataset = get(name)
    folder = real_folder(name)
    stamps = _read_stamps(folder)
    for remote in dataset.files:
        target = folder / remote.filename
        if not target.exists():
            return False
        stamp = stamps.get(remote.filename)
        stat = target.stat()
        if stamp and stamp["size"] == stat.st_size and stamp["mtime_ns"] == stat.st_mtime_ns:
            continue
        if remote.compression:
            # we only know the checksum of the compressed download: trust a hand-placed file
            _write_stamp(folder, remote, None)
            continue
        verify_file(target, remote.sha256)
        _write_stamp(folder, remote, remote.sha256)
    return True


def _download(url: str, destination: Path, show_progress: bool, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "dl-rna-dna-course"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with (
            open(destination, "wb") as out,
            progress(
                total=total,
                unit="B",
                unit_scale=True,
                desc=destination.name.removesuffix(".part"),
                disable=not show_progress,
            ) as bar,
        ):
            while block := response.read(1 << 20):
                out.write(block)
                bar.update(len(block))


def fetch(name: str, force: bool = False, show_progress: bool = True, timeout: float = 60) -> Path:
    """Download the real files of ``name`` into the cache, verifying checksums.

    Nothing partial is left behind: a download goes to ``<file>.part`` and is renamed only
    after its checksum matched.

    Raises
    ------
    ChecksumError
        A downloaded file has the wrong sha256 (it is deleted).
    DataUnavailableError
        No address could be reached (offline, moved); the message says where to put the file.
    """
    dataset = get(name)
    folder = real_folder(name)
    folder.mkdir(parents=True, exist_ok=True)
    for remote in dataset.files:
        target = folder / remote.filename
        if target.exists() and not force:
            continue
        part = folder / (remote.filename + ".download.part")
        errors = []
        for url in remote.urls:
            try:
                _download(url, part, show_progress, timeout)
                found = verify_file(part, remote.sha256)
                if remote.compression == "gzip":
                    with (
                        gzip.open(part, "rb") as src,
                        open(target.with_suffix(".tmp"), "wb") as dst,
                    ):
                        shutil.copyfileobj(src, dst)
                    target.with_suffix(".tmp").replace(target)
                    part.unlink()
                else:
                    part.replace(target)
                _write_stamp(folder, remote, found)
                break
            except (urllib.error.URLError, http.client.HTTPException, OSError, EOFError) as err:
                # unreachable, cut off mid-way (IncompleteRead) or not gzip: try the next address
                part.unlink(missing_ok=True)
                target.with_suffix(".tmp").unlink(missing_ok=True)
                errors.append(f"{url}: {getattr(err, 'reason', err)}")
            except BaseException:
                # ChecksumError, a corrupt gzip stream, Ctrl-C: never leave a partial file
                part.unlink(missing_ok=True)
                target.with_suffix(".tmp").unlink(missing_ok=True)
                raise
        else:
            raise DataUnavailableError(
                f"could not download {remote.filename} for data set {name!r} "
                f"({'; '.join(errors)}). If you are offline, copy the file to {target}"
                + (f" (sha256 {remote.sha256})" if remote.sha256 else "")
                + f", or run `python -m data_scripts synth {name}` to use the synthetic stand-in."
            )
    return folder


def seed_from(name: str, source: str | Path) -> Path | None:
    """Copy the real files of ``name`` from a local folder (e.g. ``../shared/data``).

    Looks in ``source/<shared_subdir>``; files are verified before they enter the cache.
    Returns the cache folder, or ``None`` when the source does not hold every file.
    """
    dataset = get(name)
    if dataset.shared_subdir is None:
        return None
    origin = Path(source) / dataset.shared_subdir
    if not all((origin / f.filename).exists() for f in dataset.files):
        return None
    folder = real_folder(name)
    folder.mkdir(parents=True, exist_ok=True)
    for remote in dataset.files:
        verify_file(origin / remote.filename, remote.sha256)
        part = folder / (remote.filename + ".download.part")
        shutil.copyfile(origin / remote.filename, part)
        part.replace(folder / remote.filename)
        _write_stamp(folder, remote, remote.sha256)
    return folder


def synthesize(name: str, seed: int = 0, force: bool = False) -> Path:
    """Build (once) the synthetic stand-in of ``name`` and return its folder."""
    dataset = get(name)
    folder = synthetic_folder(name)
    done = folder / ".complete"
    if done.exists() and not force:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    dataset.synthesize(folder, seed)
    missing = [f.filename for f in dataset.files if not (folder / f.filename).exists()]
    if missing:
        raise DataError(f"synthetic generator of {name!r} did not write {missing}")
    done.write_text(str(seed))
    return folder


def locate(name: str, fallback: Fallback = "synthetic") -> tuple[Path, Provenance]:
    """Folder holding ``name``'s files and their provenance.

    Real files from the cache win. Otherwise ``fallback="synthetic"`` builds the labelled
    stand-in, and ``fallback="error"`` raises :class:`DataUnavailableError` with the fix.
    """
    if fallback not in ("synthetic", "error"):
        raise ValueError(f"fallback must be 'synthetic' or 'error', got {fallback!r}")
    if is_real_available(name):
        return real_folder(name), "real"
    if fallback == "error":
        raise DataUnavailableError(
            f"the real files of {name!r} are not in {real_folder(name)}. Run "
            f"`python -m data_scripts fetch {name}` (needs internet), copy them there by hand, "
            "or pass fallback='synthetic' to use the labelled stand-in."
        )
    return synthesize(name), "synthetic"


def load(name: str, fallback: Fallback = "synthetic") -> Loaded:
    """Load ``name`` with its registered loader; the result carries its provenance."""
    folder, provenance = locate(name, fallback)
    return Loaded(get(name).loader(folder), provenance, folder, name)


def describe() -> list[dict[str, Any]]:
    """One summary row per registered data set (name, files, licence, status).

    Import the catalog :mod:`course_lib.datasets` first: it registers every data set.
    """
    rows = []
    for name, dataset in sorted(REGISTRY.items()):
        folder = real_folder(name)
        have_real = all((folder / f.filename).exists() for f in dataset.files)
        rows.append(
            {
                "name": name,
                "files": ", ".join(f.filename for f in dataset.files),
                "licence": dataset.licence,
                "schema": dataset.schema,
                "real in cache": have_real,
                "synthetic built": (synthetic_folder(name) / ".complete").exists(),
            }
        )
    return rows
