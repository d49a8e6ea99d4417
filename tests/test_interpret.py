"""Tests of course_lib.interpret: ISM, gradient x input, k-mer to nucleotide maps, logos."""

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.encoding import one_hot
from course_lib.interpret.attribution import (
    embedding_gradient_x_input,
    gradient_x_input,
    tokens_to_positions,
)
from course_lib.interpret.logos import (
    aligned_windows,
    attribution_matrix,
    consensus,
    draw_logo,
    frequency_matrix,
    information_matrix,
    motif_frequency,
    strongest_window,
)
from course_lib.interpret.position_mutagenesis import (
    in_silico_mutagenesis,
    ism_importance,
    torch_score_fn,
)

MOTIF = "TGTA[ACT]ATA"


def motif_score(seqs):
    """A 'model' that counts PUM2 motifs: its drivers are known exactly."""
    return np.array([len(re.findall(MOTIF, s)) for s in seqs], dtype=float)


def planted_sequences(n=30, length=24, seed=0):
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n):
        background = "".join(rng.choice(list("ACG"), length))  # no T: no accidental motif
        start = int(rng.integers(0, length - 8))
        core = "TGTA" + "ACT"[int(rng.integers(3))] + "ATA"
        seqs.append(background[:start] + core + background[start + 8 :])
    return seqs


def test_ism_exact_on_a_hand_built_scorer():
    ism = in_silico_mutagenesis(
        lambda seqs: np.array([s.count("G") for s in seqs], float), ["ACGU"]
    )
    assert ism.shape == (1, 4, 4)
    expected = np.array([[0, 0, 1, 0], [0, 0, 1, 0], [-1, -1, 0, -1], [0, 0, 1, 0]], float)
    np.testing.assert_array_equal(ism[0], expected)
    assert ism_importance(ism)[0].tolist() == [-1 / 3, -1 / 3, 1.0, -1 / 3]
    with pytest.raises(ValueError, match="without N"):
        in_silico_mutagenesis(motif_score, ["ACNT"])


def test_ism_logo_recovers_the_pum2_motif():
    seqs = planted_sequences(n=120)
    ism = in_silico_mutagenesis(motif_score, seqs)
    importance = ism_importance(ism)
    starts = strongest_window(importance, 8)
    for seq, start in zip(seqs, starts, strict=True):
        assert re.fullmatch(MOTIF, seq[start : start + 8])
    windows = aligned_windows(seqs, importance, width=8, flank=2)
    assert all(len(w) == 12 for w in windows)
    freq = frequency_matrix(windows)
    assert list(freq.columns) == list("ACGU")
    assert consensus(freq)[2:10] == "UGUA.AUA"
    bits = information_matrix(freq)
    assert bits.to_numpy().sum(1)[2] == pytest.approx(2.0)  # a fixed U: 2 bits
    draw_logo(bits, title="test")


def test_gradient_x_input_of_a_linear_one_hot_model():
    model = nn.Conv1d(4, 1, kernel_size=3, bias=False)  # one window = a linear model
    with torch.no_grad():
        model.weight.copy_(torch.arange(12, dtype=torch.float32).reshape(1, 4, 3))
    x = torch.from_numpy(one_hot(["ACG"], channels_first=True))
    gxi = gradient_x_input(model, x, forward=lambda m, v: m(v).sum((1, 2)))
    assert gxi.sum(1).tolist() == [[0.0, 4.0, 8.0]]  # weights at A@0, C@1, G@2


def test_embedding_gradient_x_input_and_token_mapping():
    embedding = nn.Embedding(5, 2)
    with torch.no_grad():
        embedding.weight.copy_(
            torch.tensor([[0, 0], [1, 0], [0, 1], [1, 1], [2, 2]], dtype=torch.float32)
        )
    model = nn.Sequential(embedding)
    forward = lambda m, ids: m(ids).sum((1, 2))  # noqa: E731
    ids = torch.tensor([[1, 3, 4]])
    scores = embedding_gradient_x_input(model, ids, embedding, forward, baseline="zero")
    assert scores.tolist() == [[1.0, 2.0, 4.0]]  # gradient 1, so the embedding sums
    centred = embedding_gradient_x_input(model, ids, embedding, forward)  # mean row (0.8, 0.8)
    np.testing.assert_allclose(centred, [[-0.6, 0.4, 2.4]], atol=1e-6)
    with pytest.raises(ValueError, match="baseline"):
        embedding_gradient_x_input(model, ids, embedding, forward, baseline="median")
    spread = tokens_to_positions(
        np.array([[9.0, 3.0, 6.0, 9.0]]), k=3, length=4, leading_specials=1
    )
    assert spread.tolist() == [[1.0, 3.0, 3.0, 2.0]]
    with pytest.raises(ValueError, match="k-mer columns"):
        tokens_to_positions(np.zeros((1, 2)), k=3, length=6)


def test_torch_score_fn_and_attribution_matrix():
    model = nn.Linear(4, 1)
    score = torch_score_fn(
        model,
        lambda s: torch.from_numpy(one_hot(s).sum(1)),
        lambda m, x: m(x).squeeze(-1),
        batch_size=2,
    )
    assert score(["ACG", "TTT", "GGA"]).shape == (3,)
    matrix = attribution_matrix("ACGU", np.array([1.0, 2.0, 3.0, 4.0]))
    assert matrix.to_numpy().tolist() == [[1, 0, 0, 0], [0, 2, 0, 0], [0, 0, 3, 0], [0, 0, 0, 4]]


def test_motif_frequency_table():
    table = motif_frequency(
        ["AATGTAAATAA", "UGUACAUA", "ACGT", "UGUAGAUA"], np.array([1, 1, 0, 0]), MOTIF
    )
    assert table.loc["positives", "with motif"] == 2 and table.loc["negatives", "fraction"] == 0.0


def test_explain_token_model_with_the_bilstm_and_bert_views():
    from course_lib.chapters.ch3_pum2_dnabert_lstm import bert_view, bilstm_view
    from course_lib.interpret.attribution import explain_token_model
    from course_lib.models.bert import bert_classifier, small_bert_config
    from course_lib.models.bilstm import BiLSTMClassifier
    from course_lib.tokenization import build_vocabulary

    seqs = planted_sequences(n=3, length=20)
    torch.manual_seed(0)
    lstm = explain_token_model(BiLSTMClassifier(3, 8, 8, 1, 0.0, 8), bilstm_view(3), seqs, "cpu")
    assert lstm.ism.shape == (3, 20, 4) and lstm.gradient_importance.shape == (3, 20)
    vocab = build_vocabulary(3)
    bert = bert_classifier(small_bert_config(vocab, 16, 1, 2, 32, max_length=32))
    explained = explain_token_model(bert, bert_view(vocab), seqs, "cpu")
    assert explained.ism_importance.shape == (3, 20)
    assert np.isfinite(explained.gradient_importance).all()
    assert np.abs(explained.gradient_importance).sum() > 0
