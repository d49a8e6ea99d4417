"""Tests of the BERT models: config, DNABERT recipe, MLM pretraining, checkpoints, chapter 3."""

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.chapters.ch3_config import Ch3Config
from course_lib.cross_validation import cross_validate, neural_fold_trainer, stratified_folds
from course_lib.kmer_pretraining import pretrain_masked_kmers
from course_lib.models.bert import (
    bert_classifier,
    bert_logit,
    load_dnabert,
    small_bert_config,
    transfer_encoder,
)
from course_lib.profiles import PROFILE_NAMES
from course_lib.tokenization import build_vocabulary
from course_lib.training import dnabert_optimizer

VOCAB = build_vocabulary(3)


def tiny_config(**kwargs):
    return small_bert_config(VOCAB, 32, 2, 2, 64, max_length=64, **kwargs)


def test_every_profile_tokenizes_3_mers():
    for profile in PROFILE_NAMES:
        settings = Ch3Config.resolve(profile)
        assert settings.k == 3 and settings.n_folds >= 3
    assert Ch3Config.resolve("full").bert_lr == 2e-4


def test_small_config_and_logit():
    config = tiny_config()
    assert config.vocab_size == 69 and config.pad_token_id == 0 and config.num_labels == 2
    with pytest.raises(ValueError, match="divisible"):
        small_bert_config(VOCAB, 30, 2, 4, 64)
    model = bert_classifier(config).eval()
    batch = VOCAB.encode(["ACGTACGTAC", "TTTTGGGA"]).to_torch()
    logit = bert_logit(model, batch)
    full = model(**batch).logits
    assert logit.shape == (2,)
    torch.testing.assert_close(logit, full[:, 1] - full[:, 0])
    # BCE on the logit difference is the two-class cross-entropy DNABERT trains with
    target = torch.tensor([1.0, 0.0])
    bce = nn.functional.binary_cross_entropy_with_logits(logit, target)
    torch.testing.assert_close(bce, nn.functional.cross_entropy(full, target.long()))


def test_dnabert_optimizer_schedule_and_decay_groups():
    model = bert_classifier(tiny_config())
    optimizer, scheduler = dnabert_optimizer(model, total_steps=100, lr=2e-4)
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(
        n.endswith("bias") or "LayerNorm" in n for n in map(names.get, map(id, no_decay["params"]))
    )
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(2e-5) and lrs[9] == pytest.approx(2e-4)
    assert lrs[55] == pytest.approx(2e-4 * 45 / 90) and lrs[-1] == pytest.approx(2e-4 / 90)
    assert max(lrs) == pytest.approx(2e-4)


def test_mlm_pretraining_learns_and_transfers():
    rng = np.random.default_rng(0)
    patterns = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(4)]
    batch = VOCAB.encode([patterns[i] for i in rng.integers(0, 4, 256)]).to_torch()
    config = tiny_config(dropout=0.0)
    mlm, result = pretrain_masked_kmers(
        config,
        batch["input_ids"],
        batch["attention_mask"],
        VOCAB,
        steps=48,
        batch_size=32,
        lr=3e-3,
        log_every=8,
        show_progress=False,
    )
    history = result.history
    assert list(history.columns) == ["step", "mlm_loss", "masked_accuracy"]
    assert history.mlm_loss.iloc[-1] < history.mlm_loss.iloc[0]
    assert history.masked_accuracy.iloc[-1] > 0.3  # chance is 1/64
    clf = bert_classifier(config)
    transfer_encoder(mlm, clf)
    torch.testing.assert_close(
        clf.bert.embeddings.word_embeddings.weight, mlm.bert.embeddings.word_embeddings.weight
    )
    other = bert_classifier(small_bert_config(VOCAB, 64, 2, 2, 64, max_length=64))
    with pytest.raises(RuntimeError):
        transfer_encoder(mlm, other)


def test_small_bert_learns_planted_kmer_rule():
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACG"), 16)) for _ in range(240)]
    labels = np.arange(240) % 2
    seqs = [s[:6] + "TTT" + s[9:] if y else s for s, y in zip(seqs, labels, strict=True)]
    tokens = VOCAB.encode(seqs).to_torch()
    trainer = neural_fold_trainer(
        lambda: bert_classifier(tiny_config()),
        tokens,
        labels,
        epochs=4,
        batch_size=32,
        forward=bert_logit,
        grad_clip=1.0,
        show_progress=False,
        optimizer_factory=lambda m, steps: dnabert_optimizer(m, steps, lr=2e-3),
    )
    result = cross_validate("BERT", trainer, labels, stratified_folds(labels, 3)[:1])
    assert result.folds[0].metrics["ROC AUC"] > 0.9


