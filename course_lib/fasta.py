"""FASTA reading (plain or gzipped) and genome random access through ``pyfaidx``.

``pyfasta`` -- used by the original Beluga notebook -- cannot be imported on Python 3, so
genome windows come from :class:`Genome`, a thin wrapper around :class:`pyfaidx.Fasta`.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib import encoding


class FastaFormatError(ValueError):
    """A FASTA file that cannot be read as promised (empty, duplicated, malformed)."""


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: ``name`` is the header up to the first whitespace."""

    name: str
    sequence: str
    description: str = ""


@dataclass(frozen=True)
class FastaReadResult:
    """Records read from one file, with the number of records skipped for containing N."""

    records: list[FastaRecord]
    n_skipped_with_n: int
    path: Path

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.records]

    @property
    def sequences(self) -> list[str]:
        return [r.sequence for r in self.records]

    def __len__(self) -> int:
        return len(self.records)


def _open_text(path: Path):
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="ascii", errors="strict")
    return open(path, encoding="ascii", errors="strict")


def is_gzip(path: Path) -> bool:
    """Whether ``path`` is gzipped, from its first two bytes (not its name)."""
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def plain_copy(path: Path) -> Path:
    """``path`` itself, or for a gzipped file an uncompressed copy that ``pyfaidx`` can index.

    ``pyfaidx`` reads only block-gzipped (bgzip) files, and only with Biopython; a genome
    downloaded as ``.fa.gz`` is plain gzip. The copy is written beside it (``<name>.plain.fa``,
    rewritten when older than ``path``), or in the temporary folder when that is read-only.
    """
    if not is_gzip(path):
        return path
    for folder in (path.parent, Path(tempfile.gettempdir()) / "course_lib_genomes"):
        target = folder / f"{path.name}.plain.fa"
        if target.exists() and target.stat().st_mtime >= path.stat().st_mtime:
            return target
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            with gzip.open(path, "rb") as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.replace(target)
        except PermissionError:
            continue
        print(f"{path.name} is gzipped: indexing an uncompressed copy, {target}")
        return target
    raise PermissionError(f"cannot write an uncompressed copy of {path}")


def _iter_records(path: Path) -> Iterator[tuple[str, str, list[str], int]]:
    header: str | None = None
    header_line = 0
    chunks: list[str] = []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            if line.startswith(">"):
                if header is not None:
                    yield header, "", chunks, header_line
                header, header_line, chunks = line[1:].strip(), lineno, []
            else:
                if header is None:
                    raise FastaFormatError(
                        f"{path}: line {lineno} holds sequence before any '>' header; "
                        "is this a FASTA file?"
                    )
                chunks.append(line)
    if header is not None:
        yield header, "", chunks, header_line


_EMPTY_FIX = (
    "has no sequence; remove the record or give it its sequence "
    "(read_fasta(..., allow_empty_records=True) keeps it)"
)


def _check_record(path: Path, name: str, lineno: int, seen: dict[str, int]) -> None:
    """Raise on an empty or repeated record name; remember where ``name`` was seen."""
    if not name:
        raise FastaFormatError(
            f"{path}: empty header at line {lineno}; every record needs a name after '>' -- "
            "name the record or remove it"
        )
    if name in seen:
        raise FastaFormatError(
            f"{path}: duplicate record name {name!r} (lines {seen[name]} and {lineno}); "
            "record names must be unique -- rename or deduplicate the records"
        )
    seen[name] = lineno


