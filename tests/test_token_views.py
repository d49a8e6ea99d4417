"""Tests of the token-model views and :func:`course_lib.interpret.attribution.explain_token_model`.

A view tells the explainer how to encode sequences for a model, how to get its logit and which
embedding to differentiate. These tests check each view against calling the model directly,
and the explainer against answers computed by hand.
"""

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.chapters.ch3_pum2_dnabert_lstm import bert_view, bilstm_view
from course_lib.interpret.attribution import (
    TokenModelView,
    embedding_gradient_x_input,
    explain_token_model,
    gradient_x_input,
)
from course_lib.interpret.position_mutagenesis import ism_importance
from course_lib.models.bert import bert_classifier, bert_logit, small_bert_config
from course_lib.models.bilstm import BiLSTMClassifier, lstm_token_ids
from course_lib.tokenization import build_vocabulary
from course_lib.training import default_forward

SEQS = ["ACGTTGTAAATAGC", "TTGCAGTGTACATA", "GGGCATGTAGATAA"]
BASE_VALUE = {"A": 1.0, "C": -2.0, "G": 0.5, "T": 3.0}


def small_lstm(readout="last", seed=0):
    torch.manual_seed(seed)
    return BiLSTMClassifier(
        3, embedding_dim=8, hidden_size=8, num_layers=1, dense_size=8, readout=readout
    ).eval()


def small_bert(vocab, seed=0):
    torch.manual_seed(seed)
    return bert_classifier(small_bert_config(vocab, 16, 1, 2, 32, max_length=32)).eval()


