"""Chapter 1's backbones: RNA-FM through the weights registry, the negative control, the
embedding folds of a chosen layer, the comparison pairs, and the findings sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from toy_utrs import gc_label, toy_varying_table

from course_lib.chapters import ch1_backbones as cb
from course_lib.chapters.ch1_probe import LayerBackbone
from course_lib.chapters.ch1_utr_rnafm import learning_curve_text, model_name

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


def test_the_stand_in_is_its_own_negative_control(stand_in):
    backbone, _ = stand_in
    settings = {"small_backbone": SMALL, "tiny": True}
    assert cb.control_backbone(backbone, settings, "cpu") is backbone


def test_embedding_folds_cut_one_cache_of_the_chosen_layer_into_the_cv_folds(
    stand_in, tmp_data_dir
):
    from course_lib.utr_protocol import real_utr_protocol

    torch.set_num_threads(1)
    protocol = real_utr_protocol(toy_varying_table(2, gc_label), n_folds=2, smallest=10)
    args = (protocol, {}, {}, None, 8)
    layer = LayerBackbone(stand_in[0], 0)
    caches, folds = cb.embedding_folds({"RNA-FM random": layer}, "cv", *args)
    ((name, cache),) = caches.items()
    assert name == "RNA-FM random: Random7600 + Human7600"
    assert "layer0" in cache.path.name
    assert len(cache) == len(protocol.random) + len(protocol.human)
    assert [f.fold for f in folds["RNA-FM random"]] == [0, 1]
    fold = folds["RNA-FM random"][0]
    assert len(fold.caches["train"]) == len(fold.sequences["train"])
    assert len(fold.caches["Human7600"]) == len(protocol.human)
    last, _ = cb.embedding_folds({"x": LayerBackbone(stand_in[0], 1)}, "cv", *args)
    assert next(iter(last.values())).path != cache.path  # each layer has its own file


def test_the_probe_reads_validation_rows_that_no_fold_then_tests():
    from course_lib.utr_protocol import real_utr_protocol

    plain = real_utr_protocol(toy_varying_table(4, gc_label), n_folds=3, smallest=10)
    with pytest.raises(ValueError, match=r"the layer, chosen on every fold's validation rows"):
        cb.probe_inputs("cv", plain, {})
    protocol = cb.probe_protocol(plain)
    utrs, y, splits, dataset = cb.probe_inputs("cv", protocol, {})
    assert dataset == "utr_testsets/Random7600" and len(utrs) == len(y) == len(plain.random)
    chose = np.concatenate([val for _, val in splits])
    tested = np.concatenate([split.test for split in protocol.folds])
    assert chose.size and not np.isin(tested, chose).any()
    # only those rows left the tests: the rest of Random7600 is still tested once
    assert np.array_equal(np.sort(np.concatenate([tested, np.unique(chose)])), np.arange(len(y)))


def test_comparison_pairs_set_each_pretrained_head_against_its_random_twin():
    backbones = ["RNA-FM", "RNA-FM random", "UTR-LM"]
    pairs = cb.comparison_pairs(backbones, "UTR-LM", "cv", framepool=True)
    name = lambda h: model_name(h, "cv")  # noqa: E731
    assert pairs["embedding"] == [
        (name("emb-utrlm"), name("seq")),
        (name("seq+emb-utrlm"), name("seq")),
        (name("seq+emb-utrlm"), name("emb-utrlm")),
    ]
    assert (name("emb-rnafm"), name("emb-rnafm-random")) in pairs["control"]
    assert (name("seq+emb-utrlm"), name("seq+emb-rnafm-random")) in pairs["control"]
    assert len(pairs["control"]) == 4 and pairs["published"][0][1] == "Framepool combined"
    alone = cb.comparison_pairs(["RNA-FM random", "UTR-LM"], "RNA-FM random", "cv", False)
    assert "published" not in alone and len(alone["control"]) == 2
    assert alone["embedding"][0] == (name("emb-rnafm-random"), name("seq"))


def test_learning_curve_text_reads_the_smallest_and_largest_size():
    curve = pd.DataFrame(
        {"R2": [0.1, 0.3], "R2 ci low": [0.0, 0.2], "R2 ci high": [0.2, 0.4]},
        index=pd.Index([200, 5000], name="training UTRs"),
    )
    text = learning_curve_text(curve, 1520, 76_319)
    assert text.startswith("With 200 training UTRs the `seq` head reaches R² 0.100")
    assert "fold 0's 1,520 real test UTRs; with all 5,000" in text
    assert "76,319, 15 times more" in text


def test_findings_markdown_states_the_headline_framepool_probe_and_conclusions():
    from course_lib.chapters.ch1_config import Ch1Config
    from course_lib.chapters.ch1_report import findings_markdown

    index = pd.MultiIndex.from_product(
        [["CV seq", "Framepool combined"], ["Random7600", "Human7600"]]
    )
    scores = pd.DataFrame(
        {"R2": [0.5, 0.6, 0.8, 0.7], "R2 ci low": [0.4, 0.5, 0.7, 0.6], "folds": 2},
        index=index,
    ).assign(**{"R2 ci high": lambda t: t["R2"] + 0.1, "R2 fold sd": [0.02, 0.03, 0, 0]})
    paired = pd.DataFrame({"conclusion": ["a minus b on S: nothing can be concluded."]})
    settings = Ch1Config.resolve("smoke")
    args = (scores, paired, "CV seq", ("UTR-LM", 2), settings, "real")
    lines = findings_markdown(*args, True).splitlines()
    assert lines[0].startswith("- **CV seq** (real data, mean over 2 single fold model(s)")
    assert "0.500 [0.400, 0.600] on Random7600" in lines[0]
    assert lines[0].endswith("spread over folds (sd) 0.020 and 0.030.")
    assert lines[1].startswith("- **Framepool combined**") and "0.800 [0.700, 0.900]" in lines[1]
    assert lines[2] == "- The layer probe chose **UTR-LM, layer 2** on validation rows."
    assert lines[3] == "- a minus b on S: nothing can be concluded."
    assert lines[4] == "- Profile smoke."
    assert len(findings_markdown(*args, False).splitlines()) == 4


def test_headline_pairs_like_with_like():
    from course_lib.chapters.ch1_report import ONE_HOT_ANCHOR, RNAFM_ANCHOR, headline_pair

    model, metric, anchor = headline_pair({"RNA-FM random": 0, "UTR-LM": 0}, "cv")
    assert model == model_name("seq", "cv") and metric == "Pearson r^2"
    assert anchor is ONE_HOT_ANCHOR and anchor.metric == metric and "Optimus" in anchor.name
    model, metric, anchor = headline_pair({"RNA-FM": 0, "RNA-FM random": 0}, "cv")
    assert model == model_name("emb-rnafm", "cv") and anchor is RNAFM_ANCHOR
    assert anchor.metric == metric == "R2" and "RNA-FM" in anchor.name


def test_utrlm_backbone_reads_the_shared_recipe_folder(tmp_path, monkeypatch):
    from course_lib import utr_lm_backbone as ub
    from course_lib.models.utr_lm import (
        UTRLMForPretraining,
        save_checkpoint,
        utr_lm_config,
        utr_vocabulary,
    )

    vocab = utr_vocabulary()
    config = utr_lm_config(vocab, hidden_size=16, num_layers=1, num_heads=2, dropout=0.0)
    folder = save_checkpoint(UTRLMForPretraining(config), tmp_path / "c", vocab, recipe={})
    asked = []
    monkeypatch.setattr(ub, "backbone_checkpoint", lambda *a, **k: asked.append(a) or folder)
    utrlm = cb.utrlm_backbone("laptop", "cpu", seed=3)
    assert asked == [(ub.BackboneConfig.resolve("laptop"), "cpu", 3)]
    assert utrlm.checkpoint == folder and utrlm.pretrained


def test_load_backbones_always_sets_a_random_control_beside_the_pretrained(
    checkpoints, monkeypatch
):
    from types import SimpleNamespace

    monkeypatch.setattr(cb, "utrlm_backbone", lambda *a, **k: "utr-lm")
    settings = {"rnafm_checkpoint": None, "tiny": True, "small_backbone": SMALL, "profile": "smoke"}
    backbones, provenance = cb.load_backbones(settings, "cpu")
    assert list(backbones) == ["RNA-FM random", "UTR-LM"] and provenance == "stand-in"
    assert not backbones["RNA-FM random"].pretrained
    real = SimpleNamespace(pretrained=True)
    monkeypatch.setattr(cb, "load_rnafm_backbone", lambda *a: (real, "real"))
    backbones, provenance = cb.load_backbones(settings, "cpu")
    assert list(backbones) == ["RNA-FM", "RNA-FM random", "UTR-LM"] and provenance == "real"
    control = backbones["RNA-FM random"]
    assert control is not real and not control.pretrained  # random weights, built apart
    assert control.embed_dim == SMALL["embed_dim"]  # a tiny run: the small size
