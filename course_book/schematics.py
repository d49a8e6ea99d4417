"""Schematic figures of the book, drawn by code: ``python -m course_book.schematics``.

Each figure is one function that draws a concept with matplotlib shapes, arrows and text on a
white canvas :data:`WIDTH_IN` inches wide, in inch coordinates (1 unit = 1 inch both ways).
:data:`FIGURES` maps a figure's name to its drawing function, its alt text and its caption;
the chapters show ``book/figures/<name>.svg`` in a markdown cell as
``![<alt text>](../book/figures/<name>.svg)`` followed by the caption. The SVGs are written
deterministically (fixed hash salt, no date, text as paths), so regenerating them gives the same
bytes; ``tests/test_schematics.py`` checks that, the alt texts, that every figure is placed in a
chapter and that no text leaves its canvas. Regenerate them with ``make figures``.

Numbers drawn from the course's own code (k-mer ranks, DNABERT ids) are computed with
:mod:`course_lib`; the other numbers are labelled illustrative.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse, FancyBboxPatch, Rectangle

from course_lib.encoding import kmer_ids
from course_lib.tokenization import build_vocabulary

#: Width of every schematic (inches); about 670 px in a browser, the book's column width.
WIDTH_IN = 7.0
#: Where the book keeps the generated files (relative to the project root).
FIGURES_DIR = Path("book") / "figures"
#: Hash salt of the SVG writer: element ids, hence the bytes, do not change between runs.
HASH_SALT = "course-schematics"
FONT = 8.5
SMALL = 7.5
MONO = "DejaVu Sans Mono"
# Okabe-Ito colours (readable by colour-blind readers) and light fills of them
BLUE, ORANGE, RED, GREEN, GREY = "#0072B2", "#E69F00", "#D55E00", "#009E73", "#666666"
LIGHT = {
    BLUE: "#cfe3f1",
    ORANGE: "#f9e5b8",
    RED: "#f6d2bd",
    GREEN: "#c5e9dd",
    GREY: "#e6e6e6",
}


class Schematic(NamedTuple):
    """One figure: its drawing function, its alt text (what it shows) and a one-line caption."""

    draw: Callable[[], Figure]
    alt: str
    caption: str


# --------------------------------------------------------------------------- drawing helpers


def _canvas(height: float) -> tuple[Figure, Axes]:
    """A white figure ``WIDTH_IN x height`` inches and an invisible axes in inch coordinates."""
    fig = Figure(figsize=(WIDTH_IN, height), facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH_IN)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def _box(
    ax: Axes,
    xy: tuple[float, float],
    size: tuple[float, float],
    text: str = "",
    color: str = GREY,
    **text_kw,
) -> None:
    """A rounded box at ``xy`` (lower left) of ``size`` (w, h) filled with ``color``'s light tint,
    with ``text`` centred in it."""
    (x, y), (w, h) = xy, size
    style = "round,pad=0,rounding_size=0.04"
    fill = LIGHT.get(color, "white")
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, fc=fill, ec=color, lw=0.9))
    if text:
        kw = {"fontsize": FONT, "ha": "center", "va": "center"} | text_kw
        ax.text(x + w / 2, y + h / 2, text, **kw)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], color="black") -> None:
    """A straight arrow from ``start`` to ``end``."""
    props = {"arrowstyle": "-|>", "color": color, "lw": 1.0, "shrinkA": 0, "shrinkB": 0}
    ax.annotate("", xy=end, xytext=start, arrowprops=props)


def _header(ax: Axes, y: float, text: str) -> None:
    """A panel's heading, left-aligned at height ``y``."""
    ax.text(0.08, y, text, fontsize=FONT + 0.5, fontweight="bold", va="center")


def _label(ax: Axes, y: float, text: str, x: float = 0.08, **kw) -> None:
    """A row label in the left margin."""
    ax.text(x, y, text, fontsize=SMALL, va="center", color="#333333", **kw)


def _token(ax: Axes, x: float, y: float, text: str, color: str = GREY, w: float = 0.46) -> None:
    """One token box ``w`` wide and 0.26 high centred vertically on ``y``."""
    size = 7 if len(text) <= 4 else 6.5
    _box(ax, (x + 0.02, y - 0.13), (w - 0.04, 0.26), text, color, fontsize=size, family=MONO)


# --------------------------------------------------------------------------- polysome to MRL

