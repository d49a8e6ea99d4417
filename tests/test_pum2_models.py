"""Tests of the PUM2 chapter's models: BiLSTM, one-hot CNN and the k-mer logistic regression."""

import numpy as np
import pytest
import torch

from course_lib.chapters.ch3_kmer_baseline import (
    kmer_count_features,
    kmer_feature_names,
    kmer_fold_trainer,
    top_kmers,
)
from course_lib.cross_validation import cross_validate, neural_fold_trainer, stratified_folds
from course_lib.datasets.pum2 import NEGATIVES, POSITIVES, load_binding_sites, synthesize_pum2
from course_lib.encoding import one_hot
from course_lib.models.bilstm import BiLSTMClassifier, lstm_token_ids
from course_lib.models.cnn_classifier import OneHotCNN


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Synthetic PUM2 sites in the real FASTA layout: positives carry UGUAHAUA."""
    folder = tmp_path_factory.mktemp("pum2")
    synthesize_pum2(folder, seed=1, n_per_class=150, length=30)
    return load_binding_sites(folder / POSITIVES, folder / NEGATIVES)


def test_lstm_token_ids_exact():
    ids = lstm_token_ids(["AACGT", "ANAAA"], k=3)
    # AAC = 1 -> 2, ACG = 6 -> 7, CGT = 27 -> 28; k-mers with N -> 0; AAA = 0 -> 1
    assert ids.tolist() == [[2, 7, 28], [0, 0, 1]]


def test_bilstm_original_architecture_and_shapes():
    model = BiLSTMClassifier(k=3)
    assert model.embedding.num_embeddings == 65 and model.embedding.embedding_dim == 128
    assert model.lstm.hidden_size == 100 and model.lstm.num_layers == 2
    assert model.lstm.bidirectional and model.lstm.dropout == pytest.approx(0.1)
    assert model.head[0].out_features == 64 and model.head[-1].out_features == 1
    out = model(torch.randint(0, 65, (5, 79)))
    assert out.shape == (5,)
    with pytest.raises(ValueError, match="exceeds"):
        model(torch.full((1, 10), 65))
    with pytest.raises(ValueError, match=r"\[n, T\]"):
        model(torch.zeros(10, dtype=torch.long))
    assert model.readout == "last"  # the original summary unless asked otherwise


def test_bilstm_max_readout_is_the_positionwise_maximum():
    """With readout="max" the summary is the position-wise maximum of the LSTM outputs."""
    torch.manual_seed(0)
    model = BiLSTMClassifier(3, 8, 8, 1, 0.0, 8, readout="max").eval()
    ids = torch.randint(1, 65, (2, 12))
    outputs, _ = model.lstm(model.embedding(ids))
    with torch.no_grad():
        expected = model.head(outputs.amax(1)).squeeze(-1)
        assert torch.allclose(model(ids), expected)


def test_cnn_shapes_and_errors():
    model = OneHotCNN(channels=8)
    assert model(torch.rand(3, 4, 81)).shape == (3,)
    with pytest.raises(ValueError, match="one-hot"):
        model(torch.rand(3, 81, 4))


def test_kmer_features_exact():
    features = kmer_count_features(["AAAAC"], ks=(3, 4))
    assert features.shape == (1, 64 + 256)
    assert features[0, 0] == 2 and features[0, 1] == 1  # AAA twice, AAC once
    assert features[0, 64 + 1] == 1 and features.sum() == 3 + 2
    names = kmer_feature_names((3, 4))
    assert names[1] == "AAC" and names[-1] == "UUUU" and len(names) == 320
    with pytest.raises(ValueError, match="at least one"):
        kmer_count_features(["ACGT"], ks=())


def test_kmer_logistic_regression_finds_the_motif(planted):
    y = planted.labels
    features = kmer_count_features(planted.sequences, (3, 4, 5))
    folds = stratified_folds(y, 3)
    result = cross_validate("k-mer LR", kmer_fold_trainer(features, y), y, folds)
    assert result.summary()["ROC AUC"]["mean"] > 0.85
    best = [m for m, _ in top_kmers(result.folds[0].trained.model, n=15)]
    assert any(m in "UGUAAAUA UGUACAUA UGUAUAUA" for m in best if len(m) >= 4)


@pytest.mark.parametrize("readout", ["last", "max"])
def test_bilstm_learns_planted_motif(planted, readout):
    y = planted.labels
    ids = torch.from_numpy(lstm_token_ids(planted.sequences, 3))
    trainer = neural_fold_trainer(
        lambda: BiLSTMClassifier(3, 16, 16, 2, 0.1, 16, readout=readout),
        ids,
        y,
        epochs=8,
        lr=5e-3,
        batch_size=32,
        show_progress=False,
    )
    result = cross_validate("BiLSTM", trainer, y, stratified_folds(y, 3)[:1])
    assert result.folds[0].metrics["ROC AUC"] > 0.85


def test_cnn_learns_planted_motif(planted):
    y = planted.labels
    x = torch.from_numpy(one_hot(planted.sequences, channels_first=True))
    trainer = neural_fold_trainer(
        lambda: OneHotCNN(16), x, y, epochs=8, lr=5e-3, batch_size=32, show_progress=False
    )
    result = cross_validate("CNN", trainer, y, stratified_folds(y, 3))
    assert result.summary()["ROC AUC"]["mean"] > 0.9
    assert np.isfinite(result.per_fold()["best epoch"]).all()
