"""The data registry: every data set's source, checksum, licence, citation, schema and stand-in.

Real files live in ``$COURSE_DATA_DIR/<name>/``; synthetic stand-ins, which have the same
file names and schema, live in ``$COURSE_DATA_DIR/synthetic/<name>/`` so that they can never
be mistaken for real data. :func:`load` returns the data together with its provenance.

Data sets are declared in :mod:`course_lib.datasets` (one module each) with :func:`register`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from course_lib.atomic import write_text_atomic
from course_lib.paths import data_dir
from course_lib.profiles import PROFILE_NAMES
from course_lib.progress import progress

Provenance = Literal["real", "synthetic"]
Fallback = Literal["synthetic", "error"]
T = TypeVar("T")
USER_AGENT = "dl-rna-dna-course"


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
    #: Profiles whose chapters read the real files. ``python -m data_scripts prepare --profile
    #: P`` downloads a missing data set only when ``P`` is listed (large tables read only at
    #: ``full`` are not downloaded for ``laptop``); otherwise the labelled stand-in is built.
    profiles: tuple[str, ...] = PROFILE_NAMES
    #: Whether the licence lets the course hand the real files on (``python -m data_scripts
    #: pack`` copies only these into an offline pack; the others are listed with their source).
    redistributable: bool = False


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
    write_text_atomic(_stamp(folder), json.dumps(stamps, indent=1))


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


class _HashingDownloader:
    """A pooch downloader that remembers the sha256 of what it fetched.

    pooch deletes a download whose checksum does not match; the found checksum is kept here
    so that :class:`ChecksumError` can name it. ``file://`` addresses (a local mirror) are
    copied; every other protocol goes through pooch's own downloader (HTTP(S), FTP, SFTP, DOI).
    """

    def __init__(self, url: str, show_progress: bool, timeout: float, desc: str):
        import pooch

        self.found: str | None = None
        # pooch sets the bar's total from Content-Length and skips updating a bar whose total is
        # 0; a bar starts at total=1 because tqdm refuses bool() without a total
        self._bar = None
        if show_progress:
            self._bar = progress(total=1, unit="B", unit_scale=True, desc=desc)
        scheme = urllib.parse.urlparse(url).scheme
        if scheme == "file":
            self._fetch = _copy_local
        elif scheme in ("http", "https"):
            self._fetch = pooch.HTTPDownloader(
                progressbar=self._bar or False, timeout=timeout, headers={"User-Agent": USER_AGENT}
            )
        else:
            self._fetch = pooch.downloaders.choose_downloader(url, progressbar=self._bar or False)

    def __call__(self, url: str, output_file: str, pup: Any) -> None:
        try:
            self._fetch(url, output_file, pup)
        finally:
            if self._bar is not None:
                self._bar.close()
        self.found = sha256sum(output_file)


def _copy_local(url: str, output_file: str, _pup: Any = None) -> None:
    """Copy a ``file://`` address (pooch has no downloader for local files)."""
    shutil.copyfile(urllib.request.url2pathname(urllib.parse.urlparse(url).path), output_file)