#: Illustrative reads of one UTR in the fractions carrying 0 (free mRNA) .. 5 ribosomes.
POLYSOME_READS = (6, 18, 42, 21, 9, 4)
_COL_X0, _COL_W = 1.75, 0.85


def mean_ribosome_load(reads: Sequence[float]) -> float:
    """MRL of one UTR: ``sum_f n_f * reads_f / sum(reads)`` for fractions ``n_f = 0, 1, ...``.

    Parameters
    ----------
    reads
        ``[n_fractions]`` reads of the UTR in the fractions carrying 0, 1, 2, ... ribosomes.
    """
    reads = np.asarray(reads, dtype=float)
    return float((np.arange(reads.size) * reads).sum() / reads.sum())


def _ribosome(ax: Axes, x: float, y: float) -> None:
    """A ribosome on an mRNA at ``(x, y)``: the small subunit below the large one."""
    ax.add_patch(Ellipse((x, y - 0.01), 0.08, 0.06, fc="#bbbbbb", ec=GREY, lw=0.6))
    ax.add_patch(Ellipse((x, y + 0.05), 0.1, 0.08, fc="#8c8c8c", ec=GREY, lw=0.6))


def _gradient_panel(ax: Axes, centres: np.ndarray) -> None:
    """Panel 1: the gradient, its absorbance trace and the mRNAs of every fraction."""
    right = _COL_X0 + _COL_W * len(centres)
    _header(ax, 4.45, "1  Separate the cells' mRNAs by ribosome count (sucrose gradient)")
    _label(ax, 4.12, "gradient fractions")
    _arrow(ax, (_COL_X0, 4.12), (right, 4.12), GREY)
    ax.text(_COL_X0 + 0.05, 4.2, "lighter", fontsize=SMALL, va="bottom", color=GREY)
    ax.text(right - 0.1, 4.2, "heavier", fontsize=SMALL, va="bottom", ha="right", color=GREY)
    x = np.linspace(_COL_X0, right, 400)
    heights = (0.55, 0.32, 0.28, 0.22, 0.16, 0.11)
    trace = sum(
        h * np.exp(-0.5 * ((x - c) / 0.12) ** 2) for h, c in zip(heights, centres, strict=True)
    )
    ax.plot(x, 3.3 + trace, color=BLUE, lw=1.2)
    _label(ax, 3.5, "absorbance (A260)")
    _label(ax, 2.95, "mRNAs in each fraction")
    for n, centre in enumerate(centres):
        edge = centre + _COL_W / 2
        ax.plot([edge, edge], [2.6, 3.95], color="#dddddd", lw=0.6, zorder=0)
        ax.plot([centre - 0.36, centre + 0.36], [2.92, 2.92], color="black", lw=1.2)
        ax.plot([centre - 0.36, centre - 0.25], [2.92, 2.92], color=ORANGE, lw=3)
        ax.plot(centre - 0.38, 2.92, "o", ms=3, color="black")
        for r in range(n):
            _ribosome(ax, centre - 0.2 + 0.11 * r, 2.95)
        label = "0 (free)" if n == 0 else str(n)
        ax.text(centre, 2.7, label, fontsize=FONT, ha="center", va="center")
    _label(ax, 2.7, "ribosomes per mRNA, n")


def _reads_panel(ax: Axes, centres: np.ndarray, reads: Sequence[int]) -> None:
    """Panel 2: one UTR's reads in every fraction, with its share of them."""
    _header(ax, 2.35, "2  Sequence every fraction; count each UTR's reads (one UTR, u)")
    _label(ax, 1.6, "reads of u")
    _label(ax, 1.0, "share of u's reads")
    scale = 0.7 / max(reads)
    total = sum(reads)
    for centre, count in zip(centres, reads, strict=True):
        ax.add_patch(Rectangle((centre - 0.2, 1.2), 0.4, count * scale, fc=LIGHT[BLUE], ec=BLUE))
        ax.text(centre, 1.23 + count * scale, str(count), fontsize=SMALL, ha="center")
        ax.text(centre, 1.0, f"{count / total:.2f}", fontsize=SMALL, ha="center", va="center")
    ax.plot([_COL_X0, _COL_X0 + _COL_W * len(centres)], [1.2, 1.2], color="black", lw=0.8)


