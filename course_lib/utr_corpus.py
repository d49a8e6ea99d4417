"""Chapter 5's pretraining corpus of real 5' UTRs, kept apart from Random7600 and Human7600.

The course cannot ship the 76,319 training UTRs of Sample et al. (GEO only), but it holds
other real UTR libraries of the same assay (``../shared/data/README.md``):

- the designed library (``utr_testsets/stride11133m_MPA_H_pred.csv``): 25,000 human 5' UTR
  and SNV 50-mers;
- the ClinVar SNV alleles (``optimus/snv_phenotype_log_diff.csv``, column ``utr``): 3,002
  50-mers, reference and variant alleles;
- the eGFP library (``utr_testsets/stride11133m_MPA_U_pred.csv``): 20,000 random 50-mers;
- the m1Ψ eGFP library (``utr_mfe/``): 20,000 random 50-mers, many also in the eGFP one.

Only the first two are natural sequence (:data:`NATURAL_SOURCES`): masked modelling learns
from them alone, since the best masked-token prediction in a random 50-mer library is the
copy floor by construction. The random libraries (:data:`RANDOM_SOURCES`) teach folding
(MFE and structure) only. The designed library tiles genes and holds SNV alleles, so
:meth:`PretrainingCorpus.split` keeps every group of sequences sharing a stretch of
``min_shared`` nt (:func:`stretch_groups`) on one side of the monitoring split.
:func:`composition_matched` draws the negative control's corpus: i.i.d. sequences with the
lengths and the base composition of the natural one.

:func:`build_pretraining_corpus` merges them in that order into one deduplicated corpus in
the upper-case DNA alphabet and removes every sequence that shares a stretch of at least
``min_shared`` nucleotides (default 25, the shortest test UTR) with a Random7600 or
Human7600 UTR. That rule removes exact copies, UTRs that contain a test UTR or lie inside
one, and overlapping windows of the same human gene (the designed library tiles many of the
genes Human7600 comes from); ``min_shared=None`` removes exact copies only. Reverse
complements are not removed (a 5' UTR is read in one direction); how many corpus sequences
share a stretch with a test UTR's reverse complement is reported.

:data:`CORPUS_SOURCES` names each source once (registry data set, file, column);
:func:`real_corpus` builds the corpus from the registry's folders (``None`` when a source is
not real), :func:`real_pretraining_corpus` from a folder laid out as ``../shared/data``; the
held-out UTRs come from the ``utr_testsets`` loader (:func:`held_out_utrs`).
:func:`stand_in_corpus` applies the same rule to stand-in UTRs; a :class:`CorpusSplit` holds
a profile's draw of training and monitoring UTRs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from course_lib.datasets.utr_testsets import VARYING_SETS, TestSets, load_test_sets
from course_lib.encoding import reverse_complement, to_dna
from course_lib.tables import read_table
from course_lib.text import as_text

if TYPE_CHECKING:
    from course_lib.utr_protocol import RealUTRProtocol

#: Corpus sources in merge order: name -> (registry data set, file in its folder, sequence
#: column). The ClinVar source keeps reference and variant alleles alike, which the
#: ``optimus_models`` loader (variants with a measured reference) does not, so every source is
#: read from its data set's folder with :func:`read_sources`.
CORPUS_SOURCES = {
    "designed human library": ("utr_testsets", "stride11133m_MPA_H_pred.csv", "utr"),
    "ClinVar SNV alleles": ("optimus_models", "snv_phenotype_log_diff.csv", "utr"),
    "eGFP library": ("utr_testsets", "stride11133m_MPA_U_pred.csv", "utr"),
    "m1Ψ eGFP library": ("utr_mfe", "utr_RFregr_m1pseudo_2_MFE.testdata.csv", "utr"),
}
#: Sources of natural sequence (masked modelling); the others are random libraries.
NATURAL_SOURCES = ("designed human library", "ClinVar SNV alleles")
#: Random-library sources: they feed the MFE and structure objectives only.
RANDOM_SOURCES = ("eGFP library", "m1Ψ eGFP library")
_ACGT = frozenset("ACGT")


@dataclass(frozen=True)
class PretrainingCorpus:
    """A deduplicated corpus and what happened to every sequence read.

    Attributes
    ----------
    sequences
        ``n`` unique upper-case DNA sequences, in source order.
    sources
        ``n`` source names, one per sequence.
    report
        One row per source (and a ``total`` row): ``read``, ``not ACGT``, ``repeated in
        source``, ``in an earlier source``, ``equal to a test UTR``, ``shares >= k nt with a
        test UTR`` (removed, exact copies not counted again; absent when ``min_shared`` is
        ``None``), ``kept``, and ``shares >= k nt with a test UTR's reverse complement
        (kept)`` (``k`` is 25 when ``min_shared`` is ``None``).
    min_shared
        ``k``, the shared-stretch length that removes a sequence (``None``: exact copies only).
    """

    sequences: list[str]
    sources: list[str]
    report: pd.DataFrame
    min_shared: int | None

    def __len__(self) -> int:
        return len(self.sequences)

    def counts(self) -> dict[str, int]:
        """Kept sequences per source."""
        return {k: int(v) for k, v in self.report["kept"].drop("total").items()}

    def split(
        self,
        val_fraction: float = 0.1,
        n: int | None = None,
        seed: int = 0,
        sources: Sequence[str] | None = None,
    ) -> tuple[list[str], list[str]]:
        """``(train, val)`` sequences of ``sources`` (default all), split by stretch group.

        ``n`` first draws a random subset of that many sequences (a profile's corpus size);
        then groups of sequences sharing a ``min_shared``-nt stretch (25 when ``None``,
        :func:`stretch_groups`) go whole to one side, ``val_fraction`` of the groups to
        ``val`` (for monitoring pretraining), so no near-duplicate crosses the split.
        """
        from sklearn.model_selection import GroupShuffleSplit

        keep = [i for i, s in enumerate(self.sources) if sources is None or s in sources]
        index = np.asarray(keep, dtype=np.int64)
        if n is not None and n < len(index):
            index = np.sort(np.random.default_rng(seed).choice(index, n, replace=False))
        if len(index) < 2:
            raise ValueError(f"{len(index)} sequences of {sources} in the corpus; need 2")
        seqs = [self.sequences[i] for i in index]
        groups = stretch_groups(seqs, self.min_shared or 25)
        splitter = GroupShuffleSplit(1, test_size=val_fraction, random_state=seed)
        train, val = next(splitter.split(seqs, groups=groups))
        return [seqs[i] for i in np.sort(train)], [seqs[i] for i in np.sort(val)]


def stretch_groups(seqs: Sequence[str], k: int = 25) -> np.ndarray:
    """``[n]`` group ids: sequences sharing a ``k``-nt substring (transitively) share a group.

    Union-find over the ``k``-mer windows of ``seqs`` (a sequence shorter than ``k`` is one
    window). Overlapping tiles of one gene and the alleles of one SNV end in one group.
    """
    parent = list(range(len(seqs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, seq in enumerate(seqs):
        for j in range(max(1, len(seq) - k + 1)):
            other = first.setdefault(seq[j : j + k], i)
            a, b = root(i), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(len(seqs))], dtype=np.int64)


def composition_matched(seqs: Sequence[str], seed: int = 0) -> list[str]:
    """I.i.d. random sequences with the lengths of ``seqs`` and their pooled base frequencies.

    The negative control's corpus: what a model can learn from it is composition and length,
    nothing about natural sequence. ``[n]`` strings over ``ACGT``.
    """
    joined = "".join(seqs)
    if not joined:
        raise ValueError("no sequence to match the composition of")
    bases = np.array(list("ACGT"))
    p = np.array([joined.count(b) for b in bases], dtype=float)
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(bases, len(s), p=p / p.sum())) for s in seqs]


def windows(seqs: Sequence[str], k: int) -> set[str]:
    """Every length-``k`` substring of ``seqs`` (a sequence shorter than ``k`` adds itself)."""
    out: set[str] = set()
    for seq in seqs:
        out.update(seq[i : i + k] for i in range(max(1, len(seq) - k + 1)))
    return out


def shares_stretch(seqs: Sequence[str], held_out: Sequence[str], k: int) -> np.ndarray:
    """``[n]`` bool: whether each of ``seqs`` shares a substring of ``k`` nt with ``held_out``.

    Held-out sequences shorter than ``k`` are matched as wholes (contained in a sequence).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    long_windows = windows([h for h in held_out if len(h) >= k], k)
    short = [h for h in held_out if len(h) < k]
    return np.array(
        [
            any(seq[i : i + k] in long_windows for i in range(len(seq) - k + 1))
            or any(h in seq for h in short)
            for seq in seqs
        ],
        dtype=bool,
    )


def _normalise(seqs: Sequence[str]) -> list[str]:
    return [to_dna(str(s).strip().upper()) for s in seqs]


def _source_row(
    seqs: list[str], seen: set[str], held: set[str], held_all: list[str], k: int | None
) -> tuple[dict[str, int], list[str]]:
    valid = [s for s in seqs if s and set(s) <= _ACGT]
    unique = list(dict.fromkeys(valid))
    new = [s for s in unique if s not in seen]
    equal = [s in held for s in new]
    rest = [s for s, e in zip(new, equal, strict=True) if not e]
    shared = shares_stretch(rest, held_all, k) if k else np.zeros(len(rest), bool)
    kept = [s for s, x in zip(rest, shared, strict=True) if not x]
    row = {
        "read": len(seqs),
        "not ACGT": len(seqs) - len(valid),
        "repeated in source": len(valid) - len(unique),
        "in an earlier source": len(unique) - len(new),
        "equal to a test UTR": int(sum(equal)),
        "shares >= k nt with a test UTR": int(shared.sum()),
        "kept": len(kept),
    }
    return row, kept


def build_pretraining_corpus(
    sources: Mapping[str, Sequence[str]],
    held_out: Mapping[str, Sequence[str]],
    *,
    min_shared: int | None = 25,
) -> PretrainingCorpus:
    """Merge ``sources`` (in order) into a deduplicated corpus without any held-out sequence.

    Parameters
    ----------
    sources
        ``{source name: sequences}``; DNA or RNA alphabet, any case (stored upper-case DNA).
        Sequences with letters other than A, C, G, T/U are dropped and counted.
    held_out
        ``{test-set name: sequences}`` that must never enter the corpus (Random7600 and
        Human7600: :func:`held_out_utrs`).
    min_shared
        Remove sequences sharing a substring of this many nt with a held-out sequence;
        ``None`` removes exact copies only.

    Returns
    -------
    PretrainingCorpus
        Sequences, their sources and the per-source report.

    Raises
    ------
    ValueError
        No source, an empty held-out set, or nothing left.
    """
    if not sources:
        raise ValueError("no corpus sources given")
    if not held_out or any(len(v) == 0 for v in held_out.values()):
        raise ValueError("held_out must name the test sets and hold their sequences")
    held_all = list(dict.fromkeys(s for v in held_out.values() for s in _normalise(v)))
    held, held_rc = set(held_all), [reverse_complement(s) for s in held_all]
    seen: set[str] = set()
    corpus, names, rows = [], [], {}
    for name, seqs in sources.items():
        normalised = _normalise(seqs)
        rows[name], kept = _source_row(normalised, seen, held, held_all, min_shared)
        seen.update(s for s in normalised)
        rc_hits = shares_stretch(kept, held_rc, min_shared or 25)
        rows[name]["shares >= k nt with a test UTR's reverse complement (kept)"] = int(
            rc_hits.sum()
        )
        corpus += kept
        names += [name] * len(kept)
    if not corpus:
        raise ValueError("no sequence is left in the corpus after removing the test sets")
    report = pd.DataFrame(rows).T
    report.loc["total"] = report.sum()
    if min_shared is None:
        report = report.drop(columns="shares >= k nt with a test UTR")
    report.columns = [c.replace(">= k", f">= {min_shared or 25}") for c in report.columns]
    return PretrainingCorpus(corpus, names, report.rename_axis("source"), min_shared)


def held_out_utrs(test_sets: TestSets) -> dict[str, list[str]]:
    """``{"Random7600": [...], "Human7600": [...]}``: the UTRs (DNA alphabet) the corpus must
    never hold, from the ``utr_testsets`` loader's :class:`TestSets`."""
    return {name: test_sets[name]["utr"].tolist() for name in VARYING_SETS.values()}


def read_sources(
    files: Mapping[str, tuple[Path, str]], verbose: bool = True
) -> dict[str, list[str]]:
    """``{name: sequences}`` of ``{name: (table file, sequence column)}``, each read with
    :func:`course_lib.tables.read_table` (upper case, DNA alphabet; other columns left out)."""
    fix = "a corpus source of course_lib.utr_corpus.CORPUS_SOURCES is needed (../shared/data)"
    return {
        name: read_table(path, (column,), sequence_columns=(column,), fix=fix, verbose=verbose)
        .table[column]
        .tolist()
        for name, (path, column) in files.items()
    }


def source_files(folders: Mapping[str, Path]) -> dict[str, tuple[Path, str]]:
    """``{source: (table file, sequence column)}`` of :data:`CORPUS_SOURCES`, given the
    folder of each data set they name (``{data set: folder}``)."""
    return {name: (folders[ds] / file, col) for name, (ds, file, col) in CORPUS_SOURCES.items()}


def shared_folders(shared: str | Path) -> dict[str, Path]:
    """``{data set: folder}`` of the corpus's data sets in a folder laid out as
    ``../shared/data`` (each data set's registered ``shared_subdir``)."""
    import course_lib.datasets  # noqa: F401  (registers the data sets)
    from course_lib import registry

    names = {ds for ds, _, _ in CORPUS_SOURCES.values()} | {"utr_testsets"}
    return {name: Path(shared) / (registry.get(name).shared_subdir or name) for name in names}


def read_corpus_sources(shared: str | Path, verbose: bool = True) -> dict[str, list[str]]:
    """The real corpus sources of :data:`CORPUS_SOURCES`, read from a folder laid out as
    ``../shared/data`` (with :func:`read_sources`)."""
    return read_sources(source_files(shared_folders(shared)), verbose)


def real_pretraining_corpus(
    shared: str | Path, min_shared: int | None = 25, verbose: bool = True
) -> PretrainingCorpus:
    """:func:`build_pretraining_corpus` of the real sources in ``shared`` (``../shared/data``),
    without Random7600 and Human7600. Chapter 5 introduces it; chapter 1 pretrains on it too."""
    test_sets = load_test_sets(shared_folders(shared)["utr_testsets"])
    return build_pretraining_corpus(
        read_corpus_sources(shared, verbose), held_out_utrs(test_sets), min_shared=min_shared
    )


def real_corpus(verbose: bool = True) -> PretrainingCorpus | None:
    """The real pretraining corpus, read from the registry's folders.

    Every data set of :data:`CORPUS_SOURCES` and the held-out Random7600/Human7600 test sets
    must be real (``registry.load`` provenance); otherwise ``None`` (the caller falls back and
    says so). The corpus never shares a 25-nt stretch with a held-out UTR
    (:func:`build_pretraining_corpus`); take a profile's size with
    ``corpus.split(val_fraction, n)``.
    """
    import course_lib.datasets  # noqa: F401  (registers the data sets)
    from course_lib import registry

    loaded = {name: registry.load(name) for name in {s[0] for s in CORPUS_SOURCES.values()}}
    if any(item.provenance != "real" for item in loaded.values()):
        return None
    sources = read_sources(source_files({n: item.folder for n, item in loaded.items()}), verbose)
    return build_pretraining_corpus(sources, held_out_utrs(loaded["utr_testsets"].data))


def stand_in_corpus(utrs: Sequence[str], protocol: RealUTRProtocol) -> PretrainingCorpus:
    """A pretraining corpus from stand-in UTRs when the real libraries are absent.

    Like :func:`real_corpus`, it never shares a 25-nt stretch with a Random7600 or Human7600
    UTR of ``protocol`` (the fine-tuning folds and the external test).
    """
    held_out = {
        "Random7600": protocol.random["utr"].tolist(),
        "Human7600": protocol.human["utr"].tolist(),
    }
    return build_pretraining_corpus({"stand-in UTRs": list(utrs)}, held_out)


@dataclass
class CorpusSplit:
    """Chapter 5's pretraining UTRs at one profile's size (:func:`pretraining_corpus`).

    Attributes
    ----------
    train, val
        Natural UTRs to pretrain on (every objective) and to monitor pretraining with, split
        by stretch group (:meth:`PretrainingCorpus.split`).
    provenance
        ``"real"`` (the real UTR libraries) or the stand-in's provenance.
    counts
        Kept UTRs per source in the whole corpus, before the profile's draw.
    aux_train, aux_val
        Random-library UTRs for the MFE and structure objectives only (empty for a stand-in).
    """

    train: list[str]
    val: list[str]
    provenance: str
    counts: dict[str, int]
    aux_train: list[str] = field(default_factory=list)
    aux_val: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line: where the UTRs come from and how many there are."""
        kind = (
            "real pretraining corpus"
            if self.provenance == "real"
            else (f"real UTR libraries absent: {self.provenance} stand-in UTRs")
        )
        return (
            f"{kind}: {sum(self.counts.values()):,} UTRs kept ({as_text(self.counts)}); "
            "natural UTRs "
            f"(all objectives): {len(self.train):,} to train, {len(self.val):,} to monitor "
            f"(split by shared 25-nt stretch); random-library UTRs (MFE and structure only): "
            f"{len(self.aux_train):,} to train, {len(self.aux_val):,} to monitor"
        )
