"""Prepare every data set for a profile: real files first, labelled stand-ins only as a fallback.

For each registered data set, in order:

1. real files already in the cache are used (their sha256 was verified when they entered it);
2. else real files are copied from a local folder (``--shared``, e.g. ``../shared/data``);
3. else, when the profile's chapters read the real files and downloading is allowed, they are
   downloaded (pooch, sha256, progress bar), their size said first;
4. only when that is impossible (offline, source gone, checksum changed) or not wanted (a
   large table that only another profile reads, ``--offline``) is the labelled synthetic
   stand-in built.

It ends with a table of which data sets are real and which synthetic, and the one command that
fetches the missing ones.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from course_lib import registry


@dataclass(frozen=True)
class Prepared:
    """What preparation did for one data set.

    Attributes
    ----------
    name
        Registered data set name.
    provenance
        ``"real"`` or ``"synthetic"``: what the chapters will read.
    how
        Where the files came from (``cache``, ``seeded from DIR``, ``downloaded``) or, for a
        stand-in, why the real files are missing.
    folder
        The folder the chapters read.
    """

    name: str
    provenance: registry.Provenance
    how: str
    folder: Path


def download_line(name: str, files: Sequence[registry.RemoteFile]) -> str:
    """``"<name>: downloading a, b (35.2 MB)"``, the size asked from the first address of each
    file, or ``(size not said by the source)``."""
    names = ", ".join(f.filename for f in files)
    return f"{name}: downloading {names} {_size_text(files)}"


def _size_text(files: Sequence[registry.RemoteFile]) -> str:
    sizes = [registry.remote_size(remote.urls[0]) for remote in files]
    if any(size is None for size in sizes):
        return "(size not said by the source)"
    return f"({sum(sizes) / 1e6:.1f} MB)"


def _download(name: str, say: Callable[[str], None], timeout: float) -> str | None:
    """Download ``name``'s real files; ``None`` when done, else a short reason it failed.

    The whole error (every address tried, where to put the file by hand) is said at once.
    """
    say(download_line(name, registry.files_to_fetch(name)))
    try:
        registry.fetch(name, timeout=timeout)
    except registry.ChecksumError as err:
        say(f"{name}: {err}")
        return "download failed: checksum changed at the source"
    except registry.DataError as err:
        say(f"{name}: {err}")
        return "download failed: source unreachable (offline?)"
    return None


def prepare_one(
    name: str,
    profile: str,
    shared: Path | None = None,
    offline: bool = False,
    say: Callable[[str], None] = print,
    timeout: float = 60,
) -> Prepared:
    """Make ``name`` ready for ``profile``: cache, local folder, download, then stand-in.

    Parameters
    ----------
    name
        A registered data set.
    profile
        The profile about to run; a data set that only other profiles read (see
        :attr:`course_lib.registry.DataSet.profiles`) is not downloaded.
    shared
        A local folder of real files to copy from (``../shared/data``), or ``None``.
    offline
        Never download.
    say
        Where progress lines go.
    timeout
        Seconds before an unanswered download address counts as unreachable.
    """
    dataset = registry.get(name)
    if registry.is_real_available(name):
        return Prepared(name, "real", "cache", registry.real_folder(name))
    if shared is not None and shared.is_dir() and registry.seed_from(name, shared):
        return Prepared(name, "real", f"seeded from {shared}", registry.real_folder(name))
    if offline:
        reason = "offline (--offline)"
    elif profile not in dataset.profiles:
        reason = f"read at {'/'.join(dataset.profiles)} only; not downloaded for {profile}"
    else:
        reason = _download(name, say, timeout)
        if reason is None:
            return Prepared(name, "real", "downloaded", registry.real_folder(name))
        say(f"{name}: {reason}; building the labelled stand-in")
    return Prepared(name, "synthetic", reason, registry.synthesize(name))


def summary(rows: list[Prepared]) -> str:
    """The closing table (data set, provenance, how) and the command that fetches the rest."""
    width = max(len(row.name) for row in rows)
    lines = [f"{'data set':<{width}}  {'data':<9}  how", f"{'-' * width}  {'-' * 9}  ---"]
    lines += [f"{row.name:<{width}}  {row.provenance:<9}  {row.how}" for row in rows]
    missing = [row.name for row in rows if row.provenance == "synthetic"]
    n_real = len(rows) - len(missing)
    lines.append(f"\n{n_real} of {len(rows)} data sets real, {len(missing)} synthetic stand-ins.")
    if missing:
        lines.append(
            "Chapters label every number from a stand-in as synthetic. To fetch the real files "
            f"(needs internet):\n    python -m data_scripts fetch {' '.join(missing)}"
        )
    return "\n".join(lines)


def prepare_all(
    profile: str,
    shared: Path | None = None,
    offline: bool = False,
    timeout: float = 60,
    names: Sequence[str] | None = None,
) -> list[Prepared]:
    """:func:`prepare_one` for ``names`` (default: every registered data set); prints a line
    each and the summary."""
    rows = []
    for name in sorted(registry.REGISTRY) if names is None else names:
        row = prepare_one(name, profile, shared, offline, timeout=timeout)
        print(f"{name:<24} {row.provenance:<10} {row.folder}")
        rows.append(row)
    print("\n" + summary(rows))
    sys.stdout.flush()
    return rows