def draw_polysome_mrl() -> Figure:
    """Polysome profiling to mean ribosome load: fractions, reads, the read-weighted mean."""
    fig, ax = _canvas(4.65)
    reads = POLYSOME_READS
    centres = _COL_X0 + _COL_W * (np.arange(len(reads)) + 0.5)
    _gradient_panel(ax, centres)
    _reads_panel(ax, centres, reads)
    _header(ax, 0.68, "3  Mean ribosome load (MRL): the read-weighted mean of n")
    total = sum(reads)
    terms = " + ".join(f"{n}×{r / total:.2f}" for n, r in enumerate(reads))
    ax.text(0.3, 0.38, "MRL(u) = Σ  n × share  =  " + terms, fontsize=FONT, va="center")
    ax.text(
        0.3,
        0.13,
        f"= {mean_ribosome_load(reads):.2f} ribosomes per mRNA (illustrative counts)",
        fontsize=FONT,
        va="center",
    )
    return fig


# --------------------------------------------------------------------------- cross-validation

_FOLDS, _FOLD_X0, _FOLD_W = 5, 1.45, 0.8


def _fold_row(ax: Axes, y: float, test: int) -> None:
    """One fold model's row: the test fold, and fit rows with a validation share elsewhere."""
    for j in range(_FOLDS):
        x = _FOLD_X0 + j * _FOLD_W
        if j == test:
            _box(ax, (x + 0.02, y), (_FOLD_W - 0.04, 0.3), "test", RED, fontsize=SMALL)
            continue
        _box(ax, (x + 0.02, y), (_FOLD_W - 0.2, 0.3), "fit", BLUE, fontsize=SMALL)
        _box(ax, (x + _FOLD_W - 0.17, y), (0.15, 0.3), "", ORANGE)


def _legend_item(ax: Axes, x: float, y: float, color: str, text: str) -> None:
    _box(ax, (x, y - 0.08), (0.22, 0.16), "", color)
    ax.text(x + 0.3, y, text, fontsize=SMALL, va="center")


