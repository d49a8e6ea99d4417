"""The fused transformer path computes what Hugging Face's does (course_lib.models.fused_encoder).

Speed is measured by ``benchmarks/bench_pretraining_throughput.py``, not here (a timed test
fails at random on a shared machine). Here: the same outputs on padded batches, padding that
changes nothing, the same loss curve over several AdamW steps without dropout (dropout draws
other random numbers in each path), and dropout that drops what it says.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from transformers import BertModel
from transformers.models.esm.modeling_esm import EsmModel

from course_lib.models.bert import bert_classifier, masked_lm, small_bert_config
from course_lib.models.fused_encoder import (
    ATTENTION_NAME,
    FusedBertModel,
    FusedEsmModel,
    attention,
    dropout,
    dropout_mask,
    set_implementation,
)
from course_lib.models.utr_lm import UTRLMForPretraining, utr_lm_config, utr_vocabulary
from course_lib.pretraining import OBJECTIVES, pretraining_losses
from course_lib.tokenization import KmerVocabulary, build_vocabulary, mask_tokens

#: Relative agreement of the two paths' losses after every step (float32 rounding only).
LOSS_RTOL = 1e-5
#: Largest difference of hidden states (layer-normed, order 1) between the paths.
STATE_ATOL = 1e-5
STEPS = 5


def utr_batch(n: int = 12, seed: int = 0) -> dict[str, torch.Tensor]:
    """Tokens of ``n`` random UTRs of 10-30 nt (padded), masked, with MFE and structure labels."""
    rng = np.random.default_rng(seed)
    vocab = utr_vocabulary()
    seqs = ["".join(rng.choice(list("ACGU"), size)) for size in rng.integers(10, 31, n)]
    batch = vocab.encode(seqs).to_torch()
    generator = torch.Generator().manual_seed(seed)
    batch["input_ids"], batch["mlm_labels"] = mask_tokens(
        batch["input_ids"], vocab, generator=generator
    )
    batch["mfe"] = torch.from_numpy(rng.normal(0, 1, n).astype(np.float32))  # standardised
    structure = torch.from_numpy(rng.integers(0, 3, batch["input_ids"].shape))
    batch["structure"] = structure.masked_fill(batch["attention_mask"] == 0, -100)
    return batch


def utr_model(dropout_p: float = 0.0) -> UTRLMForPretraining:
    """A small UTR-LM (width 32, 2 layers, 4 heads of 8: a query scale that is no power of 2)."""
    torch.manual_seed(0)
    config = utr_lm_config(hidden_size=32, num_layers=2, num_heads=4, dropout=dropout_p)
    return UTRLMForPretraining(config)


def loss_curve(model: torch.nn.Module, loss_of, steps: int = STEPS) -> list[float]:
    """Losses of ``steps`` AdamW steps (as in pretraining: lr 1e-3, weight decay 0.01)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    model.train()
    losses = []
    for _ in range(steps):
        loss = loss_of(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_the_models_use_the_fused_path_with_unchanged_weights():
    model = utr_model()
    assert isinstance(model.esm, FusedEsmModel) and model.esm.implementation == "fused"
    reference = EsmModel(model.config, add_pooling_layer=False)
    assert model.esm.state_dict().keys() == reference.state_dict().keys()
    assert small_bert_config(build_vocabulary(3))._attn_implementation == ATTENTION_NAME
    with pytest.raises(ValueError, match="implementation must be one of"):
        set_implementation(model, "flash")


def test_fused_esm_gives_the_same_states_on_a_padded_batch():
    model = utr_model().eval()
    batch = utr_batch()
    assert (batch["attention_mask"] == 0).any(), "the batch must hold padding"
    with torch.no_grad():
        states = {
            path: set_implementation(model, path)(batch["input_ids"], batch["attention_mask"])
            for path in ("transformers", "fused")
        }
    for field in ("hidden", "mlm_logits", "mfe", "structure_logits"):
        old, new = getattr(states["transformers"], field), getattr(states["fused"], field)
        torch.testing.assert_close(new, old, rtol=0, atol=STATE_ATOL)


def test_padding_changes_no_utr_states_in_the_fused_path():
    model = utr_model().eval()
    batch = utr_batch(n=4)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    row = int(mask.sum(1).argmin())  # the shortest UTR: the most padding in the batch
    width = int(mask[row].sum())
    with torch.no_grad():
        together = model.esm(ids, mask).last_hidden_state[row, :width]
        alone = model.esm(ids[row : row + 1, :width], mask[row : row + 1, :width])
    torch.testing.assert_close(alone.last_hidden_state[0], together, rtol=0, atol=STATE_ATOL)


def test_fused_esm_gives_the_same_loss_curve():
    batch = utr_batch()
    model = utr_model()

    def loss_of(m):
        out = m(batch["input_ids"], batch["attention_mask"])
        return sum(pretraining_losses(out, batch, OBJECTIVES, m.config).values())

    curves = {
        path: loss_curve(set_implementation(copy.deepcopy(model), path), loss_of)
        for path in ("transformers", "fused")
    }
    assert curves["fused"][-1] < curves["fused"][0], "the loss must move for the test to mean much"
    np.testing.assert_allclose(curves["fused"], curves["transformers"], rtol=LOSS_RTOL)


def bert_batch() -> tuple[KmerVocabulary, dict[str, torch.Tensor]]:
    """3-mer tokens of 10 random DNA sequences of 12-39 nt (padded)."""
    vocab = build_vocabulary(3)
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), size)) for size in rng.integers(12, 40, 10)]
    return vocab, vocab.encode(seqs).to_torch()


