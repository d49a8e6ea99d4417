"""Chapter 5's real-corpus, copy-baseline and long-run helpers (issues 13, 15, 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from toy_utrs import toy_varying_table

from course_lib.chapters.ch5_config import Ch5Config
from course_lib.chapters.ch5_utr_lm import mlm_against_copy
from course_lib.models.utr_lm import encode_utrs, utr_lm_config, utr_vocabulary
from course_lib.pretraining import pretraining_cpu_seconds
from course_lib.profiles import LongCPURunError, check_long_run
from course_lib.utr_corpus import real_corpus


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
    full = Ch5Config.resolve("full")
    seconds = pretraining_cpu_seconds(51_086, full["pretrain_epochs"], 128, 6)
    assert seconds > 3600
    with pytest.raises(LongCPURunError):
        check_long_run(full, "cpu", seconds, "pretraining")
    laptop = Ch5Config.resolve("laptop")
    minutes = pretraining_cpu_seconds(
        laptop["corpus_size"],
        laptop["pretrain_epochs"],
        laptop["hidden_size"],
        laptop["num_layers"],
    )
    assert minutes == pytest.approx(2 * laptop["pretrain_epochs"] * 50)


def test_tiny_holds_sizes_only():
    assert all(isinstance(v, int) for v in Ch5Config.TINY.values())


def test_real_corpus_is_disjoint_from_the_test_sets(shared_data):
    from course_lib.datasets.utr_testsets import load_test_sets
    from course_lib.utr_corpus import held_out_utrs

    corpus = real_corpus(verbose=False)
    if corpus is None:
        pytest.skip("the real UTR libraries are not in the data cache")
    held = held_out_utrs(load_test_sets(shared_data / "utr_testsets"))
    assert len(corpus) == 51_086
    assert not set(corpus.sequences) & (set(held["Random7600"]) | set(held["Human7600"]))


def _toy_protocol(per_length: int = 12, seed: int = 0):
    """The real protocol on a miniature varying-length table, MRL rising with G content."""
    from course_lib.utr_protocol import real_utr_protocol

    table = toy_varying_table(per_length, lambda utr, rng: 3 + utr.count("G") / len(utr), seed)
    return real_utr_protocol(table, n_folds=3)


def test_fold_rows_are_reproducible_subsets_and_the_scaler_sees_training_rows_only():
    from course_lib.chapters.ch5_mrl_finetuning import fold_loaders, fold_training_rows

    protocol = _toy_protocol()
    split = protocol.folds[1]
    rows = fold_training_rows(split, 100, seed=3)
    assert len(rows) == 100 and set(rows) <= set(split.fit)
    assert np.array_equal(rows, fold_training_rows(split, 100, seed=3))
    assert np.array_equal(fold_training_rows(split, None), split.fit)
    parts, loaders = fold_loaders(protocol, split, 100, batch_size=16, seed=3)
    assert list(loaders) == ["train", "val", "test_random", "test_human"]
    assert np.isclose(parts.scaler.mean_[0], protocol.random["rl"].iloc[rows].mean())
    assert len(loaders["test_human"].dataset) == len(protocol.human)
    assert not set(parts.fit["utr"]) & (set(parts.test["utr"]) | set(parts.val["utr"]))


def test_ablation_scores_every_variant_on_every_fold_beside_a_published_model():
    from course_lib.chapters.ch5_mrl_finetuning import published_fold_scores, real_fold_ablation

    protocol = _toy_protocol()
    config = utr_lm_config(utr_vocabulary(), hidden_size=8, num_layers=1, num_heads=2)
    settings = {
        "real_folds": 2,
        "real_n_fit": 120,
        "batch_size": 32,
        "head": "resnet",
        "pooling": "mean",
        "head_channels": 4,
        "freeze_backbone": False,
        "loss": "huber",
        "finetune_epochs": 1,
        "finetune_lr": 1e-3,
        "patience": None,
    }
    ablation = real_fold_ablation({"(a)": config, "(a) again": config}, protocol, settings)
    assert len(ablation.per_fold) == 4 and set(ablation.per_fold["fold"]) == {0, 1}
    assert (ablation.per_fold["n fit"] == 120).all()
    assert ablation.human["(a)"].shape == (len(protocol.human),)
    assert [len(runs) for runs in ablation.fits.values()] == [2, 2]
    # a perfect oracle gets R2 1 on both test sets; same columns as the fine-tuned rows
    truth = dict(
        zip(
            pd.concat([protocol.random, protocol.human])["utr"],
            pd.concat([protocol.random, protocol.human])["rl"],
            strict=True,
        )
    )
    oracle = published_fold_scores(
        lambda utrs: np.array([truth[u] for u in utrs]), protocol, 2, "o"
    )
    assert list(oracle.columns) == list(ablation.per_fold.columns)
    assert np.allclose(oracle[["Random7600 fold R2", "Human7600 R2"]], 1.0)


def test_pretraining_losses_draw_each_variant_in_its_objectives_panels():
    from types import SimpleNamespace

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.chapters.ch5_utr_lm import LOSS_TITLES, plot_pretraining_losses

    columns = {f"{p}_{o}": [1.0, 0.5] for p in ("train", "val") for o in LOSS_TITLES}
    history = pd.DataFrame({"epoch": [1, 2], **columns})
    runs = {"(b)": SimpleNamespace(history=history), "(c)": SimpleNamespace(history=history)}
    variants = {"(b)": ("mlm",), "(c)": ("mlm", "mfe", "structure")}
    fig, axes = plt.subplots(1, 3)
    plot_pretraining_losses(axes, runs, variants, "synthetic data")
    assert [len(ax.lines) for ax in axes] == [4, 2, 2]
    assert axes[1].get_title() == "Pretraining: MFE (MSE, standardised)\nsynthetic data"
    assert [line.get_linestyle() for line in axes[0].lines] == ["--", "-", "--", "-"]
    plt.close(fig)