def read_fasta(
    path: str | Path,
    *,
    skip_n: bool = False,
    uppercase: bool = True,
    to_dna: bool = False,
    allow_empty_records: bool = False,
) -> FastaReadResult:
    """Read a FASTA file, plain or gzipped, with multi-line records.

    Parameters
    ----------
    path
        File to read; gzip is detected from the content, not the name.
    skip_n
        Drop records that contain ``N``; their number is returned as ``n_skipped_with_n``.
    uppercase
        Upper-case the sequences (soft-masked genomes are lower case).
    to_dna
        Replace ``U`` by ``T``.
    allow_empty_records
        Keep records with no sequence instead of raising.

    Returns
    -------
    FastaReadResult
        The records in file order and the count of N-containing records skipped.

    Raises
    ------
    FileNotFoundError, FastaFormatError
        The file does not exist; it holds no record, a header repeats, a record is empty, or
        text precedes the first header.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"FASTA file not found: {path}")
    records: list[FastaRecord] = []
    seen: dict[str, int] = {}
    skipped = 0
    try:
        for header, _, chunks, lineno in _iter_records(path):
            name, _, description = header.partition(" ")
            _check_record(path, name, lineno, seen)
            seq = "".join(chunks)
            if not seq and not allow_empty_records:
                raise FastaFormatError(f"{path}: record {name!r} at line {lineno} {_EMPTY_FIX}")
            if uppercase:
                seq = seq.upper()
            if to_dna:
                seq = encoding.to_dna(seq)
            if skip_n and ("N" in seq or "n" in seq):
                skipped += 1
                continue
            records.append(FastaRecord(name, seq, description.strip()))
    except UnicodeDecodeError as err:
        raise FastaFormatError(f"{path}: not a text FASTA file ({err.reason})") from err
    if not seen:
        raise FastaFormatError(f"{path}: no FASTA records found (the file is empty)")
    return FastaReadResult(records, skipped, path)


def write_fasta(path: str | Path, names: list[str], sequences: list[str], width: int = 60) -> Path:
    """Write records as FASTA with lines of ``width`` characters (0: one line per record)."""
    if len(names) != len(sequences):
        raise ValueError(f"{len(names)} names but {len(sequences)} sequences")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for name, seq in zip(names, sequences, strict=True):
            fh.write(f">{name}\n")
            if width <= 0:
                fh.write(seq + "\n")
            else:
                for i in range(0, len(seq), width):
                    fh.write(seq[i : i + width] + "\n")
    return path


class Genome:
    """Random access to a (possibly large) genome FASTA through ``pyfaidx``.

    Coordinates are 0-based, end-exclusive, as in Python slicing and BED files. The ``.fai``
    index is written beside the FASTA and rebuilt when it is older than the FASTA. Lower-case
    (soft-masked) bases are read as upper case, Windows line endings are accepted, and a
    gzipped FASTA is read through an uncompressed copy (:func:`plain_copy`).

    Raises
    ------
    FileNotFoundError
        No such file.
    FastaFormatError
        The file cannot be indexed (ragged lines, a repeated record name) or a record is
        empty; the message names the file, the record and the fix.
    """

    def __init__(self, path: str | Path):
        import pyfaidx

        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"genome FASTA not found: {self.path}")
        try:
            self._fasta = pyfaidx.Fasta(str(plain_copy(self.path)), sequence_always_upper=True)
        except (pyfaidx.FastaIndexingError, ValueError) as err:
            fix = (
                "record names must be unique: rename or remove the repeated record"
                if "Duplicate key" in str(err)
                else "every line of a record but its last must have the same length: rewrite "
                "the file with course_lib.fasta.write_fasta(path, names, sequences)"
            )
            raise FastaFormatError(
                f"{self.path}: cannot index this genome FASTA: {err}; {fix}"
            ) from err
        empty = [name for name, size in self.chromosomes.items() if size == 0]
        if empty:
            raise FastaFormatError(
                f"{self.path}: record {empty[0]!r} has no sequence; remove the record or give "
                "it its sequence"
            )

    @property
    def chromosomes(self) -> dict[str, int]:
        """Chromosome names and lengths in file order."""
        return {name: len(rec) for name, rec in self._fasta.items()}

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Sequence of ``chrom[start:end]``, upper case."""
        if chrom not in self._fasta:
            raise KeyError(
                f"chromosome {chrom!r} not in {self.path.name}; have {list(self.chromosomes)}"
            )
        size = len(self._fasta[chrom])
        if not 0 <= start < end <= size:
            raise ValueError(f"interval {chrom}:{start}-{end} outside 0..{size}")
        return str(self._fasta[chrom][start:end])

    def sample_windows(
        self,
        n: int,
        length: int,
        rng: np.random.Generator,
        chromosomes: dict[str, tuple[int, int]] | None = None,
        max_n: int = 10,
        max_tries: int = 100,
    ) -> list[tuple[str, int, str]]:
        """Sample ``n`` windows in proportion to the usable length of each region.

        Parameters
        ----------
        chromosomes
            ``{chrom: (start, end)}`` regions to sample from; default every whole chromosome.
            Disjoint regions give disjoint training and validation windows.
        max_n
            Windows with more than ``max_n`` N bases are rejected and redrawn.

        Returns
        -------
        list of (chrom, start, sequence)
        """
        regions = chromosomes or {c: (0, size) for c, size in self.chromosomes.items()}
        names = list(regions)
        spans = np.array([max(0, regions[c][1] - regions[c][0] - length + 1) for c in names], float)
        if spans.sum() == 0:
            raise ValueError(f"no region is at least {length} bp long")
        weights = spans / spans.sum()
        out: list[tuple[str, int, str]] = []
        tries = 0
        while len(out) < n:
            tries += 1
            if tries > max_tries * n:
                raise RuntimeError(f"could not find {n} windows with at most {max_n} N")
            chrom = names[rng.choice(len(names), p=weights)]
            start = regions[chrom][0] + int(rng.integers(0, int(spans[names.index(chrom)])))
            seq = self.fetch(chrom, start, start + length)
            if seq.count("N") > max_n:
                continue
            out.append((chrom, start, seq))
        return out