def draw_cv_folds() -> Figure:
    """K-fold cross-validation with an inner validation split and an external test set."""
    fig, ax = _canvas(3.9)
    top = 3.45
    _label(ax, top + 0.15, "labelled library,\nsplit into K folds", linespacing=1.3)
    for j in range(_FOLDS):
        x = _FOLD_X0 + j * _FOLD_W
        _box(ax, (x + 0.02, top), (_FOLD_W - 0.04, 0.3), f"fold {j + 1}", GREY, fontsize=SMALL)
    rows = [top - 0.55 - 0.42 * k for k in range(_FOLDS)]
    for k, y in enumerate(rows):
        _label(ax, y + 0.15, f"fold model {k + 1}")
        _fold_row(ax, y, k)
        _arrow(ax, (_FOLD_X0 + _FOLD_W * _FOLDS + 0.03, y + 0.15), (5.68, y + 0.15), GREEN)
    height = rows[0] + 0.3 - rows[-1]
    text = (
        "external test set\n(chapter 1:\nHuman7600)\n\nnever trained on,\nnever used for\nselection"
    )
    _box(ax, (5.7, rows[-1]), (1.22, height), text, GREEN, fontsize=SMALL, linespacing=1.25)
    ax.text(
        _FOLD_X0,
        rows[-1] - 0.25,
        "Each row is a fresh model; it is scored once, at the end, on its test fold and on the "
        "external test.",
        fontsize=SMALL,
        va="center",
    )
    legend = (
        (BLUE, "fit rows: train the weights, fit the label scaler"),
        (ORANGE, "validation rows: choose the epoch, hyper-parameters"),
        (RED, "test fold: held out from fitting and selection"),
        (GREEN, "external test: outside every fold"),
    )
    for i, (color, label) in enumerate(legend):
        _legend_item(ax, 0.15 + 3.45 * (i % 2), 0.5 - 0.3 * (i // 2), color, label)
    return fig


# --------------------------------------------------------------------------- masking

#: The masking example: 12 bases, 10 overlapping 3-mers, a span of tokens 4..6 chosen.
MASK_SEQUENCE, MASK_SPAN, RANDOM_KMERS = "ATGTACATAGCT", (4, 5, 6), ("GGC", "TTA", "CGA")
_TOKEN_X0, _TOKEN_W = 1.88, 0.46


def _corruption_rows(ax: Axes, tokens: list[str]) -> None:
    """Panel a: the original tokens and the three fates of a chosen span."""
    rows = (
        ("3-mers, a span chosen", tokens, GREY),
        ("80 %  →  [MASK]", ["[MASK]"] * len(MASK_SPAN), GREY),
        ("10 %  →  random 3-mers", list(RANDOM_KMERS), ORANGE),
        ("10 %  →  unchanged", [tokens[i] for i in MASK_SPAN], GREEN),
    )
    for r, (label, span, color) in enumerate(rows):
        y = 4.3 - 0.42 * r
        _label(ax, y, label)
        for j, token in enumerate(tokens):
            x = _TOKEN_X0 + j * _TOKEN_W
            if j in MASK_SPAN and r > 0:
                _token(ax, x, y, span[j - MASK_SPAN[0]], color if r > 1 else BLUE)
            else:
                _token(ax, x, y, token, RED if (r == 0 and j in MASK_SPAN) else GREY)


def _copy_panel(ax: Axes, tokens: list[str]) -> None:
    """Panel b: a masked span, the neighbours that overlap it and the bases they reveal."""
    y_tok, y_base = 1.9, 1.18
    first, last = MASK_SPAN[0], MASK_SPAN[-1]
    neighbours = (first - 1, last + 1)
    _label(ax, y_tok, "input tokens")
    _label(ax, y_base, "bases")
    for j, token in enumerate(tokens):
        x = _TOKEN_X0 + j * _TOKEN_W
        color = GREEN if j in neighbours else GREY
        _token(
            ax, x, y_tok, "[MASK]" if j in MASK_SPAN else token, BLUE if j in MASK_SPAN else color
        )
    visible = [j for j in range(len(tokens)) if j not in MASK_SPAN]
    hidden = set(range(first, last + 3)) - {p for j in visible for p in range(j, j + 3)}
    for p, base in enumerate(MASK_SEQUENCE):
        x = _TOKEN_X0 + (p - 1) * _TOKEN_W
        inside = first <= p < last + 3
        color = (RED if p in hidden else GREEN) if inside else GREY
        _token(ax, x, y_base, "?" if p in hidden else base, color)
    for j in neighbours:  # a bracket from each visible neighbour to the three bases it spells
        left, right = _TOKEN_X0 + (j - 1) * _TOKEN_W + 0.05, _TOKEN_X0 + (j + 2) * _TOKEN_W - 0.05
        centre = _TOKEN_X0 + (j + 0.5) * _TOKEN_W
        ax.plot([left, left, right, right], [1.38, 1.48, 1.48, 1.38], color=GREEN, lw=1.2)
        ax.plot([centre, centre], [1.48, y_tok - 0.13], color=GREEN, lw=1.2)
    shown = len(MASK_SPAN) + 2 - len(hidden)
    notes = (
        f"•  The visible tokens that overlap the span spell {shown} of its {len(MASK_SPAN) + 2} "
        "bases; each [MASK] 3-mer misses one base:",
        "    copying what they show gets a [MASK] token right 1 time in 4 (chance: 1 in 64).",
        "•  Kept tokens are copied as seen (right); random ones too (almost always wrong).",
        "•  One masked token alone would be spelled out completely: hence spans of k tokens.",
    )
    for i, line in enumerate(notes):
        ax.text(0.3, 0.82 - 0.22 * i, line, fontsize=SMALL, va="center")


def draw_masking_copy_baseline() -> Figure:
    """The 80/10/10 corruption of a span of k = 3 tokens and the copy baseline it leaves."""
    fig, ax = _canvas(4.95)
    k = 3
    tokens = [MASK_SEQUENCE[i : i + k] for i in range(len(MASK_SEQUENCE) - k + 1)]
    _header(ax, 4.75, "a  Corruption: 15 % of the tokens chosen, in spans of k = 3; each span")
    _corruption_rows(ax, tokens)
    ax.text(
        _TOKEN_X0,
        2.72,
        "The loss scores every chosen token, in all three cases.",
        fontsize=SMALL,
        va="center",
    )
    _header(ax, 2.38, "b  The copy baseline: what the visible neighbours give away")
    _copy_panel(ax, tokens)
    return fig


# --------------------------------------------------------------------------- ISM and multiplexer

#: Beluga's one-hot order, and the toy window drawn (L = 10 positions).
BELUGA_BASES, ISM_WINDOW = "AGCT", "ACGTTGCAAG"
_CELL = 0.12


def _one_hot(ax: Axes, x: float, y: float, mutated: int | None = None, cell=_CELL) -> None:
    """A ``4 x L`` one-hot grid of :data:`ISM_WINDOW` with lower left ``(x, y)``.

    ``mutated``: the column whose base is changed (to the next base), outlined in red.
    """
    for p, base in enumerate(ISM_WINDOW):
        row = BELUGA_BASES.index(base)
        if p == mutated:
            row = (row + 1) % 4
        for b in range(4):
            filled = b == row
            fc = (RED if p == mutated else BLUE) if filled else "white"
            ax.add_patch(
                Rectangle(
                    (x + p * cell, y + (3 - b) * cell), cell, cell, fc=fc, ec="#999999", lw=0.4
                )
            )
    if mutated is not None:
        ax.add_patch(Rectangle((x + mutated * cell, y), cell, 4 * cell, fc="none", ec=RED, lw=1.4))


def _cards(ax: Axes, x: float, y: float, size: tuple[float, float], n: int = 2) -> None:
    """``n`` blank cards of ``size`` behind a grid at ``(x, y)``: a stack seen from the front."""
    for depth in range(n, 0, -1):
        xy = (x + 0.1 * depth, y + 0.1 * depth)
        ax.add_patch(Rectangle(xy, *size, fc="white", ec="#999999", lw=0.6))


def _effect_map(ax: Axes, x: float, y: float, cell: float = 0.11) -> None:
    """A stack of ``4 x L`` effect maps (one per feature, ``F``), zero at the reference bases.

    The front map's effects are illustrative (drawn at random with a fixed seed).
    """
    cmap = matplotlib.colormaps["RdBu_r"]
    effects = np.clip(np.random.default_rng(0).normal(0, 0.55, (4, len(ISM_WINDOW))), -1, 1)
    _cards(ax, x, y, (cell * len(ISM_WINDOW), 4 * cell))
    for p, base in enumerate(ISM_WINDOW):
        effects[BELUGA_BASES.index(base), p] = 0.0
        for b in range(4):
            xy = (x + p * cell, y + (3 - b) * cell)
            fc = cmap(0.5 + effects[b, p] / 2)
            ax.add_patch(Rectangle(xy, cell, cell, fc=fc, ec="#999999", lw=0.4))


def _ism_row(ax: Axes) -> None:
    """Panel a: the reference and its 3L variants through the teacher, 3L + 1 passes."""
    _header(ax, 4.2, "a  In-silico saturation mutagenesis (ISM): 3L + 1 teacher passes per window")
    _cards(ax, 0.3, 2.95, (_CELL * len(ISM_WINDOW), 4 * _CELL))
    _one_hot(ax, 0.3, 2.95, mutated=2)
    ax.text(
        1.05,
        2.68,
        "the reference and its 3L variants\n(each 4 × L one-hot)",
        fontsize=SMALL,
        ha="center",
        va="center",
    )
    _arrow(ax, (1.85, 3.3), (2.25, 3.3))
    _box(ax, (2.3, 3.0), (1.3, 0.6), "teacher\n(Beluga)", GREY)
    ax.text(
        2.95,
        2.75,
        "3L + 1 forward passes",
        fontsize=FONT,
        ha="center",
        va="center",
        fontweight="bold",
        color=RED,
    )
    _arrow(ax, (3.65, 3.3), (3.95, 3.3))
    _box(
        ax, (4.0, 3.0), (1.2, 0.6), "log-odds change,\nvariant vs\nreference", GREY, fontsize=SMALL
    )
    _arrow(ax, (5.25, 3.3), (5.6, 3.3))
    _effect_map(ax, 5.65, 2.95)
    ax.text(6.3, 2.68, "stacked: F × 4 × L", fontsize=SMALL, ha="center", va="center")


def _multiplexer_row(ax: Axes) -> None:
    """Panel b: one window through the multiplexer, one pass, the same map."""
    _header(ax, 2.2, "b  The multiplexer: every effect of the window in one pass")
    _one_hot(ax, 0.48, 1.05)
    for b, base in enumerate(BELUGA_BASES):
        ax.text(
            0.4, 1.05 + (3.5 - b) * _CELL, base, fontsize=6, ha="right", va="center", family=MONO
        )
    ax.text(
        1.05,
        0.75,
        "one window, 4 × L one-hot\n(+ a position channel)",
        fontsize=SMALL,
        ha="center",
        va="center",
    )
    _arrow(ax, (1.85, 1.3), (2.25, 1.3))
    _box(ax, (2.3, 1.0), (1.3, 0.6), "multiplexer", BLUE)
    ax.text(
        2.95,
        0.75,
        "1 forward pass",
        fontsize=FONT,
        ha="center",
        va="center",
        fontweight="bold",
        color=BLUE,
    )
    _arrow(ax, (3.65, 1.3), (5.6, 1.3))
    _effect_map(ax, 5.65, 0.95)
    ax.text(
        6.3,
        0.62,
        "F × 4 × L effects\n(0 at the reference base)",
        fontsize=SMALL,
        ha="center",
        va="center",
    )


def draw_ism_vs_multiplexer() -> Figure:
    """ISM's 3L + 1 teacher passes against the multiplexer's one pass to the same ``[F, 4, L]``."""
    fig, ax = _canvas(4.4)
    _ism_row(ax)
    _multiplexer_row(ax)
    ax.text(
        0.3,
        0.18,
        "Beluga: L = 2,000 and F = 2,002, so ISM costs 6,001 teacher passes per window; "
        "the multiplexer, one.",
        fontsize=SMALL,
        va="center",
    )
    return fig


# --------------------------------------------------------------------------- k-mer tokens

#: The k-mer example: a Pumilio response element in DNA letters (as in chapter 3).
KMER_SEQUENCE, KMER_K = "TGTACATA", 3
_BASE_X0, _BASE_W = 0.95, 0.5


def kmer_table(sequence: str = KMER_SEQUENCE, k: int = KMER_K) -> list[tuple[str, int, int]]:
    """``(k-mer, rank in ACGT order, DNABERT id)`` of every overlapping k-mer of ``sequence``.

    The ranks come from :func:`course_lib.encoding.kmer_ids` (chapter 0), the ids from
    DNABERT's vocabulary built by :func:`course_lib.tokenization.build_vocabulary` (chapter 3).
    """
    vocab = build_vocabulary(k)
    ranks = kmer_ids(sequence, k)[0]
    ids = vocab.kmer_token_ids(sequence)[0]
    words = [sequence[i : i + k] for i in range(len(sequence) - k + 1)]
    return [(w, int(r), int(i)) for w, r, i in zip(words, ranks, ids, strict=True)]


def draw_kmer_tokens() -> Figure:
    """A sequence cut into overlapping 3-mers, with their ranks and DNABERT ids."""
    fig, ax = _canvas(3.35)
    rows = kmer_table()
    n = len(KMER_SEQUENCE)
    _header(
        ax,
        3.17,
        f"L = {n} bases  →  L − k + 1 = {len(rows)} overlapping {KMER_K}-mers "
        f"(k = {KMER_K}, stride 1)",
    )
    _label(ax, 2.7, "bases")
    for p, base in enumerate(KMER_SEQUENCE):
        _box(
            ax,
            (_BASE_X0 + p * _BASE_W + 0.03, 2.55),
            (_BASE_W - 0.06, 0.3),
            base,
            GREY,
            family=MONO,
        )
    _label(ax, 1.6, "3-mers")
    for col, head in ((5.55, "3-mer"), (6.1, "ACGT rank\n(ch. 0)"), (6.62, "DNABERT\nid (ch. 3)")):
        ax.text(col, 2.35, head, fontsize=6.5, ha="center", va="center", linespacing=1.1)
    for j, (word, rank, token_id) in enumerate(rows):
        y = 2.05 - 0.27 * j
        x = _BASE_X0 + j * _BASE_W + 0.03
        _box(ax, (x, y - 0.1), (KMER_K * _BASE_W - 0.06, 0.2), "", BLUE)
        for i, base in enumerate(word):
            ax.text(
                x + (i + 0.5) * _BASE_W - 0.03,
                y,
                base,
                fontsize=7,
                ha="center",
                va="center",
                family=MONO,
            )
        for col, text in ((5.55, word), (6.1, str(rank)), (6.62, str(token_id))):
            ax.text(col, y, text, fontsize=7, ha="center", va="center", family=MONO)
    vocab = build_vocabulary(KMER_K)
    cls, sep = vocab.role_id("cls"), vocab.role_id("sep")
    words = " ".join(w for w, _, _ in rows)
    ids = " ".join(str(i) for _, _, i in rows)
    ax.text(
        0.3,
        0.3,
        f"DNABERT's input:  [CLS] {words} [SEP]   →   ids {cls} {ids} {sep}",
        fontsize=SMALL,
        va="center",
        family=MONO,
    )
    return fig


# --------------------------------------------------------------------------- registry and CLI

FIGURES: dict[str, Schematic] = {
    "polysome_mrl": Schematic(
        draw_polysome_mrl,
        "Polysome profiling: a reporter library's mRNAs are separated on a sucrose gradient into "
        "fractions carrying 0 (free mRNA), 1, 2, 3, 4 and 5 ribosomes; every fraction is "
        "sequenced; one UTR's reads per fraction become shares of its reads, and its mean "
        "ribosome load is the sum over fractions of ribosome count times share, 2.21 here.",
        "From polysome fractions to mean ribosome load (MRL): reads per fraction, then their "
        "read-weighted mean ribosome count (illustrative counts).",
    ),
    "cv_folds": Schematic(
        draw_cv_folds,
        "Cross-validation with five folds: each row is a fresh model trained on four folds, "
        "split into fit rows and a small validation share that chooses the epoch and "
        "hyper-parameters; the fifth fold is its test fold, scored once; an external test set "
        "outside every fold, never trained on or used for selection, is scored by every model.",
        "K-fold cross-validation as the course runs it: a fresh model per fold, selection on an "
        "inner validation split, an external test set outside every fold.",
    ),
    "masking_copy_baseline": Schematic(
        draw_masking_copy_baseline,
        "Masked modelling on overlapping 3-mers: a chosen span of three tokens becomes MASK "
        "tokens 80 % of the time, random 3-mers 10 % and stays unchanged 10 %; below, the "
        "visible tokens that overlap a masked span spell four of its five bases, leaving one "
        "base hidden, which is what the copy baseline exploits.",
        "The 80/10/10 corruption of a span of k tokens, and what copying the visible "
        "neighbours recovers: the copy baseline.",
    ),
    "ism_vs_multiplexer": Schematic(
        draw_ism_vs_multiplexer,
        "Top: in-silico saturation mutagenesis runs the teacher on the reference window and on "
        "each of its 3L single-base variants, 3L plus 1 forward passes, and stacks the log-odds "
        "changes into a features by 4 by L map. Bottom: the multiplexer maps the one-hot "
        "window, 4 by L, to the same features by 4 by L map in one forward pass.",
        "ISM costs 3L + 1 teacher passes per window; the multiplexer predicts the same "
        "F × 4 × L effects in one pass of its own network.",
    ),
    "kmer_tokens": Schematic(
        draw_kmer_tokens,
        "The sequence TGTACATA cut into six overlapping 3-mers, TGT, GTA, TAC, ACA, CAT and ATA, "
        "each shifted by one base, with each 3-mer's rank in ACGT order and its id in DNABERT's "
        "vocabulary, where the CLS and SEP tokens frame them.",
        "Overlapping k-mer tokens (k = 3): L bases give L − k + 1 tokens, each with an integer id.",
    ),
}


def save_svg(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as a deterministic SVG: text as paths, fixed ids, no date."""
    with matplotlib.rc_context({"svg.hashsalt": HASH_SALT, "svg.fonttype": "path"}):
        fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None}, facecolor="white")
    return path


def write_figures(folder: Path, names: Sequence[str] | None = None) -> list[Path]:
    """Draw the figures ``names`` (default: all of :data:`FIGURES`) into ``folder/<name>.svg``."""
    unknown = sorted(set(names or ()) - set(FIGURES))
    if unknown:
        raise KeyError(f"no schematic named {unknown}; known: {sorted(FIGURES)}")
    folder.mkdir(parents=True, exist_ok=True)
    return [save_svg(FIGURES[n].draw(), folder / f"{n}.svg") for n in names or FIGURES]


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m course_book.schematics [--out book/figures] [name ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m course_book.schematics", description=__doc__.split("\n")[0]
    )
    parser.add_argument("names", nargs="*", help=f"figures to draw (default all: {list(FIGURES)})")
    parser.add_argument("--out", default=str(FIGURES_DIR), help="output folder (book/figures)")
    args = parser.parse_args(argv)
    for path in write_figures(Path(args.out), args.names):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
