"""The chapters of the course, listed once: whatever enumerates chapters reads :data:`CHAPTERS`.

The runner and the student versions (:mod:`course_book.run`, :mod:`course_book.student`), the
site's chapter pages, results page and timings table (:mod:`course_book.site`,
:mod:`course_book.timings`) and the tests of the notebooks, the table of contents and the built
site all take their chapter list from here. Adding a chapter means adding one
:class:`Chapter` below (see ``CONTRIBUTING.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

NOTEBOOK_FOLDER = Path("notebooks")


@dataclass(frozen=True)
class Chapter:
    """One chapter: its notebook, its title and the module holding its code.

    Attributes
    ----------
    number : int
        The chapter number, 0-99; the notebook's stem starts with it in two digits.
    stem : str
        The notebook's file name without ``.ipynb``, e.g. ``"00_sequences"``; also the name of
        its results file ``results/<stem>.json``.
    title : str
        The title after ``Chapter N:`` in the notebook's first heading.
    module : str
        The dotted name of the chapter's code, e.g. ``"course_lib.chapters.ch0_sequences"``.
    teaches : str
        What a student builds in it (a line of the introduction's chapter table).
    data : str
        The data it reads (a line of the introduction's chapter table).
    """

    number: int
    stem: str
    title: str
    module: str
    teaches: str = ""
    data: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(rf"{self.number:02d}_\w+", self.stem):
            raise ValueError(
                f"chapter {self.number}'s stem {self.stem!r} must be "
                f"'{self.number:02d}_<name>' (letters, digits, underscores)"
            )

    @property
    def notebook(self) -> Path:
        """The notebook's path relative to the project root, ``notebooks/<stem>.ipynb``."""
        return NOTEBOOK_FOLDER / f"{self.stem}.ipynb"

    @property
    def label(self) -> str:
        """``"Chapter <number>: <title>"``, the notebook's first heading without ``#``."""
        return f"Chapter {self.number}: {self.title}"

    def part(self, name: str) -> str:
        """The dotted name of the module holding the chapter's ``name`` (``"config"``, ...).

        ``chN_<name>`` beside the chapter module when it exists, else the chapter module itself:
        a small chapter may keep its configuration, recipes and report in one module.
        """
        import importlib.util

        beside = f"{self.module.rpartition('.')[0]}.ch{self.number}_{name}"
        return beside if importlib.util.find_spec(beside) is not None else self.module


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        0,
        "00_sequences",
        "Sequences as tensors",
        "course_lib.chapters.ch0_sequences",
        "one-hot, padding, k-mers, FASTA and genome access",
        "hg38 chr22 excerpt",
    ),
    Chapter(
        1,
        "01_utr_rnafm",
        "5' UTR ribosome load from RNA-FM embeddings",
        "course_lib.chapters.ch1_utr_rnafm",
        "frozen foundation-model embeddings, an embedding cache, a 1-D ResNet",
        "Sample et al. 2019, 25-100 nt UTRs",
    ),
    Chapter(
        2,
        "02_optimus_attention",
        "Optimus 5-Prime and a CNN with attention",
        "course_lib.chapters.ch2_optimus_attention",
        "convolutional regression, attention maps, in-silico AUG insertion and design",
        "Sample et al. 2019, 50-nt eGFP library",
    ),
    Chapter(
        3,
        "03_pum2_dnabert_lstm",
        "PUM2 binding sites, a DNABERT-style transformer versus a BiLSTM",
        "course_lib.chapters.ch3_pum2_dnabert_lstm",
        "k-mer tokens, masked-language pretraining, honest cross-validation, motif discovery",
        "RNAProt PUM2 PAR-CLIP",
    ),
    Chapter(
        4,
        "04_beluga_multiplexer",
        "A Beluga multiplexer, every variant's effect in one pass",
        "course_lib.chapters.ch4_beluga_multiplexer",
        "in-silico saturation mutagenesis and distillation: every variant in one pass",
        "hg38 windows",
    ),
    Chapter(
        5,
        "05_utr_lm",
        "Pretraining a 5' UTR language model (UTR-LM)",
        "course_lib.chapters.ch5_utr_lm",
        "pretraining a nucleotide language model with MLM, MFE and structure objectives",
        "Sample et al. 2019 + ViennaRNA",
    ),
)


def chapter_label(stem: str, chapters: Iterable[Chapter] = CHAPTERS) -> str:
    """``"Chapter N: title"`` of the chapter whose stem is ``stem``; ``stem`` itself if none."""
    return next((c.label for c in chapters if c.stem == stem), stem)


def select_chapters(
    selection: Sequence[str], chapters: Sequence[Chapter] = CHAPTERS
) -> list[Chapter]:
    """The chapters named in ``selection`` (stems or numbers such as ``"01"``), in that order.

    Parameters
    ----------
    selection : sequence of str
        Stems (``"01_utr_rnafm"``, a path ending in one is accepted) or two-digit numbers
        (``"01"``); empty selects every chapter.
    chapters : sequence of Chapter
        The manifest to choose from (default :data:`CHAPTERS`).

    Returns
    -------
    list of Chapter
        Without duplicates, in the order of ``selection`` (manifest order if it is empty).

    Raises
    ------
    ValueError
        An item names no chapter (the message lists the chapters).
    """
    if not selection:
        return list(chapters)
    chosen: list[Chapter] = []
    for item in selection:
        stem = Path(item).stem
        matches = [c for c in chapters if stem in (c.stem, f"{c.number:02d}")]
        if not matches:
            raise ValueError(
                f"no chapter {item!r}; choose from {', '.join(c.stem for c in chapters)}"
            )
        chosen.extend(m for m in matches if m not in chosen)
    return chosen