def _save_checkpoint(folder, weights="bin"):
    from transformers import BertForMaskedLM

    model = BertForMaskedLM(tiny_config())
    folder.mkdir(parents=True, exist_ok=True)
    if weights == "bin":  # the layout of zhihan1996/DNA_bert_3
        model.config.save_pretrained(folder)
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    else:
        model.save_pretrained(folder)
    VOCAB.write(folder)
    return model


@pytest.mark.parametrize("weights", ["bin", "safetensors"])
def test_load_dnabert_checkpoint_folder(tmp_path, weights):
    saved = _save_checkpoint(tmp_path / "DNA_bert_3", weights)
    model, vocab = load_dnabert(tmp_path / "DNA_bert_3")
    assert vocab.k == 3 and vocab.tokens == VOCAB.tokens
    assert type(model).__name__ == "BertForSequenceClassification"
    torch.testing.assert_close(
        model.bert.encoder.layer[0].attention.self.query.weight,
        saved.bert.encoder.layer[0].attention.self.query.weight,
    )
    assert bert_logit(model.eval(), vocab.encode(["ACGTTGCA"]).to_torch()).shape == (1,)


def test_load_dnabert_missing_files_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="zhihan1996/DNA_bert_3"):
        load_dnabert(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="no DNABERT checkpoint folder"):
        load_dnabert(None)
    VOCAB.write(tmp_path / "partial")
    with pytest.raises(
        FileNotFoundError, match=r"config.json, model.safetensors or pytorch_model.bin"
    ):
        load_dnabert(tmp_path / "partial")


def test_local_context_embedding_sees_exactly_its_kernel():
    from course_lib.models.bert import LocalContextEmbedding

    torch.manual_seed(0)
    layer = LocalContextEmbedding(10, 4, kernel=7, padding_idx=0).eval()
    ids = torch.full((1, 15), 3)
    changed = ids.clone()
    changed[0, 10] = 5
    moved = (layer(changed) - layer(ids)).abs().sum(-1)[0] > 0
    assert moved.nonzero().flatten().tolist() == list(range(7, 14))  # position 10 +- 3
    with pytest.raises(ValueError, match="odd"):
        LocalContextEmbedding(10, 4, kernel=4, padding_idx=0)


def test_masked_lm_with_local_context_ties_saves_and_loads(tmp_path):
    from course_lib.models.bert import LocalContextEmbedding, load_masked_lm, masked_lm

    config = small_bert_config(VOCAB, 16, 1, 2, 16, max_length=32, local_kernel=5)
    model = masked_lm(config).eval()
    embedding = model.bert.embeddings.word_embeddings
    assert isinstance(embedding, LocalContextEmbedding)
    assert model.cls.predictions.decoder.weight is embedding.weight
    model.save_pretrained(tmp_path / "mlm")
    loaded = load_masked_lm(tmp_path / "mlm")
    ids = torch.randint(5, len(VOCAB), (2, 12))
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits)
    plain = masked_lm(small_bert_config(VOCAB, 16, 1, 2, 16, max_length=32))
    plain.save_pretrained(tmp_path / "plain")
    assert not isinstance(
        load_masked_lm(tmp_path / "plain").bert.embeddings.word_embeddings, LocalContextEmbedding
    )
    with pytest.raises(ValueError, match="transfer|encoders differ"):
        transfer_encoder(plain, bert_classifier(config))


def test_load_masked_lm_refuses_weights_of_another_model(tmp_path):
    import json

    from course_lib.models.bert import load_masked_lm, masked_lm

    config = small_bert_config(VOCAB, 16, 1, 2, 16, max_length=32, local_kernel=5)
    masked_lm(config).save_pretrained(tmp_path)
    settings = json.loads((tmp_path / "config.json").read_text())
    settings["local_context_kernel"] = 0  # the file holds a convolution the config lacks
    (tmp_path / "config.json").write_text(json.dumps(settings))
    with pytest.raises(ValueError, match="another model"):
        load_masked_lm(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"not weights" * 10)
    with pytest.raises(ValueError, match="not a weights file"):
        load_masked_lm(tmp_path)
