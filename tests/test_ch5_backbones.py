"""Chapter 5's backbones module: label checks, class shares and the pretraining arms."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from course_lib.chapters import ch5_backbones as cb
from course_lib.chapters.ch5_config import Ch5Config
from course_lib.structure import STRUCTURE_CLASSES, FoldedRNA

TINY = {
    "corpus_size": 40,
    "aux_corpus_size": 10,
    "val_fraction": 0.2,
    "hidden_size": 8,
    "num_layers": 1,
    "num_heads": 2,
    "pretrain_steps": 2,
    "pretrain_eval_every": 2,
    "batch_size": 8,
    "fold_processes": 1,
    "n_mfe_check": 30,
    "utrlm_check_max_length": 60,
}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_class_shares_count_every_position_once():
    fold = FoldedRNA(["GGGAAACCC", "AAAA"], ["(((...)))", "...."], np.array([-1.0, 0.0]))
    shares = cb.class_shares(fold)
    assert list(shares) == list(STRUCTURE_CLASSES[: len(shares)])
    assert sum(shares.values()) == pytest.approx(1.0, abs=2e-3)
    labels = np.concatenate([fold.labels(0), fold.labels(1)])
    assert shares[STRUCTURE_CLASSES[labels[0]]] == round(float(np.mean(labels == labels[0])), 3)


def test_label_checks_agree_with_the_stand_ins_and_name_their_provenance(tmp_data_dir):
    settings = Ch5Config.resolve("smoke", **TINY)
    from course_lib import registry

    loaded = registry.load("utr_mfe"), registry.load("utrlm_sample")
    checks = cb.check_labels(*loaded, settings, seed=0)
    assert checks.provenance == {"utr_mfe": "synthetic", "utrlm_sample": "synthetic"}
    assert checks.mfe.n == 30 and 0 < checks.utrlm.n
    assert checks.describe().count("\n") == 1 and "utrlm_sample (synthetic" in checks.describe()


def test_backbones_pretrain_each_arm_and_keep_the_chosen_weight(tmp_data_dir, monkeypatch):
    from course_lib import registry
    from course_lib.chapters.ch5_efficiency import curve_protocol
    from course_lib.models.utr_lm import utr_vocabulary
    from course_lib.utr_lm_backbone import pretraining_config, pretraining_corpus, pretraining_folds
    from course_lib.utr_protocol import real_utr_protocol

    settings = Ch5Config.resolve("smoke", **TINY, aux_weights=(0.25, 1.0))
    protocol = curve_protocol(
        real_utr_protocol(registry.load("utr_testsets").data.varying_length())
    )
    corpus = pretraining_corpus(protocol, settings, seed=0)
    folds = pretraining_folds(corpus, 1, show_progress=False)
    vocab = utr_vocabulary()
    config = pretraining_config(vocab, settings, folds["train"].mfe)
    asked = []

    def choose(arms, *args):  # the validation fine-tuning is tested in test_ch5_efficiency
        asked.append(sorted(arms))
        return 1.0, None

    monkeypatch.setattr(cb, "choose_by_validation", choose)
    arms = cb.pretrain_backbones(
        config, vocab, corpus, folds, protocol, settings, "cpu", 0, root=tmp_data_dir / "ckpt"
    )
    names = [cb.NAME_B, cb.NAME_CONTROL, cb.NAME_C]
    assert asked == [[0.25, 1.0]] and arms.chosen_weight == 1.0
    for store in (arms.backbones, arms.pretraining, arms.checkpoints, arms.variants):
        assert sorted(store) == sorted(names)
    assert arms.variants[cb.NAME_C] == ("mlm", "mfe", "structure")
    assert len(set(arms.checkpoints.values())) == 3  # one recipe folder per arm
    recipes = {n: json.loads((p / "recipe.json").read_text()) for n, p in arms.checkpoints.items()}
    assert recipes[cb.NAME_C]["weights"] == {"mlm": 1.0, "mfe": 1.0, "structure": 1.0}
    assert recipes[cb.NAME_CONTROL]["corpus kind"] == "random control"
    assert set(cb.best_steps(arms)) == set(names)
    control = arms.data[cb.NAME_CONTROL]["train"].input_ids
    assert not torch.equal(control, arms.data[cb.NAME_B]["train"].input_ids)
    # a second run reads every arm from its recipe folder: same weights, same history
    from course_lib import utr_lm_backbone as ub

    def no_training(*args, **kwargs):
        raise AssertionError("a backbone whose recipe folder exists was pretrained again")

    monkeypatch.setattr(ub, "pretrain", no_training)
    again = cb.pretrain_backbones(
        config, vocab, corpus, folds, protocol, settings, "cpu", 0, root=tmp_data_dir / "ckpt"
    )
    assert again.checkpoints == arms.checkpoints
    for name in names:
        first, second = arms.pretraining[name].history, again.pretraining[name].history
        assert first.to_dict("records") == second.to_dict("records")
        before, after = arms.backbones[name].state_dict(), again.backbones[name].state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
