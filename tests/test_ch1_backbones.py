"""Chapter 1's backbones: RNA-FM through the weights registry, the embedding folds, and the
sentences that read the twin comparisons and the learning curve."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from toy_utrs import gc_label, toy_varying_table

from course_lib.chapters import ch1_backbones as cb
from course_lib.chapters.ch1_utr_rnafm import (
    TWIN_COUNTS,
    learning_curve_text,
    model_name,
    twin_verdicts,
)

SMALL = {"layers": 1, "embed_dim": 16, "ffn_embed_dim": 32, "attention_heads": 2}


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    folder = tmp_path / "ckpt"
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(folder))
    return folder


def test_none_is_the_stand_in_even_with_the_file_in_place(checkpoints):
    checkpoints.mkdir()
    (checkpoints / "RNA-FM_pretrained.pth").write_bytes(b"")
    assert cb.locate_rnafm(None) == (None, "stand-in")


def test_default_finds_the_registered_file_in_the_checkpoints_folder(checkpoints):
    with pytest.raises(FileNotFoundError, match="RNA-FM_pretrained.pth.*rnafm_checkpoint"):
        cb.locate_rnafm("default")
    assert cb.locate_rnafm("default", tiny=True) == (None, "stand-in")
    checkpoints.mkdir(exist_ok=True)
    placed = checkpoints / "RNA-FM_pretrained.pth"
    placed.write_bytes(b"")
    assert cb.locate_rnafm("default") == (placed, "real")


def test_a_missing_path_is_refused_with_the_fix(checkpoints, tmp_path, capsys):
    missing = tmp_path / "nowhere.pth"
    with pytest.raises(FileNotFoundError, match="rnafm_checkpoint=.*does not exist"):
        cb.locate_rnafm(missing)
    assert cb.locate_rnafm(missing, tiny=True) == (None, "stand-in")
    assert "tiny run" in capsys.readouterr().out
    given = tmp_path / "given.pth"
    given.write_bytes(b"")
    assert cb.locate_rnafm(str(given)) == (given, "real")


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path_factory.mktemp("ckpt")))
        settings = {"rnafm_checkpoint": None, "tiny": False, "small_backbone": SMALL}
        return cb.load_rnafm_backbone(settings, "cpu")


def test_the_stand_in_backbone_is_labelled(stand_in):
    backbone, provenance = stand_in
    assert provenance == "stand-in" and not backbone.pretrained
    assert backbone.embed_dim == SMALL["embed_dim"]


def test_embedding_folds_cut_one_cache_into_the_cv_folds(stand_in, tmp_data_dir):
    from course_lib.utr_protocol import real_utr_protocol

    torch.set_num_threads(1)
    protocol = real_utr_protocol(toy_varying_table(2, gc_label), n_folds=2, smallest=10)
    args = (protocol, {}, {}, None, 8)
    caches, folds = cb.embedding_folds({"RNA-FM": stand_in[0]}, "cv", *args)
    ((name, cache),) = caches.items()
    assert name == "RNA-FM: Random7600 + Human7600"
    assert len(cache) == len(protocol.random) + len(protocol.human)
    assert [f.fold for f in folds["RNA-FM"]] == [0, 1]
    fold = folds["RNA-FM"][0]
    assert len(fold.caches["train"]) == len(fold.sequences["train"])
    assert len(fold.caches["Human7600"]) == len(protocol.human)


def _comparison(a: str, b: str, test_set: str, diff: float, overlap: bool) -> dict:
    verdict = "not beyond the intervals" if overlap else "a higher, intervals apart"
    return {
        "a": a,
        "b": b,
        "test set": test_set,
        "R2 a - b": diff,
        "intervals overlap": overlap,
        "verdict": verdict,
    }


def test_twin_verdicts_count_and_read_each_comparison():
    names = [model_name(h, "cv") for h in ("emb-utrlm", "emb-rnafm", "seq+emb-utrlm", "seq")]
    rows = [
        _comparison(names[0], names[1], "Random7600", 0.10, False),
        _comparison(names[0], names[1], "Human7600", -0.01, True),
        _comparison(names[2], names[3], "Random7600", 0.2, False),  # not a twin pair
    ]
    index = pd.MultiIndex.from_product([names, ["Random7600", "Human7600"]])
    results = pd.DataFrame({"R2": 0.5, "R2 ci low": 0.4, "R2 ci high": 0.6}, index=index)
    text, counts = twin_verdicts(pd.DataFrame(rows), results, "cv", ("UTR-LM", "RNA-FM"), "toy")
    assert counts == dict(zip(TWIN_COUNTS, (1, 0, 1), strict=True))
    assert text.startswith("**UTR-LM** against **RNA-FM** (toy)")
    assert "difference +0.100" in text and "seq+emb-utrlm" not in text
    assert text.endswith("did not change the heads consistently.")
    _, counts = twin_verdicts(pd.DataFrame(rows[:1]), results, "cv", ("U", "R"), "toy")
    assert counts[TWIN_COUNTS[0]] == 1


def test_learning_curve_text_reads_the_smallest_and_largest_size():
    curve = pd.DataFrame(
        {"R2": [0.1, 0.3], "R2 ci low": [0.0, 0.2], "R2 ci high": [0.2, 0.4]},
        index=pd.Index([200, 5000], name="training UTRs"),
    )
    text = learning_curve_text(curve, 1520, 76_319)
    assert text.startswith("With 200 training UTRs the `seq` head reaches $R^2$ 0.100")
    assert "fold 0's 1,520 real test UTRs; with all 5,000" in text
    assert "76,319, 15 times more" in text


def test_findings_markdown_states_the_best_head_framepool_and_every_comparison():
    from course_lib.chapters.ch1_config import Ch1Config
    from course_lib.chapters.ch1_report import findings_markdown

    index = pd.MultiIndex.from_product(
        [["CV seq", "Framepool combined"], ["Random7600", "Human7600"]]
    )
    results = pd.DataFrame(
        {"R2": [0.5, 0.6, 0.8, 0.7], "R2 ci low": [0.4, 0.5, 0.7, 0.6]}, index=index
    ).assign(**{"R2 ci high": lambda t: t["R2"] + 0.1})
    spread = pd.DataFrame({"R2 fold sd": [0.02, float("nan")]}, index=index[[0, 1]])
    verdicts = pd.DataFrame(
        [{"a": "CV seq", "b": "CV emb", "test set": "Human7600", "R2 a - b": 0.05, "verdict": "x"}]
    )
    settings = Ch1Config.resolve("smoke")
    text = findings_markdown(
        results, spread, verdicts, "CV seq", settings, "real", True, {"RNA-FM": "random"}
    )
    lines = text.splitlines()
    assert lines[0].startswith("- **CV seq**") and "(real data)" in lines[0]
    assert "0.500 [0.400, 0.600] on Random7600" in lines[0] and "varies by 0.020" in lines[0]
    assert lines[1].startswith("- **Framepool combined**") and "0.800 [0.700, 0.900]" in lines[1]
    assert lines[2] == "- CV seq minus CV emb on Human7600: +0.050, x."
    assert lines[3] == "- Embeddings: random; profile smoke."
    assert (
        len(
            findings_markdown(
                results, spread, verdicts, "CV seq", settings, "real", False, {}
            ).splitlines()
        )
        == 3
    )