class BaseSum(nn.Module):
    """score = sum over positions of a value per base: every attribution is known exactly."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(5, 1)  # row 0 padding, rows 1..4 = A C G T
        with torch.no_grad():
            self.embedding.weight.copy_(torch.tensor([[0.0]] + [[v] for v in BASE_VALUE.values()]))

    def forward(self, ids):
        return self.embedding(ids).sum((1, 2))


BASE_SUM_VIEW = TokenModelView(
    encode=lambda seqs: torch.from_numpy(lstm_token_ids(seqs, 1)),
    forward=default_forward,
    embedding=lambda model: model.embedding,
    k=1,
)


def test_bilstm_view_encodes_and_scores_like_the_model():
    model = small_lstm()
    view = bilstm_view(3)
    inputs = view.encode(SEQS)
    assert torch.equal(inputs, torch.from_numpy(lstm_token_ids(SEQS, 3)))
    assert inputs.shape == (3, len(SEQS[0]) - 2)
    assert view.embedding(model) is model.embedding
    assert view.k == 3 and view.leading_specials == 0
    with torch.no_grad():
        assert torch.allclose(view.forward(model, inputs), model(inputs))


def test_bert_view_puts_cls_first_and_scores_the_logit_difference():
    vocab = build_vocabulary(3)
    model = small_bert(vocab)
    view = bert_view(vocab)
    inputs = view.encode(SEQS)
    ids = inputs["input_ids"]
    n_kmers = len(SEQS[0]) - 2
    assert ids.shape == (3, n_kmers + 2)
    assert (ids[:, 0] == vocab.role_id("cls")).all() and (ids[:, -1] == vocab.role_id("sep")).all()
    assert vocab.decode(ids[0, 1:4].tolist()) == ["ACG", "CGT", "GTT"]
    assert view.leading_specials == 1 and view.k == 3
    assert view.embedding(model) is model.bert.embeddings.word_embeddings
    with torch.no_grad():
        logits = model(**inputs).logits
        assert torch.allclose(view.forward(model, inputs), logits[:, 1] - logits[:, 0])
        assert torch.allclose(bert_logit(model, inputs), view.forward(model, inputs))


def test_explainer_is_exact_on_a_model_with_known_attributions():
    explained = explain_token_model(BaseSum(), BASE_SUM_VIEW, SEQS, "cpu")
    values = np.array(list(BASE_VALUE.values()))
    for i, seq in enumerate(SEQS):
        for p, base in enumerate(seq):
            expected = values - BASE_VALUE[base]  # swapping base for each of ACGT
            np.testing.assert_allclose(explained.ism[i, p], expected, atol=1e-5)
    np.testing.assert_allclose(explained.ism_importance, ism_importance(explained.ism))
    # gradient x (embedding - mean embedding row); the mean includes the padding row
    mean_row = values.sum() / 5
    expected = [[BASE_VALUE[b] - mean_row for b in seq] for seq in SEQS]
    np.testing.assert_allclose(explained.gradient_importance, expected, atol=1e-5)


@pytest.mark.parametrize("readout", ["last", "max"])
def test_bilstm_ism_matches_scoring_each_mutant_directly(readout):
    model = small_lstm(readout)
    explained = explain_token_model(model, bilstm_view(3), SEQS[:1], "cpu")
    seq = SEQS[0]
    with torch.no_grad():
        reference = model(torch.from_numpy(lstm_token_ids([seq], 3))).item()
        for p in (0, 5, len(seq) - 1):
            for b, base in enumerate("ACGT"):
                mutant = seq[:p] + base + seq[p + 1 :]
                score = model(torch.from_numpy(lstm_token_ids([mutant], 3))).item()
                assert explained.ism[0, p, b] == pytest.approx(score - reference, abs=1e-5)


def test_bert_gradient_importance_keeps_the_kmer_totals():
    vocab = build_vocabulary(3)
    model = small_bert(vocab)
    view = bert_view(vocab)
    explained = explain_token_model(model, view, SEQS, "cpu")
    tokens = embedding_gradient_x_input(
        model, view.encode(SEQS), view.embedding(model), view.forward, "cpu"
    )
    kmer_columns = tokens[:, 1 : 1 + len(SEQS[0]) - 2]  # [CLS] and [SEP] left out
    np.testing.assert_allclose(
        explained.gradient_importance.sum(1), kmer_columns.sum(1), rtol=1e-5, atol=1e-6
    )
    assert np.abs(explained.gradient_importance).sum() > 0


def test_explainer_gives_the_same_answer_in_any_batch_size():
    model = small_lstm("max")
    whole = explain_token_model(model, bilstm_view(3), SEQS, "cpu", batch_size=1024)
    pieces = explain_token_model(model, bilstm_view(3), SEQS, "cpu", batch_size=2)
    np.testing.assert_allclose(whole.ism, pieces.ism, atol=1e-5)
    np.testing.assert_allclose(whole.gradient_importance, pieces.gradient_importance, atol=1e-5)


def test_explainer_leaves_the_model_untouched():
    model = small_lstm()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    explain_token_model(model, bilstm_view(3), SEQS, "cpu")
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]) and p.grad is None, name


def test_gradient_works_on_a_frozen_model():
    model = small_lstm()
    model.requires_grad_(False)
    explained = explain_token_model(model, bilstm_view(3), SEQS, "cpu")
    assert np.abs(explained.gradient_importance).sum() > 0
    conv = nn.Conv1d(4, 1, 3).requires_grad_(False)
    x = torch.ones(1, 4, 5)
    assert gradient_x_input(conv, x, lambda m, v: m(v).sum((1, 2)), "cpu").shape == (1, 4, 5)
    assert conv.weight.grad is None


def test_explainer_rejects_bad_input_clearly():
    model, view = small_lstm(), bilstm_view(3)
    with pytest.raises(ValueError, match="at least one sequence"):
        explain_token_model(model, view, [], "cpu")
    with pytest.raises(ValueError, match="one length"):
        explain_token_model(model, view, ["ACGTACGT", "ACGTA"], "cpu")
    with pytest.raises(ValueError, match="without N"):
        explain_token_model(model, view, ["ACGTNCGT"], "cpu")
    wrong = TokenModelView(view.encode, view.forward, lambda m: nn.Embedding(65, 8), k=3)
    with pytest.raises(ValueError, match="not called"):
        explain_token_model(model, wrong, SEQS, "cpu")


def test_bilstm_rejects_an_unknown_readout():
    with pytest.raises(ValueError, match="readout"):
        BiLSTMClassifier(3, readout="mean")
