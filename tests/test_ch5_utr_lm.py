"""Chapter 5's real-corpus, copy-baseline and long-run helpers (issues 13, 15, 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from toy_utrs import toy_varying_table

from course_lib.chapters.ch5_config import Ch5Config
from course_lib.chapters.ch5_utr_lm import mlm_against_copy
from course_lib.models.utr_lm import encode_utrs, utr_vocabulary
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
    from course_lib.utr_lm_backbone import pretraining_seconds

    full = Ch5Config.resolve("full")
    seconds = pretraining_seconds(full, n_backbones=3)
    assert seconds > 3600
    with pytest.raises(LongCPURunError):
        check_long_run(full, "cpu", seconds, "pretraining")
    laptop = Ch5Config.resolve("laptop")
    utrs = laptop["pretrain_steps"] * laptop["batch_size"]
    assert pretraining_seconds(laptop, 1) == pytest.approx(
        pretraining_cpu_seconds(utrs, 1, laptop["hidden_size"], laptop["num_layers"], 1)
    )
    assert pretraining_seconds(laptop, 3) == pytest.approx(3 * pretraining_seconds(laptop, 1))


def test_tiny_holds_sizes_only():
    for value in Ch5Config.TINY.values():
        items = value if isinstance(value, tuple) else (value,)
        assert all(isinstance(v, int) and not isinstance(v, bool) for v in items)


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


def test_pretraining_losses_draw_each_variant_in_its_objectives_panels():
    from types import SimpleNamespace

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_lib.chapters.ch5_utr_lm import LOSS_TITLES, plot_pretraining_losses

    columns = {f"{p}_{o}": [1.0, 0.5] for p in ("train", "val") for o in LOSS_TITLES}
    history = pd.DataFrame({"step": [50, 100], **columns})
    runs = {"(b)": SimpleNamespace(history=history), "(c)": SimpleNamespace(history=history)}
    variants = {"(b)": ("mlm",), "(c)": ("mlm", "mfe", "structure")}
    fig, axes = plt.subplots(1, 3)
    plot_pretraining_losses(axes, runs, variants, "synthetic data")
    assert [len(ax.lines) for ax in axes] == [4, 2, 2]
    assert axes[1].get_title() == "Pretraining: MFE (MSE, standardised)\nsynthetic data"
    assert [line.get_linestyle() for line in axes[0].lines] == ["--", "-", "--", "-"]
    assert list(axes[0].lines[0].get_xdata()) == [50, 100]
    plt.close(fig)


def test_pretraining_counts_steps_and_scores_masked_modelling_on_natural_rows_only():
    import torch

    from course_lib.models.utr_lm import UTRLMForPretraining, utr_lm_config
    from course_lib.pretraining import PretrainingData, pretrain, pretraining_losses

    seqs = ["".join(np.random.default_rng(i).choice(list("ACGT"), 30)) for i in range(40)]
    data = PretrainingData.from_sequences(seqs, utr_vocabulary())
    torch.manual_seed(0)
    config = utr_lm_config(utr_vocabulary(), hidden_size=8, num_layers=1, num_heads=2)
    model = UTRLMForPretraining(config)
    result = pretrain(
        model,
        utr_vocabulary(),
        data,
        data,
        objectives=("mlm",),
        steps=7,
        eval_every=3,
        batch_size=8,
        device="cpu",
        show_progress=False,
    )
    assert list(result.history["step"]) == [3, 6, 7] and list(result.history["epoch"]) == [1, 2, 3]
    # rows of a random library: masked and seen, never scored by masked modelling
    aux = PretrainingData.from_sequences(seqs, utr_vocabulary(), mlm_rows=np.zeros(40, bool))
    from course_lib.pretraining import _masked_batch

    batch = {k: torch.stack([aux[i][k] for i in range(8)]) for k in aux[0]}
    masked = _masked_batch(batch, utr_vocabulary(), True, 0.5, torch.Generator().manual_seed(0))
    assert (masked["mlm_labels"] == -100).all()
    assert (masked["input_ids"] != batch["input_ids"]).any()
    out = model(masked["input_ids"], masked["attention_mask"])
    assert pretraining_losses(out, masked, ("mlm",), config)["mlm"].item() == 0.0
    with pytest.raises(ValueError, match="mlm_rows"):
        PretrainingData.from_sequences(seqs, utr_vocabulary(), mlm_rows=np.ones(3, bool))


def test_validation_losses_average_over_scored_items_not_rows():
    """Batches where masked modelling scores nothing (random-library rows) do not dilute it."""
    import torch

    from course_lib.models.utr_lm import UTRLMForPretraining, utr_lm_config
    from course_lib.pretraining import PretrainingData, evaluate_pretraining, pretraining_loaders

    vocab = utr_vocabulary()
    seqs = ["".join(np.random.default_rng(i).choice(list("ACGT"), 30)) for i in range(40)]
    natural = np.arange(40) < 20  # ordered batches of 10: two scored, then two unscored
    mixed = PretrainingData.from_sequences(seqs, vocab, mlm_rows=natural)
    scored = PretrainingData.from_sequences(seqs[:20], vocab)
    torch.manual_seed(0)
    config = utr_lm_config(vocab, hidden_size=8, num_layers=1, num_heads=2)
    model = UTRLMForPretraining(config)

    def scores(data: PretrainingData) -> dict[str, float]:
        loader = pretraining_loaders(data, data, 10, 0)[1]
        return evaluate_pretraining(model, vocab, loader, ("mlm",), device="cpu")

    both, alone = scores(mixed), scores(scored)
    assert alone["mlm"] > 0.5
    assert both["mlm"] == pytest.approx(alone["mlm"], rel=1e-6)
    assert both["loss"] == pytest.approx(alone["loss"], rel=1e-6)
    assert both["mlm_accuracy"] == pytest.approx(alone["mlm_accuracy"])