def test_fused_bert_gives_the_same_outputs_and_loss_curve():
    vocab, batch = bert_batch()
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert (mask == 0).any(), "the batch must hold padding"
    corrupted, labels = mask_tokens(ids, vocab, generator=torch.Generator().manual_seed(1))
    config = small_bert_config(vocab, 32, 2, 4, 64, ids.shape[1], dropout=0.0)
    torch.manual_seed(0)
    model = masked_lm(config).eval()
    assert isinstance(model.bert, FusedBertModel)
    assert model.bert.state_dict().keys() == BertModel(config, False).state_dict().keys()
    with torch.no_grad():
        logits = [
            set_implementation(model, path)(corrupted, mask).logits[mask.bool()]
            for path in ("transformers", "fused")
        ]
    torch.testing.assert_close(logits[1], logits[0], rtol=0, atol=STATE_ATOL)
    curves = {
        path: loss_curve(
            set_implementation(copy.deepcopy(model), path),
            lambda m: m(corrupted, mask, labels=labels).loss,
        )
        for path in ("transformers", "fused")
    }
    assert curves["fused"][-1] < curves["fused"][0], "the loss must move for the test to mean much"
    np.testing.assert_allclose(curves["fused"], curves["transformers"], rtol=LOSS_RTOL)


@pytest.mark.parametrize("kernel", [0, 5])
def test_fused_bert_classifier_gives_the_same_logits(kernel):
    """The pooled first token through the classification head, with and without the local
    convolution, on a padded batch, with token types given or not."""
    vocab, batch = bert_batch()
    config = small_bert_config(vocab, 32, 2, 4, 64, batch["input_ids"].shape[1], 0.0, 2, kernel)
    torch.manual_seed(0)
    model = bert_classifier(config).eval()
    types = {
        "token_type_ids": (torch.arange(batch["input_ids"].shape[1]) % 2).expand_as(
            batch["input_ids"]
        )
    }
    for extra in ({}, types):
        with torch.no_grad():
            logits = [
                set_implementation(model, path)(**batch, **extra).logits
                for path in ("transformers", "fused")
            ]
        torch.testing.assert_close(logits[1], logits[0], rtol=0, atol=STATE_ATOL)


def test_attention_dropout_drops_attention_weights_and_keeps_masked_keys_out():
    torch.manual_seed(2)
    q, k, v = torch.randn(3, 2, 4, 5, 8).unbind(0)  # [n=2, heads=4, T=5, d=8] each
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])[:, None, None, :]
    torch.manual_seed(3)
    found = attention(q, k, v, mask, p=0.3)
    torch.manual_seed(3)
    weights = (q @ k.transpose(-1, -2) / math.sqrt(8)).masked_fill(~mask, float("-inf"))
    expected = (weights.softmax(-1) * dropout_mask((2, 4, 5, 5), 0.3)) @ v
    torch.testing.assert_close(found, expected.transpose(1, 2).reshape(2, 5, 32))
    v_changed = v.clone()
    v_changed[1, :, 3:] = 100.0  # values of padded keys
    torch.manual_seed(3)
    changed = attention(q, k, v_changed, mask, p=0.3)
    torch.testing.assert_close(changed[1], found[1])


def test_dropout_drops_the_stated_fraction_and_keeps_the_mean():
    torch.manual_seed(4)
    x = torch.ones(1_000_000)
    p = 0.1
    out = dropout(x, p)
    dropped = float((out == 0).float().mean())
    sigma = math.sqrt(p * (1 - p) / x.numel())
    assert abs(dropped - p) < 5 * sigma, f"dropped {dropped:.5f}, expected {p} +- {5 * sigma:.5f}"
    assert abs(float(out.mean()) - 1.0) < 5 * sigma / (1 - p)
    assert torch.unique(out).tolist() == pytest.approx([0.0, 1 / (1 - p)], rel=1e-4)
    torch.manual_seed(4)
    assert torch.equal(dropout(x, p), out), "the same seed gives the same mask"
    assert dropout(x, p, training=False) is x and dropout(x, 0.0) is x
    with pytest.raises(ValueError, match="dropout probability"):
        dropout(x, 1.0)


def test_unusual_calls_fall_back_to_transformers():
    model = utr_model().eval()
    batch = utr_batch(n=3)
    with torch.no_grad():
        out = model.esm(batch["input_ids"], batch["attention_mask"], output_hidden_states=True)
    assert out.hidden_states is not None and len(out.hidden_states) == 3
    vocab, tokens = bert_batch()
    bert = masked_lm(small_bert_config(vocab, 32, 2, 4, 64, tokens["input_ids"].shape[1])).eval()
    with torch.no_grad():
        out = bert.bert(**tokens, output_hidden_states=True)
    assert out.hidden_states is not None and len(out.hidden_states) == 3
