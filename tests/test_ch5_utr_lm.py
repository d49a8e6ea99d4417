"""Chapter 5's real-corpus, copy-baseline and long-run helpers (issues 13, 15, 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from course_lib.chapters.ch5_utr_lm import (
    SETTINGS,
    mlm_against_copy,
    pretraining_cpu_seconds,
    real_corpus,
)
from course_lib.models.utr_lm import encode_utrs, utr_vocabulary
from course_lib.profiles import LongCPURunError, check_long_run


def _ids(n: int, seed: int, gc: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    seqs = ["".join(rng.choice(list("ACGT"), 50, p=p)) for _ in range(n)]
    return encode_utrs(seqs, utr_vocabulary(), 52).input_ids


def test_copy_baseline_beats_ln4_and_matches_its_simulation():
    history = pd.DataFrame({"val_mlm": [1.5, 1.2], "val_mlm_accuracy": [0.3, 0.4]})
    vocab = utr_vocabulary()
    out = mlm_against_copy(history, 2, _ids(400, 0, 0.7), _ids(400, 1, 0.7), vocab, repeats=4)
    assert out["model MLM loss"] == 1.2 and out["model MLM accuracy"] == 0.4
    assert out["copy loss (closed form)"] < out["uniform loss ln 4"] - 0.03
    assert out["copy loss (simulated)"] == pytest.approx(out["copy loss (closed form)"], abs=0.02)
    assert out["copy accuracy (simulated)"] == pytest.approx(
        out["copy accuracy (closed form)"], abs=0.02
    )


def test_uniform_copy_baseline_is_the_known_floor():
    history = pd.DataFrame({"val_mlm": [1.3], "val_mlm_accuracy": [0.3]})
    out = mlm_against_copy(history, 1, _ids(300, 2), _ids(300, 3), utr_vocabulary())
    assert out["copy loss (closed form)"] == pytest.approx(1.324, abs=0.01)
    assert out["copy accuracy (closed form)"] == pytest.approx(0.325, abs=0.01)


def test_full_pretraining_on_a_cpu_stops_before_it_starts():
    full = {**SETTINGS["full"], "profile": "full", "tiny": False}
    seconds = pretraining_cpu_seconds(51_086, full["pretrain_epochs"], 128, 6)
    assert seconds > 3600
    with pytest.raises(LongCPURunError):
        check_long_run(full, "cpu", seconds, "pretraining")
    laptop = SETTINGS["laptop"]
    minutes = pretraining_cpu_seconds(
        laptop["corpus_size"],
        laptop["pretrain_epochs"],
        laptop["hidden_size"],
        laptop["num_layers"],
    )
    assert minutes == pytest.approx(2 * laptop["pretrain_epochs"] * 50)


def test_settings_share_keys_and_tiny_only_shrinks():
    keys = set(SETTINGS["smoke"])
    assert all(set(SETTINGS[p]) == keys for p in ("laptop", "full"))
    assert set(SETTINGS["tiny"]) <= keys
    assert all(isinstance(v, int) for v in SETTINGS["tiny"].values())


def test_real_corpus_is_disjoint_from_the_test_sets(shared_data):
    from course_lib.utr_corpus import read_held_out

    corpus = real_corpus(verbose=False)
    if corpus is None:
        pytest.skip("the real UTR libraries are not in the data cache")
    held = read_held_out(shared_data / "utr_testsets/stride11133m_MPA_V_pred.csv", False)
    assert len(corpus) == 51_086
    assert not set(corpus.sequences) & (set(held["Random7600"]) | set(held["Human7600"]))
