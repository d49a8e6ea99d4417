"""course_book.schematics: the book's schematic figures, their files, alt texts and placement."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
from matplotlib.text import Text

from course_book import schematics
from course_book.schematics import FIGURES, FIGURES_DIR, write_figures
from course_lib.manifest import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
NAMES = list(FIGURES)
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def _markdown(notebook: Path) -> list[str]:
    nb = nbformat.read(notebook, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def test_there_are_at_least_five_figures_and_no_stray_file() -> None:
    assert len(FIGURES) >= 5
    files = sorted(p.stem for p in (ROOT / FIGURES_DIR).glob("*.svg"))
    assert files == sorted(FIGURES), "book/figures holds an SVG no schematic draws (or lacks one)"


@pytest.mark.parametrize("name", NAMES)
def test_regenerating_a_figure_gives_the_committed_bytes(name: str, tmp_path: Path) -> None:
    (path,) = write_figures(tmp_path, [name])
    committed = ROOT / FIGURES_DIR / f"{name}.svg"
    assert committed.exists(), f"{committed} missing: run `make figures`"
    assert path.read_bytes() == committed.read_bytes(), f"{name}: stale, run `make figures`"
    assert b"<dc:date>" not in committed.read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_has_alt_text_and_a_one_line_caption(name: str) -> None:
    figure = FIGURES[name]
    assert len(figure.alt.split()) >= 15, f"{name}: the alt text must describe the figure"
    assert not set("[]\n*_`") & set(figure.alt), f"{name}: alt text breaks markdown"
    assert figure.caption.strip() and "\n" not in figure.caption
    assert not set("*_`") & set(figure.caption)


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_is_placed_in_a_chapter_with_its_alt_text(name: str) -> None:
    figure = FIGURES[name]
    image = f"![{figure.alt}](../book/figures/{name}.svg)"
    cells = [
        text for chapter in CHAPTERS for text in _markdown(ROOT / chapter.notebook) if image in text
    ]
    assert cells, f"no notebook markdown cell shows {name} with its alt text"
    assert any(f"*{figure.caption}*" in text for text in cells), f"{name}: caption missing"


@pytest.mark.parametrize("name", NAMES)
def test_no_text_leaves_the_figure(name: str) -> None:
    fig = FIGURES[name].draw()
    fig.draw_without_rendering()
    width, height = fig.bbox.width, fig.bbox.height
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert len(texts) >= 5
    outside = []
    for text in texts:
        box = text.get_window_extent()
        if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5:
            outside.append(f"{text.get_text()!r}: {box.bounds}")
    assert not outside, f"{name}: text beyond the figure ({width}x{height} px):\n" + "\n".join(
        outside
    )
    assert fig.get_figwidth() == schematics.WIDTH_IN


def test_a_clipped_text_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a label pushed past the right edge is reported."""

    def drawn_too_far():
        fig = schematics.draw_kmer_tokens()
        fig.axes[0].text(schematics.WIDTH_IN - 0.1, 1.0, "clipped label")
        return fig

    monkeypatch.setitem(FIGURES, "kmer_tokens", FIGURES["kmer_tokens"]._replace(draw=drawn_too_far))
    with pytest.raises(AssertionError, match="clipped label"):
        test_no_text_leaves_the_figure("kmer_tokens")


def test_staged_site_finds_every_figure_from_the_staged_notebooks(tmp_path: Path) -> None:
    """Image paths resolve from where :func:`course_book.site.stage` puts the notebooks."""
    from course_book.site import stage

    executed = tmp_path / "executed"
    (executed / "notebooks").mkdir(parents=True)
    for chapter in CHAPTERS:
        shutil.copy(ROOT / chapter.notebook, executed / "notebooks")
    (tmp_path / "results").mkdir()
    staging = stage(ROOT, executed, tmp_path / "site_src", tmp_path / "results")
    found = set()
    for notebook in sorted((staging / "notebooks").glob("*.ipynb")):
        for text in _markdown(notebook):
            for _, target in IMAGE.findall(text):
                if "://" in target:
                    continue
                assert (notebook.parent / target).is_file(), f"{notebook.name}: {target}"
                found.add(Path(target).stem)
    assert set(FIGURES) <= found


def test_the_mrl_is_the_read_weighted_mean_ribosome_count() -> None:
    assert schematics.mean_ribosome_load([0, 10, 0]) == 1.0
    assert schematics.mean_ribosome_load([10, 0, 0, 10]) == 1.5
    reads = np.array(schematics.POLYSOME_READS)
    shares = reads / reads.sum()
    assert schematics.mean_ribosome_load(reads) == pytest.approx(float(np.arange(6) @ shares))


def test_kmer_table_matches_the_course_tokenizer() -> None:
    from course_lib.tokenization import build_vocabulary

    rows = schematics.kmer_table()
    vocab = build_vocabulary(3)
    encoded = vocab.encode(schematics.KMER_SEQUENCE).input_ids[0]
    assert [r[0] for r in rows] == vocab.decode(encoded)[1:-1]
    assert [r[2] for r in rows] == encoded[1:-1].tolist()
    assert [r[1] for r in rows] == [
        int(w.translate(str.maketrans("ACGT", "0123")), 4) for w, *_ in rows
    ]


@pytest.mark.parametrize(("span", "accuracy"), [(schematics.MASK_SPAN, 0.25), ((5,), 1.0)])
def test_the_masking_figure_states_what_the_copy_baseline_computes(span, accuracy) -> None:
    """A masked span of k = 3 tokens: 1 in 4 by copying; one masked token: spelled out."""
    from course_lib.baselines import kmer_copy_baseline
    from course_lib.tokenization import IGNORE_INDEX, build_vocabulary

    vocab = build_vocabulary(3)
    ids = vocab.encode(schematics.MASK_SEQUENCE).input_ids
    positions = [j + 1 for j in span]  # after [CLS]
    corrupted, labels = ids.copy(), np.full_like(ids, IGNORE_INDEX)
    corrupted[0, positions] = vocab.mask_id
    labels[0, positions] = ids[0, positions]
    result = kmer_copy_baseline(corrupted, labels, vocab)
    assert result["copy accuracy at [MASK]"] == pytest.approx(accuracy)


def test_the_multiplexer_maps_a_one_hot_window_to_features_by_4_by_l() -> None:
    import torch

    from course_lib.models.multiplexer import BelugaMultiplexer

    model = BelugaMultiplexer(
        sequence_length=32, n_features=3, channels=(4, 4), dilations=(2, 2, 2)
    )
    with torch.no_grad():
        out = model.eval()(torch.zeros(2, 4, 32))
    assert out.shape == (2, 3, 4, 32)