def remote_size(url: str, timeout: float = 10) -> int | None:
    """Bytes that ``url`` would send (its ``Content-Length``), or ``None`` when not said.

    One HEAD request (redirects followed), so that a download's size can be said before it
    starts; a failed request, a server without HEAD or a ``file://`` address give ``None``.
    """
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        return None
    import requests

    try:
        response = requests.head(
            url, allow_redirects=True, timeout=timeout, headers={"User-Agent": USER_AGENT}
        )
        length = response.headers.get("Content-Length")
        return int(length) if response.ok and length and length.isdigit() else None
    except requests.exceptions.RequestException:
        return None


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a failed address raises before the next one is tried.

    Unreachable, refused, timed out or HTTP error (requests' exceptions, which pooch uses),
    cut off mid-way, a missing local file, or a "gzip" download that is not gzip.
    """
    import requests

    return (requests.exceptions.RequestException, OSError, EOFError)


def _download(
    url: str, remote: RemoteFile, staging: Path, show_progress: bool, timeout: float
) -> tuple[Path, str | None]:
    """Fetch ``url`` into ``staging`` through pooch, checking ``remote.sha256``.

    Returns the (decompressed) file and the sha256 of the downloaded bytes.

    Raises
    ------
    ChecksumError
        The download's sha256 differs from ``remote.sha256`` (pooch has deleted it).
    """
    import pooch

    pooch.get_logger().setLevel("WARNING")  # our progress bar and errors say what happens
    downloader = _HashingDownloader(url, show_progress, timeout, remote.filename)
    processor = None
    if remote.compression == "gzip":
        processor = pooch.Decompress(method="gzip", name=remote.filename)
    try:
        path = pooch.retrieve(
            url,
            known_hash=f"sha256:{remote.sha256}" if remote.sha256 else None,
            fname=remote.filename + ".download",
            path=staging,
            processor=processor,
            downloader=downloader,
            progressbar=False,
        )
    except ValueError as err:
        if downloader.found is None or "does not match the known hash" not in str(err):
            raise
        raise ChecksumError(
            f"checksum mismatch for {remote.filename}: expected sha256 {remote.sha256}, found "
            f"{downloader.found} (downloaded from {url}). The file is corrupted or a different "
            "version; delete it and fetch again."
        ) from None
    return Path(path), downloader.found


def _unavailable(
    name: str, remote: RemoteFile, target: Path, errors: list[str]
) -> DataUnavailableError:
    """The offline error: every address tried, and where to put the file by hand."""
    return DataUnavailableError(
        f"could not download {remote.filename} for data set {name!r} "
        f"({'; '.join(errors)}). If you are offline, copy the file to {target}"
        + (f" (sha256 {remote.sha256})" if remote.sha256 else "")
        + f", or run `python -m data_scripts synth {name}` to use the synthetic stand-in."
    )


def _fetch_file(
    name: str, remote: RemoteFile, folder: Path, show_progress: bool, timeout: float
) -> None:
    """Download one file, trying its addresses in order; only a verified file is kept."""
    target = folder / remote.filename
    errors = []
    for url in remote.urls:
        # everything pooch writes (the download, its temporary, the decompressed copy) stays in
        # a private folder that is removed whatever happens: no partial file is left behind
        staging = Path(tempfile.mkdtemp(prefix=f".{remote.filename}.", dir=folder))
        try:
            path, found = _download(url, remote, staging, show_progress, timeout)
            path.replace(target)
            _write_stamp(folder, remote, found)
            return
        except _network_errors() as err:
            errors.append(f"{url}: {err}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    raise _unavailable(name, remote, target, errors)


def files_to_fetch(name: str, force: bool = False) -> list[RemoteFile]:
    """The files of ``name`` that :func:`fetch` would download: those not in the cache, or all
    of them with ``force``."""
    folder = real_folder(name)
    return [f for f in get(name).files if force or not (folder / f.filename).exists()]


def fetch(name: str, force: bool = False, show_progress: bool = True, timeout: float = 60) -> Path:
    """Download the real files of ``name`` into the cache with pooch, verifying checksums.

    Each file's addresses are mirrors tried in order; a gzip download is stored decompressed.
    Nothing partial is left behind: pooch downloads into a private folder and the file is
    moved into the cache only after its checksum matched.

    Raises
    ------
    ChecksumError
        A downloaded file has the wrong sha256 (it is deleted); names the file, the expected
        and the found checksum.
    DataUnavailableError
        No address could be reached (offline, moved); the message says where to put the file.
    """
    folder = real_folder(name)
    folder.mkdir(parents=True, exist_ok=True)
    for remote in files_to_fetch(name, force):
        _fetch_file(name, remote, folder, show_progress, timeout)
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
        try:
            shutil.copyfile(origin / remote.filename, part)
            part.replace(folder / remote.filename)
        finally:
            part.unlink(missing_ok=True)
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
