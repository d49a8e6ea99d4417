"""Tests of UTR-LM: tokens, the ESM-style model, pretraining, fine-tuning (chapter 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.chapters.ch5_config import Ch5Config
from course_lib.chapters.ch5_mrl_finetuning import (
    FinetuneRecipe,
    evaluate_mrl,
    regression_loss,
    train_steps,
)
from course_lib.metrics import linear_probe_r2, pearson_r
from course_lib.models.utr_lm import (
    UTRLMForMRL,
    UTRLMForPretraining,
    embed_utrs,
    encode_utrs,
    load_pretrained,
    mrl_model,
    pool_hidden,
    save_checkpoint,
    set_mfe_scale,
    utr_lm_config,
    utr_vocabulary,
)
from course_lib.plotting import project_2d
from course_lib.pretraining import (
    PretrainingData,
    check_objectives,
    predict_mfe,
    pretrain,
    pretraining_losses,
    structure_targets,
)
from course_lib.report import Anchor
from course_lib.results import results_comparison_table
from course_lib.structure import fold_sequences
from course_lib.token_batches import LengthBucketSampler, collate_trimmed, mrl_loader
from course_lib.tokenization import IGNORE_INDEX
from course_lib.training import warmup_linear_schedule

VOCAB = utr_vocabulary()


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models train fastest on one thread (and never oversubscribe a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(**kwargs):
    base = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "max_length": 64, "dropout": 0.0}
    return utr_lm_config(VOCAB, **{**base, **kwargs})


def random_utrs(n: int, lo: int = 20, hi: int = 40, seed: int = 0, gc=None) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        g = rng.uniform(0.15, 0.85) if gc is None else gc
        p = [(1 - g) / 2, g / 2, g / 2, (1 - g) / 2]
        out.append("".join(rng.choice(list("ACGT"), rng.integers(lo, hi + 1), p=p)))
    return out


def test_vocabulary_and_encoding_exact():
    assert VOCAB.tokens == ("<cls>", "<pad>", "<eos>", "<unk>", "A", "C", "G", "U", "<mask>")
    batch = encode_utrs(["ACGT", "ACGU", "GA"], VOCAB)
    assert batch.input_ids.tolist() == [
        [0, 4, 5, 6, 7, 2],
        [0, 4, 5, 6, 7, 2],
        [0, 6, 4, 2, 1, 1],
    ]
    assert batch.attention_mask[2].tolist() == [1, 1, 1, 1, 0, 0]
    with pytest.raises(ValueError):
        encode_utrs(["ACGX"], VOCAB)


def test_config_is_esm2_style():
    config = utr_lm_config(VOCAB)
    assert config.position_embedding_type == "rotary"
    assert not config.emb_layer_norm_before and not config.token_dropout
    assert (config.num_hidden_layers, config.num_attention_heads, config.hidden_size) == (
        6,
        16,
        128,
    )
    assert config.intermediate_size == 512 and config.vocab_size == 9
    assert (config.pad_token_id, config.mask_token_id, config.cls_token_id) == (1, 8, 0)
    assert Ch5Config.resolve("full").num_layers == 6
    with pytest.raises(ValueError, match="divisible"):
        utr_lm_config(VOCAB, hidden_size=30, num_heads=4)
    with pytest.raises(ValueError, match="pooling"):
        utr_lm_config(VOCAB, pooling="max")


def test_structure_targets_align_with_tokens():
    targets = structure_targets(["(.)", "."], width=6)
    assert targets.tolist() == [
        [-100, 0, 2, 1, -100, -100],
        [-100, 2, -100, -100, -100, -100],
    ]
    with pytest.raises(ValueError, match="wide"):
        structure_targets(["((..))"], width=7)


def test_pretraining_model_shapes_and_mfe_scale():
    config = set_mfe_scale(tiny_config(), np.array([-10.0, -20.0]))
    assert (config.mfe_mean, config.mfe_std) == (-15.0, 5.0)
    model = UTRLMForPretraining(config).eval()
    batch = encode_utrs(random_utrs(3), VOCAB)
    out = model(torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask))
    n, t = batch.input_ids.shape
    assert out.hidden.shape == (n, t, 32)
    assert out.mlm_logits.shape == (n, t, 9)
    assert out.structure_logits.shape == (n, t, 3)
    assert out.mfe.shape == (n,)
    np.testing.assert_allclose(model.mfe_kcal(np.array([0.0, 1.0])), [-15.0, -10.0])


def test_pooling_exact_on_hand_built_hidden_states():
    config = tiny_config()
    ids = torch.tensor([[0, 4, 5, 2, 1], [0, 6, 7, 7, 2]])
    mask = (ids != 1).long()
    hidden = torch.arange(10, dtype=torch.float32).reshape(2, 5, 1).repeat(1, 1, 2)
    assert pool_hidden(hidden, ids, mask, config, "cls")[:, 0].tolist() == [0.0, 5.0]
    assert pool_hidden(hidden, ids, mask, config, "mean")[:, 0].tolist() == [1.5, 7.0]


def test_padding_does_not_change_embeddings():
    torch.manual_seed(0)
    model = mrl_model(tiny_config(), pooling="mean").eval()
    seqs = random_utrs(4)
    narrow = encode_utrs(seqs, VOCAB)
    wide = encode_utrs(seqs, VOCAB, max_length=60)
    a = embed_utrs(model, narrow, pooling="mean", device="cpu")
    b = embed_utrs(model, wide, pooling="mean", device="cpu")
    np.testing.assert_allclose(a, b, atol=1e-5)
    with torch.no_grad():
        full = model(torch.from_numpy(wide.input_ids), torch.from_numpy(wide.attention_mask))
    assert full.shape == (4,)


def test_losses_follow_the_objectives():
    config = set_mfe_scale(tiny_config(), np.array([-1.0, -3.0]))
    model = UTRLMForPretraining(config)
    seqs = random_utrs(4)
    data = PretrainingData.from_sequences(seqs, VOCAB, fold_sequences(seqs, show_progress=False))
    batch = collate_trimmed([data[i] for i in range(4)])
    out = model(batch["input_ids"], batch["attention_mask"])
    assert set(pretraining_losses(out, batch, ("mfe",), config)) == {"mfe"}
    assert set(pretraining_losses(out, batch, ("structure",), config)) == {"structure"}
    labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
    losses = pretraining_losses(out, {**batch, "mlm_labels": labels}, ("mlm",), config)
    assert losses["mlm"].item() == 0.0  # nothing masked: a zero, not NaN
    assert check_objectives(["structure", "mlm", "mlm"]) == ("mlm", "structure")
    with pytest.raises(ValueError, match="subset"):
        check_objectives(["mlm", "contacts"])
    with pytest.raises(ValueError, match="subset"):
        check_objectives([])


def test_pretrain_refuses_structure_objective_without_labels():
    data = PretrainingData.from_sequences(random_utrs(8), VOCAB)
    model = UTRLMForPretraining(tiny_config())
    with pytest.raises(ValueError, match="ViennaRNA labels"):
        pretrain(model, VOCAB, data, data, objectives=("mlm", "structure"), epochs=1)


def test_fold_must_match_sequences():
    seqs = random_utrs(3)
    fold = fold_sequences(seqs[::-1], show_progress=False)
    with pytest.raises(ValueError, match="does not match"):
        PretrainingData.from_sequences(seqs, VOCAB, fold)


def test_mlm_learns_a_periodic_rule():
    """In UTRs made of 'ACGU' repeats, every masked nucleotide follows from its neighbours."""
    rng = np.random.default_rng(1)
    starts, lengths = rng.integers(0, 4, 200), rng.integers(20, 33, 200)
    seqs = [("ACGU" * 12)[p : p + n] for p, n in zip(starts, lengths, strict=True)]
    train = PretrainingData.from_sequences(seqs[:160], VOCAB)
    val = PretrainingData.from_sequences(seqs[160:], VOCAB)
    torch.manual_seed(0)
    model = UTRLMForPretraining(tiny_config())
    result = pretrain(
        model,
        VOCAB,
        train,
        val,
        objectives=("mlm",),
        epochs=8,
        batch_size=16,
        lr=3e-3,
        device="cpu",
        show_progress=False,
    )
    history = result.history
    assert list(history.columns[:5]) == ["epoch", "train_loss", "val_loss", "train_mlm", "val_mlm"]
    assert history["val_mlm_accuracy"].iloc[-1] > 0.6  # chance: about 0.25
    assert history["val_loss"].iloc[-1] < history["val_loss"].iloc[0]


def test_mfe_and_structure_heads_learn():
    """MFE follows GC content closely; the CLS head must pick that up quickly."""
    seqs = random_utrs(360, lo=20, hi=30, seed=2)
    fold = fold_sequences(seqs, show_progress=False)
    config = set_mfe_scale(tiny_config(), fold.mfe[:300])
    train = PretrainingData.from_sequences(
        seqs[:300], VOCAB, fold_sequences(seqs[:300], show_progress=False)
    )
    val = PretrainingData.from_sequences(
        seqs[300:], VOCAB, fold_sequences(seqs[300:], show_progress=False)
    )
    torch.manual_seed(0)
    model = UTRLMForPretraining(config)
    result = pretrain(
        model,
        VOCAB,
        train,
        val,
        objectives=("mfe", "structure"),
        epochs=6,
        batch_size=32,
        lr=3e-3,
        device="cpu",
        show_progress=False,
    )
    assert "train_mlm" not in result.history
    predicted = predict_mfe(model, val, device="cpu")
    assert pearson_r(fold.mfe[300:], predicted) > 0.6
    # the structure head must beat the best position-blind guess: the class frequencies
    labels = np.concatenate([fold.labels(i) for i in range(300, 360)])
    freq = np.bincount(labels, minlength=3) / labels.size
    prior_loss = float(-(freq * np.log(freq)).sum())
    assert result.history["val_structure"].iloc[-1] < prior_loss - 0.03


def test_checkpoint_round_trips_and_feeds_the_mrl_model(tmp_path):
    torch.manual_seed(0)
    model = UTRLMForPretraining(set_mfe_scale(tiny_config(), np.array([-2.0, -4.0]))).eval()
    folder = save_checkpoint(model, tmp_path / "pretrained", VOCAB)
    assert {"config.json", "model.safetensors", "vocab.txt"} <= {p.name for p in folder.iterdir()}
    reloaded, vocab = load_pretrained(folder)
    assert vocab.tokens == VOCAB.tokens and reloaded.config.mfe_mean == -3.0
    batch = encode_utrs(random_utrs(3), VOCAB)
    ids, mask = torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask)
    with torch.no_grad():
        before, after = model(ids, mask), reloaded.eval()(ids, mask)
    torch.testing.assert_close(before.mlm_logits, after.mlm_logits)
    torch.testing.assert_close(before.mfe, after.mfe)

    regressor = mrl_model(folder, pooling="mean", head_hidden=8)
    assert regressor.config.pooling == "mean"
    for name, tensor in model.esm.state_dict().items():
        torch.testing.assert_close(regressor.esm.state_dict()[name], tensor)
    regressor.eval()
    regressor.save_pretrained(tmp_path / "mrl")
    again = UTRLMForMRL.from_pretrained(tmp_path / "mrl").eval()
    assert again.config.pooling == "mean" and again.config.head_hidden == 8
    with torch.no_grad():
        torch.testing.assert_close(regressor(ids, mask), again(ids, mask))
    with pytest.raises(FileNotFoundError, match="config.json"):
        mrl_model(tmp_path / "missing")


def gc_task(n: int, seed: int):
    seqs = random_utrs(n, seed=seed)
    y = np.array([(s.count("G") + s.count("C")) / len(s) for s in seqs])
    return seqs, ((y - 0.5) / 0.2).astype(np.float32)


def test_finetuning_learns_a_planted_rule_and_frozen_backbone_stays_fixed():
    seqs, y = gc_task(320, seed=3)
    tokens = encode_utrs(seqs, VOCAB)
    train = mrl_loader(
        type(tokens)(tokens.input_ids[:256], tokens.attention_mask[:256]),
        y[:256],
        batch_size=32,
        shuffle=True,
    )
    val = mrl_loader(type(tokens)(tokens.input_ids[256:], tokens.attention_mask[256:]), y[256:])
    torch.manual_seed(0)
    model = mrl_model(tiny_config(), pooling="mean", head_hidden=16, head_dropout=0.0)
    recipe = FinetuneRecipe(lr=3e-3, steps=8 * len(train), eval_every=len(train), loss="mse")
    result = train_steps(model, train, val, recipe, device="cpu", show_progress=False)
    assert "val_R2" in result.history
    metrics = evaluate_mrl(model, {"held-out": val}, lambda v: v * 0.2 + 0.5, device="cpu")
    assert metrics["held-out"]["Pearson r"] > 0.8 and metrics["held-out"]["n"] == 64

    torch.manual_seed(0)
    frozen = mrl_model(tiny_config(), pooling="cls", freeze_backbone=True)
    backbone = {k: v.clone() for k, v in frozen.esm.state_dict().items()}
    head = {k: v.clone() for k, v in frozen.head.state_dict().items()}
    recipe = FinetuneRecipe(lr=1e-3, frozen_steps=len(train), steps=len(train), eval_every=4)
    train_steps(frozen, train, val, recipe, device="cpu", show_progress=False)
    frozen.train()
    assert not frozen.esm.training and frozen.head.training
    for k, v in frozen.esm.state_dict().items():
        torch.testing.assert_close(v, backbone[k])
    assert any(not torch.equal(v, head[k]) for k, v in frozen.head.state_dict().items())


def test_length_buckets_cover_every_index_once_and_trim():
    lengths = np.random.default_rng(0).integers(5, 50, 203)
    sampler = LengthBucketSampler(lengths, batch_size=16, seed=0, window=4)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 13
    assert sorted(i for b in batches for i in b) == list(range(203))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < np.ptp(lengths) / 2
    tokens = encode_utrs(["ACG", "A", "ACGUA"], VOCAB, max_length=12)
    inputs, target = collate_trimmed(
        [
            (
                {
                    "input_ids": torch.from_numpy(tokens.input_ids[i]),
                    "attention_mask": torch.from_numpy(tokens.attention_mask[i]),
                },
                torch.tensor(1.0),
            )
            for i in (0, 1)
        ]
    )
    assert inputs["input_ids"].shape == (2, 5) and target.shape == (2,)
    with pytest.raises(ValueError, match="batch_size"):
        LengthBucketSampler(lengths, batch_size=0)


def test_warmup_then_linear_decay_to_a_tenth():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = warmup_linear_schedule(optimizer, total_steps=20, warmup_fraction=0.1)
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    np.testing.assert_allclose(lrs[:4], [0.5, 1.0, 1.0, 1.0 - 0.9 / 18])
    assert lrs[-1] == pytest.approx(1.0 - 0.9 * 17 / 18)
    schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)  # the floor
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:], strict=False))


def test_loss_names_and_projection():
    assert isinstance(regression_loss("huber"), torch.nn.HuberLoss)
    assert isinstance(regression_loss("mse"), torch.nn.MSELoss)
    with pytest.raises(ValueError, match="loss"):
        regression_loss("mae")
    points = project_2d(np.random.default_rng(0).normal(size=(20, 5)), "pca")
    assert points.shape == (20, 2)
    with pytest.raises(ValueError, match="method"):
        project_2d(points, "tsne")


def test_linear_probe_finds_a_linear_signal_and_not_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    assert linear_probe_r2(x, x @ np.arange(8.0) + rng.normal(size=200) * 0.1) > 0.95
    assert linear_probe_r2(x, rng.normal(size=200)) < 0.1
    with pytest.raises(ValueError, match="matching"):
        linear_probe_r2(x, np.zeros(5))


def test_comparison_table_reads_results_and_anchors():
    own = {"no pretraining": {"Random7600": {"R2": 0.5, "Pearson r": 0.7, "Spearman rho": 0.6}}}
    records = {
        "01_utr_rnafm": {
            "provenance": "synthetic",
            "profile": "smoke",
            "metrics": {
                "seq": {
                    "Random7600": {
                        "scaled": {"R2": 0.4, "Pearson r": 0.65},
                        "MRL": {"R2": 0.4, "Pearson r": 0.65},
                    },
                    "val": {"R2": 0.9},
                }
            },
        }
    }
    anchors = [Anchor("Optimus 5-Prime, Random7600", 0.838, "Pearson r^2", "paper", "Sample 2019")]
    table = results_comparison_table(own, records, anchors, provenance="synthetic", profile="smoke")
    assert list(table["source"]) == ["this chapter", "01_utr_rnafm", "anchor"]
    assert table.loc[1, "model"] == "seq" and table.loc[1, "split"] == "Random7600 / MRL"
    assert table.loc[1, "R2"] == 0.4
    assert np.isnan(table.loc[2, "R2"]) and table.loc[2, "Pearson r^2"] == 0.838
    assert isinstance(table, pd.DataFrame)
