"""The two MRL heads of UTR-LM (chapter 5): the pooled MLP and the ResNet on nucleotide states."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_utr_lm import VOCAB, one_torch_thread, random_utrs  # noqa: F401  (fixture)
from test_utr_lm import tiny_config as one_layer_config

from course_lib.chapters.ch5_mrl_finetuning import FinetuneRecipe, evaluate_mrl, train_steps
from course_lib.models.utr_lm import (
    HEADS,
    UTRLMForMRL,
    UTRLMForPretraining,
    encode_utrs,
    mrl_model,
    nucleotide_states,
    save_checkpoint,
)
from course_lib.token_batches import mrl_loader


def tiny_config(**kwargs):
    """``test_utr_lm``'s one-layer config, 16 wide."""
    return one_layer_config(**{"hidden_size": 16, **kwargs})


def predict(model: UTRLMForMRL, seqs: list[str]) -> torch.Tensor:
    tokens = encode_utrs(seqs, VOCAB)  # padded to the longest UTR of seqs only
    with torch.no_grad():
        return model(torch.from_numpy(tokens.input_ids), torch.from_numpy(tokens.attention_mask))


def test_nucleotide_states_keep_nucleotides_right_padded_and_zero_elsewhere():
    config = tiny_config()
    ids = torch.tensor([[0, 4, 5, 2, 1, 1], [0, 6, 7, 7, 8, 2]])  # <cls> nts <eos> <pad>
    mask = (ids != config.pad_token_id).long()
    hidden = torch.arange(12, dtype=torch.float32).reshape(2, 6, 1) + 1
    states = nucleotide_states(hidden, ids, mask, config)[..., 0]
    assert states.tolist() == [[2.0, 3.0, 0.0, 0.0], [8.0, 9.0, 10.0, 11.0]]


def test_resnet_head_prediction_does_not_depend_on_the_batch():
    torch.manual_seed(0)
    model = mrl_model(tiny_config(), head="resnet", head_channels=8).eval()
    seqs = random_utrs(5)
    alone = torch.cat([predict(model, [s]) for s in seqs])
    beside_a_long_one = predict(model, [*seqs, "ACGU" * 15])[:5]
    assert alone.shape == (5,)
    torch.testing.assert_close(alone, beside_a_long_one, atol=1e-5, rtol=1e-5)


def test_resnet_head_learns_a_positional_rule():
    """MRL falls with a G in the first 5 nt (near the cap); every UTR holds exactly one G."""
    rng = np.random.default_rng(1)
    seqs = []
    for _ in range(384):
        utr = list(rng.choice(list("ACU"), 30))
        utr[rng.integers(0, 5) if rng.random() < 0.5 else rng.integers(25, 30)] = "G"
        seqs.append("".join(utr))
    y = np.array([-1.0 if "G" in s[:5] else 1.0 for s in seqs], dtype=np.float32)
    tokens = encode_utrs(seqs, VOCAB)
    part = lambda a, b: type(tokens)(tokens.input_ids[a:b], tokens.attention_mask[a:b])  # noqa: E731
    train = mrl_loader(part(0, 320), y[:320], batch_size=32, shuffle=True)
    val = mrl_loader(part(320, 384), y[320:])
    torch.manual_seed(0)
    model = mrl_model(tiny_config(), head="resnet", head_channels=8, head_dropout=0.0)
    recipe = FinetuneRecipe(lr=1e-2, steps=8 * len(train), eval_every=len(train), loss="mse")
    fit_ = train_steps(model, train, val, recipe, device="cpu", show_progress=False)
    metrics = evaluate_mrl(model, {"val": val}, lambda v: v, device="cpu")
    assert fit_.best_value > 0.8 and metrics["val"]["Pearson r"] > 0.9


def test_resnet_head_round_trips_and_loads_a_pretraining_backbone(tmp_path):
    torch.manual_seed(0)
    pretrained = UTRLMForPretraining(tiny_config()).eval()
    folder = save_checkpoint(pretrained, tmp_path / "pretrained", VOCAB)
    model = mrl_model(folder, head="resnet", head_channels=8).eval()
    for name, tensor in pretrained.esm.state_dict().items():
        torch.testing.assert_close(model.esm.state_dict()[name], tensor)
    conv = model.head.predictor[0].weight
    assert torch.isfinite(conv).all() and conv.std() > 0  # the new head is initialised
    model.save_pretrained(tmp_path / "mrl")
    again = UTRLMForMRL.from_pretrained(tmp_path / "mrl").eval()
    assert again.config.head == "resnet" and again.config.head_channels == 8
    seqs = random_utrs(4)
    torch.testing.assert_close(predict(model, seqs), predict(again, seqs))


def _head_is_initialised_as_the_one_hot_resnet(model: UTRLMForMRL) -> None:
    """Kaiming-normal convolutions (std sqrt(2 / fan_in), not Hugging Face's 0.02), the
    reduction N(0, 0.001), batch-norm statistics reset."""
    conv = model.head.predictor[0].weight  # [channels, channels, 3]
    expected = (2 / (conv.shape[1] * conv.shape[2])) ** 0.5
    assert conv.std().item() == pytest.approx(expected, rel=0.25)
    assert model.head.reduction.weight.std().item() == pytest.approx(0.001, rel=0.25)
    norm = model.head.predictor[1].body[0]
    assert torch.equal(norm.running_mean, torch.zeros_like(norm.running_mean))
    assert torch.equal(norm.running_var, torch.ones_like(norm.running_var))


def test_resnet_head_starts_as_the_one_hot_resnet_from_a_config_and_from_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    config = tiny_config(hidden_size=64)
    _head_is_initialised_as_the_one_hot_resnet(mrl_model(config, head="resnet"))
    folder = save_checkpoint(UTRLMForPretraining(config), tmp_path / "pretrained", VOCAB)
    loaded = mrl_model(folder, head="resnet")
    _head_is_initialised_as_the_one_hot_resnet(loaded)
    # the backbone keeps Hugging Face's initialisation
    assert mrl_model(config).esm.embeddings.word_embeddings.weight.std().item() == pytest.approx(
        0.02, rel=0.1
    )


def test_head_inputs_are_what_the_resnet_head_reads():
    torch.manual_seed(0)
    model = mrl_model(tiny_config(), head="resnet", head_channels=8).eval()
    seqs = random_utrs(3)
    tokens = encode_utrs(seqs, VOCAB)
    ids, mask = torch.from_numpy(tokens.input_ids), torch.from_numpy(tokens.attention_mask)
    with torch.no_grad():
        states = model.head_inputs(ids, mask)
        torch.testing.assert_close(model.head(emb=states), model(ids, mask))
    assert states.shape == (3, model.config.max_position_embeddings - 2, 16)
    for row, seq in enumerate(seqs):  # nucleotides first, zeros after
        assert states[row, : len(seq)].abs().sum(-1).gt(0).all()
        assert states[row, len(seq) :].eq(0).all()


def test_bad_heads_and_too_long_inputs_are_refused():
    with pytest.raises(ValueError, match=r"head must be one of \('mlp', 'resnet'\)"):
        mrl_model(tiny_config(), head="cnn")
    assert HEADS == ("mlp", "resnet")
    model = mrl_model(tiny_config(max_length=12), head="resnet", head_channels=4).eval()
    with pytest.raises(ValueError, match="at most 10"):
        predict(model, ["ACGUACGUACGUACGU"])
