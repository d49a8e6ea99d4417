"""A frozen backbone's states, computed once (chapter 5): training the head on them is
training the frozen model."""

from __future__ import annotations

import pytest
import torch
from test_utr_lm import VOCAB, one_torch_thread, random_utrs, tiny_config  # noqa: F401

from course_lib.chapters.ch5_frozen_states import STATE_BATCH, FrozenStates
from course_lib.models.utr_lm import encode_utrs, mrl_model


def _frozen_model(dropout: float = 0.0):
    torch.manual_seed(0)
    model = mrl_model(
        tiny_config(dropout=0.1), head="resnet", head_channels=8, head_dropout=dropout
    )
    return model.freeze_backbone(True)


def _tokens(seqs: list[str]) -> dict[str, torch.Tensor]:
    return encode_utrs(seqs, VOCAB).to_torch()


def test_states_are_the_head_inputs_of_any_batch_in_any_order():
    model = _frozen_model()
    seqs = random_utrs(STATE_BATCH + 5, lo=10, hi=60)  # two batches of the computation
    states = FrozenStates.compute(model, [*seqs, seqs[0]], show_progress=False)
    assert len(states.index) == len(set(seqs)) and states.states.dtype == torch.float32
    picked = [seqs[7], seqs[3], seqs[7], seqs[-1]]
    with torch.no_grad():
        expected = model.head_inputs(**_tokens(picked))
    torch.testing.assert_close(states(picked), expected, atol=1e-5, rtol=1e-5)


def test_training_the_head_on_states_is_training_the_frozen_model():
    """Same predictions (head dropout drawn from the same seed) and the same head gradients."""
    model = _frozen_model(dropout=0.2)
    seqs = random_utrs(12)
    states = FrozenStates.compute(model, seqs, show_progress=False)
    model.train()  # the frozen backbone stays in eval mode: no dropout there
    y = torch.linspace(-1, 1, len(seqs))
    grads = []
    for forward in (lambda: model(**_tokens(seqs)), lambda: model.head(emb=states(seqs))):
        model.zero_grad()
        torch.manual_seed(1)
        loss = torch.nn.functional.mse_loss(forward(), y)
        loss.backward()
        grads.append([p.grad.clone() for p in model.head.parameters()])
    for through_backbone, on_states in zip(*grads, strict=True):
        torch.testing.assert_close(on_states, through_backbone, atol=1e-5, rtol=1e-4)


def test_unknown_utrs_an_empty_list_and_a_pooled_head_are_refused():
    model = _frozen_model()
    states = FrozenStates.compute(model, ["ACGUACGUAC", "GGGAAACCCU"], show_progress=False)
    with pytest.raises(KeyError, match="1 UTR.*no frozen state.*every UTR the curve"):
        states(["ACGUACGUAC", "UUUUUUUUUU"])
    with pytest.raises(ValueError, match="no UTRs"):
        FrozenStates.compute(model, [], show_progress=False)
    pooled = mrl_model(tiny_config(), head="mlp")
    with pytest.raises(ValueError, match="'resnet' head.*head='resnet'"):
        FrozenStates.compute(pooled, ["ACGU"], show_progress=False)
