"""Tests of the RNA-FM loader and the on-disk embedding cache, on tiny real-format checkpoints."""

import argparse

import numpy as np
import pytest
import torch

from course_lib.chapters import ch1_embedding_cache as ec
from course_lib.models import rnafm
from course_lib.models.checkpoint import CheckpointError

SEQS = ["ACGU", "ACGTACGTAA", "GGGCCCAUGA", "A" * 12, "CUGA"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    # a name without "RNA-FM": fm.pretrained would then demand a contact-regression file
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    return rnafm.build_small_rnafm(
        path, layers=2, embed_dim=16, ffn_embed_dim=32, attention_heads=2
    )


@pytest.fixture(scope="module")
def backbone(checkpoint):
    return rnafm.load_rnafm(checkpoint)


def test_checkpoint_has_the_real_format(checkpoint):
    with torch.serialization.safe_globals([argparse.Namespace]):
        data = torch.load(checkpoint, weights_only=True)
    assert set(data) == {"args", "model"}
    args = data["args"]
    assert isinstance(args, argparse.Namespace) and args.arch == "roberta_large"
    assert (args.encoder_layers, args.encoder_embed_dim, args.encoder_attention_heads) == (2, 16, 2)
    keys = list(data["model"])
    assert "encoder.sentence_encoder.embed_tokens.weight" in keys
    assert "encoder.sentence_encoder.layers.1.fc2.weight" in keys
    assert "encoder.lm_head.dense.weight" in keys
    assert not any("contact_head" in k for k in keys)


def test_loader_keeps_weights_and_freezes(checkpoint, backbone):
    with torch.serialization.safe_globals([argparse.Namespace]):
        state = torch.load(checkpoint, weights_only=True)["model"]
    loaded = backbone.model.layers[1].fc2.weight
    assert torch.equal(loaded, state["encoder.sentence_encoder.layers.1.fc2.weight"])
    assert not backbone.pretrained
    assert (backbone.embed_dim, backbone.num_layers) == (16, 2)
    assert not any(p.requires_grad for p in backbone.model.parameters())
    assert not backbone.model.training
    assert len(backbone.checkpoint_sha256) == 64


def test_missing_checkpoint_explains_and_never_downloads(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    with pytest.raises(FileNotFoundError, match=r"RNA-FM_pretrained\.pth.*proj\.cse\.cuhk"):
        rnafm.load_rnafm(tmp_path / "RNA-FM_pretrained.pth")


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="'args'"):
        rnafm.load_rnafm(path)


def test_tokenize_matches_fm_batch_converter(backbone):
    tokens, lengths = backbone.tokenize(SEQS)
    _, _, expected = backbone.alphabet.get_batch_converter()(
        [(str(i), s.replace("T", "U")) for i, s in enumerate(SEQS)]
    )
    assert torch.equal(tokens, expected)
    assert lengths.tolist() == [len(s) for s in SEQS]


def test_embeddings_do_not_depend_on_batch_padding(backbone):
    alone = backbone.embed(["ACGU"])
    batched = backbone.embed(SEQS)
    assert batched.shape == (5, 12, 16)
    assert torch.allclose(alone[0], batched[0, :4], atol=1e-5)
    assert batched[0, 4:].abs().sum() == 0


def test_get_backbone_builds_small_model_once(tmp_path):
    first = rnafm.get_backbone(
        None, tmp_path, layers=1, embed_dim=8, ffn_embed_dim=16, attention_heads=2
    )
    second = rnafm.get_backbone(
        None, tmp_path, layers=1, embed_dim=8, ffn_embed_dim=16, attention_heads=2
    )
    assert first.checkpoint == second.checkpoint
    assert first.checkpoint_sha256 == second.checkpoint_sha256
    assert "UNTRAINED" in first.describe()


def test_left_align_exact():
    batch = np.arange(1, 13, dtype=np.float32).reshape(2, 3, 2)
    batch[0, 2] = 0  # row 0 has length 2
    out = ec.left_align(batch, np.array([2, 3]))
    assert out[0].tolist() == [[0, 0], [1, 2], [3, 4]]
    assert out[1].tolist() == batch[1].tolist()


def test_cache_matches_backbone_and_is_reused(backbone, tmp_path, monkeypatch):
    cache = ec.build_embedding_cache(
        backbone, SEQS, "toy/train", tmp_path, max_len=12, batch_size=2, show_progress=False
    )
    assert cache.array.dtype == np.float16 and cache.array.shape == (5, 12, 16)
    direct = backbone.embed(SEQS).numpy()
    np.testing.assert_allclose(cache.batch(np.arange(5)), direct, atol=2e-2, rtol=1e-2)

    def fail(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(type(backbone), "embed", fail)
    again = ec.build_embedding_cache(backbone, SEQS, "toy/train", tmp_path, max_len=12)
    assert again.path == cache.path
    other = ec.cache_key("toy/train", backbone.checkpoint_sha256, SEQS[:4], 12)
    assert other != cache.path.stem
    assert ec.cache_key("toy/train", "0" * 64, SEQS, 12) != cache.path.stem


def test_batches_from_cache_equal_recomputed(backbone, tmp_path):
    cache = ec.build_embedding_cache(
        backbone, SEQS, "toy/val", tmp_path, max_len=12, show_progress=False
    )
    labels = np.arange(5, dtype=np.float32)
    for padding in ("right", "left"):
        kw = {"input_types": ("seq", "emb-rnafm"), "padding": padding, "max_len": 12}
        cached = ec.UTRBatches(SEQS, labels, embeddings=cache, **kw).batch(np.array([3, 0, 1]))
        live = ec.UTRBatches(SEQS, labels, embeddings=backbone, **kw).batch(np.array([0, 1, 3]))
        np.testing.assert_allclose(cached[0]["emb"], live[0]["emb"], atol=2e-2, rtol=1e-2)
        assert torch.equal(cached[0]["seq"], live[0]["seq"])
        assert cached[1].tolist() == [0, 1, 3]
    left = ec.UTRBatches(SEQS, labels, ("seq",), padding="left", max_len=12).batch(np.array([0]))
    assert left[0]["seq"][0, :8].sum() == 0 and left[0]["seq"][0, 8:].sum() == 4


def test_cache_rows_are_views_of_one_file(backbone, tmp_path):
    cache = ec.build_embedding_cache(
        backbone, SEQS, "toy/take", tmp_path, max_len=12, show_progress=False
    )
    part = cache.take(np.array([4, 1, 3]))
    assert part.path == cache.path and len(part) == 3 and part.lengths.tolist() == [4, 10, 12]
    np.testing.assert_array_equal(part.batch(np.arange(3)), cache.batch(np.array([4, 1, 3])))
    inner = part.take(np.array([2, 0]))  # a view of a view reads the file's rows 3 and 4
    np.testing.assert_array_equal(inner.batch(np.arange(2), "left"), cache.batch([3, 4], "left"))
    labels = np.zeros(3, dtype=np.float32)
    batches = ec.UTRBatches([SEQS[i] for i in (4, 1, 3)], labels, ("emb-rnafm",), part, max_len=12)
    np.testing.assert_array_equal(batches.batch(np.arange(3))[0]["emb"], part.batch(np.arange(3)))
    with pytest.raises(IndexError, match="1-d index"):
        cache.take(np.array([5]))


def test_batches_check_inputs(tmp_path):
    with pytest.raises(ValueError, match="needs an EmbeddingCache"):
        ec.UTRBatches(SEQS, np.zeros(5), ("emb-rnafm",))
    with pytest.raises(ValueError, match="subset"):
        ec.UTRBatches(SEQS, np.zeros(5), ("kmer",))
    loader = ec.UTRBatches(SEQS, np.zeros(5), ("seq",), batch_size=2, shuffle=True, max_len=12)
    assert len(loader) == 3 and sum(len(t) for _, t in loader) == 5
