"""Chapter 1's layer probe: per-layer states equal the backbone's embedding at the last layer,
the pooled cache is computed once, the probe finds a linear signal on validation rows and the
choice ignores the k-mer reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.chapters import ch1_probe as cp
from course_lib.models import rnafm
from course_lib.ridge import kmer_features

SEQS = ["ACGUACGUAC", "GGGAAAUUUCCCAUG", "AUGAUGAUG" * 3]


@pytest.fixture(scope="module")
def backbone(tmp_path_factory):
    torch.set_num_threads(1)
    path = rnafm.build_small_rnafm(
        tmp_path_factory.mktemp("ckpt") / "tiny.pth",
        layers=2,
        embed_dim=8,
        ffn_embed_dim=16,
        attention_heads=2,
    )
    return rnafm.load_rnafm(path)


def test_rnafm_layer_states_match_the_embedding_and_mask_padding(backbone):
    states = cp.layer_states(backbone, SEQS, [0, 1, 2])
    assert [s.shape for s in states] == [(3, 27, 8)] * 3
    torch.testing.assert_close(states[2], backbone.embed(SEQS))
    assert not torch.equal(states[0], states[2])  # layers differ
    assert states[1][0, 10:].abs().sum() == 0  # beyond the first UTR's 10 nt
    view = cp.LayerBackbone(backbone, 1)
    torch.testing.assert_close(view.embed(SEQS), states[1])
    assert view.checkpoint_sha256 == backbone.checkpoint_sha256 and "layer 1 of 2" in view.label
    with pytest.raises(ValueError, match="layers 0..2"):
        cp.LayerBackbone(backbone, 3)


def test_utrlm_layer_states_match_the_embedding(tmp_path):
    from course_lib.models.utr_lm import (
        UTRLMBackbone,
        UTRLMForPretraining,
        save_checkpoint,
        utr_lm_config,
        utr_vocabulary,
    )

    vocab = utr_vocabulary()
    config = utr_lm_config(vocab, hidden_size=16, num_layers=2, num_heads=2, dropout=0.0)
    torch.manual_seed(0)
    model = UTRLMForPretraining(config).eval()
    utrlm = UTRLMBackbone.from_checkpoint(save_checkpoint(model, tmp_path / "c", vocab))
    top = cp.num_layers(utrlm)
    states = cp.layer_states(utrlm, SEQS, list(range(top + 1)))
    torch.testing.assert_close(states[-1], utrlm.embed(SEQS))
    assert states[0].shape == states[-1].shape and states[0][0, 10:].abs().sum() == 0


def test_pooled_cache_is_the_mean_over_nucleotides_and_is_reused(backbone, tmp_path, monkeypatch):
    pooled = cp.build_layer_cache(
        backbone, SEQS, "toy", tmp_path, batch_size=2, show_progress=False
    )
    assert pooled.shape == (3, 3, 8)
    expected = cp.layer_states(backbone, SEQS[1:2], [2])[0][0, :15].mean(0)
    np.testing.assert_allclose(pooled[1, 2], expected.numpy(), rtol=1e-5, atol=1e-6)
    monkeypatch.setattr(cp, "_pooled_batch", lambda *a: pytest.fail("recomputed"))
    np.testing.assert_array_equal(cp.build_layer_cache(backbone, SEQS, "toy", tmp_path), pooled)


def test_probe_finds_the_layer_that_holds_the_signal_on_validation_rows():
    rng = np.random.default_rng(0)
    n, d = 300, 6
    signal = rng.normal(size=(n, d))
    y = signal @ np.arange(1.0, d + 1) + rng.normal(size=n) * 0.5
    noise = rng.normal(size=(n, d))
    pooled = {"A": np.stack([noise, signal], 1), "B": np.stack([noise, noise], 1)}
    rows = np.arange(n)
    splits = [(rows[:200], rows[200:250]), (rows[50:250], rows[:50])]
    probe = cp.probe_layers(pooled, y, splits, reference=rng.normal(size=(n, 2)))
    assert len(probe) == (2 * 2 + 1) * 2
    summary = cp.probe_summary(probe)
    assert summary.loc[("A", 1), "val R2 mean"] > 0.9
    assert summary.loc[("B", 0), "val R2 mean"] < 0.1
    assert (summary["val R2 min"] <= summary["val R2 max"]).all()
    layers, choice = cp.choose_layers(summary)
    assert layers == {"A": 1, "B": layers["B"]} and choice == ("A", 1)
    text = cp.probe_text(summary, layers, choice)
    assert "- A: layer 1 is best" in text and "**A, layer 1**" in text and "k-mer" in text


def test_the_probe_fits_on_training_rows_only():
    """Changing the validation labels changes the score, never the fitted model."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 3))
    y = x @ np.array([1.0, -1.0, 0.5]) + rng.normal(size=100) * 0.1
    fit, val = np.arange(80), np.arange(80, 100)
    assert cp.ridge_probe_r2(x, y, fit, val) > 0.9
    shuffled = y.copy()
    shuffled[val] = rng.permutation(y[val])
    assert cp.ridge_probe_r2(x, shuffled, fit, val) < 0.5
    changed_train = y.copy()
    changed_train[fit] = rng.normal(size=80)
    assert cp.ridge_probe_r2(x, changed_train, fit, val) < 0.5  # the fit reads training rows


def test_kmer_features_are_frequencies_and_length():
    feats = kmer_features(["AAAA", "ACGT"], k_max=2)
    assert feats.shape == (2, 4 + 16 + 1)
    np.testing.assert_allclose(feats[0, :4], [1, 0, 0, 0])
    np.testing.assert_allclose(feats[1, :4], [0.25] * 4)
    assert feats[0, 4] == pytest.approx(1.0) and list(feats[:, -1]) == [4, 4]


def test_plot_probe_draws_one_line_per_backbone_and_the_reference():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    index = pd.MultiIndex.from_tuples(
        [("A", 0), ("A", 1), (cp.KMER_REFERENCE, -1)], names=["backbone", "layer"]
    )
    summary = pd.DataFrame(
        {
            "val R2 mean": [0.1, 0.3, 0.2],
            "val R2 min": [0.0, 0.2, 0.2],
            "val R2 max": [0.2, 0.4, 0.2],
        },
        index=index,
    )
    fig, ax = plt.subplots()
    cp.plot_probe(summary, ax, "t")
    labels = sorted(t.get_text() for t in ax.get_legend().get_texts())
    assert labels == sorted(["A", cp.KMER_REFERENCE])
    plt.close(fig)
