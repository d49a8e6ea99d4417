"""UTR-LM as a frozen backbone for other chapters: atomic checkpoints, checks, the adapter."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.chapters.ch1_embedding_cache import build_embedding_cache
from course_lib.models.utr_lm import (
    RECIPE_FILE,
    CheckpointError,
    UTRLMBackbone,
    UTRLMForPretraining,
    load_pretrained,
    mrl_model,
    read_recipe,
    save_checkpoint,
    utr_lm_config,
    utr_vocabulary,
)
from course_lib.profiles import PROFILE_NAMES

VOCAB = utr_vocabulary()
UTRS = ["ACGUACGGAUCCA", "GGGAAAUUUCCCGGGAUAUAUAGCGCAAUG", "AUG", "CCCCGGGGAAAAUUUUACGUACGU"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(seed: int = 0) -> UTRLMForPretraining:
    config = utr_lm_config(VOCAB, hidden_size=16, num_layers=2, num_heads=2, dropout=0.0)
    torch.manual_seed(seed)
    return UTRLMForPretraining(config).eval()


def siblings(folder):
    """Everything in the checkpoint's parent folder other than the checkpoint itself."""
    return sorted(p.name for p in folder.parent.iterdir() if p != folder)


def test_backbone_states_are_the_encoder_states_and_do_not_depend_on_the_batch(tmp_path):
    model = tiny_model()
    folder = save_checkpoint(model, tmp_path / "ckpt", VOCAB, recipe={"corpus": "12 toy UTRs"})
    backbone = UTRLMBackbone.from_checkpoint(folder)
    assert backbone.embed_dim == 16 and backbone.pretrained and backbone.checkpoint == folder
    assert backbone.recipe == {"corpus": "12 toy UTRs"}
    assert not any(p.requires_grad for p in backbone.model.parameters())
    batch = backbone.embed(UTRS)  # [4, 30, 16]
    assert batch.shape == (4, max(map(len, UTRS)), 16)
    for i, utr in enumerate(UTRS):
        alone = backbone.embed([utr])[0]  # [len, 16]: no padding at all
        assert torch.allclose(batch[i, : len(utr)], alone, atol=1e-5)
        assert torch.count_nonzero(batch[i, len(utr) :]) == 0
    # position j is nucleotide j: the encoder's state at token j + 1 (token 0 is <cls>)
    ids = torch.tensor([[0, *[VOCAB.tokens.index(c) for c in UTRS[0]], 2]])
    with torch.no_grad():
        hidden = model.esm(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert torch.allclose(batch[0, : len(UTRS[0])], hidden[0, 1:-1], atol=1e-5)


def test_embedding_cache_round_trips_and_its_key_follows_the_weights(tmp_path):
    backbone = UTRLMBackbone.from_checkpoint(save_checkpoint(tiny_model(0), tmp_path / "a", VOCAB))
    cache = build_embedding_cache(backbone, UTRS, "toy", tmp_path / "cache", 40, 2, False)
    expected = backbone.embed(UTRS).numpy()
    got = cache.batch(np.arange(len(UTRS)))[:, : expected.shape[1]]
    assert np.allclose(got, expected, atol=2e-3, rtol=2e-3)  # float16 on disk
    assert json.loads(cache.path.with_suffix(".json").read_text())["pretrained"] is True
    backbone.embed = None  # a second build must read the file, never run the backbone
    assert build_embedding_cache(backbone, UTRS, "toy", tmp_path / "cache", 40).path == cache.path
    other = UTRLMBackbone.from_checkpoint(save_checkpoint(tiny_model(1), tmp_path / "b", VOCAB))
    assert other.checkpoint_sha256 != backbone.checkpoint_sha256
    moved = build_embedding_cache(other, UTRS, "toy", tmp_path / "cache", 40, 2, False)
    assert moved.path != cache.path
    same = UTRLMBackbone.from_checkpoint(save_checkpoint(tiny_model(0), tmp_path / "c", VOCAB))
    assert same.checkpoint_sha256 == backbone.checkpoint_sha256


def test_a_failed_save_leaves_no_partial_folder_and_keeps_the_old_one(tmp_path, monkeypatch):
    folder = tmp_path / "ckpts" / "mlm_mfe_structure"

    def broken_write(self, where):
        raise OSError("disk full")

    monkeypatch.setattr(type(VOCAB), "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tiny_model(), folder, VOCAB)
    assert not folder.exists() and siblings(folder) == []
    monkeypatch.undo()
    save_checkpoint(tiny_model(0), folder, VOCAB, recipe={"seed": 0})
    monkeypatch.setattr(type(VOCAB), "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tiny_model(1), folder, VOCAB, recipe={"seed": 1})
    monkeypatch.undo()
    assert read_recipe(folder) == {"seed": 0} and siblings(folder) == []
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["config.json", "model.safetensors", "vocab.txt", RECIPE_FILE]
    )


def test_replace_swaps_the_folder_and_keep_leaves_the_first_writer(tmp_path):
    folder = tmp_path / "ckpt"
    save_checkpoint(tiny_model(0), folder, VOCAB, recipe={"seed": 0})
    save_checkpoint(tiny_model(1), folder, VOCAB, recipe={"seed": 1}, replace=False)
    assert read_recipe(folder) == {"seed": 0}
    save_checkpoint(tiny_model(1), folder, VOCAB, recipe={"seed": 1})
    assert read_recipe(folder) == {"seed": 1} and siblings(folder) == []
    reloaded = load_pretrained(folder)[0].state_dict()
    assert all(torch.equal(w, reloaded[k]) for k, w in tiny_model(1).state_dict().items())


def test_wrong_architecture_and_broken_folders_get_clear_errors(tmp_path):
    mrl = mrl_model(tiny_model().config, pooling="mean")
    mrl.save_pretrained(tmp_path / "mrl")
    VOCAB.write(tmp_path / "mrl")
    with pytest.raises(CheckpointError, match="UTRLMForMRL.*not a UTR-LM pretraining checkpoint"):
        load_pretrained(tmp_path / "mrl")
    folder = save_checkpoint(tiny_model(), tmp_path / "ok", VOCAB)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        UTRLMBackbone.from_checkpoint(folder)
    weights.unlink()
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        load_pretrained(folder)
    (folder / "config.json").write_text('{"hidden')
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_pretrained(folder)
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        load_pretrained(tmp_path / "absent")


TINY_TABLE = {
    "corpus_size": 60,
    "val_fraction": 0.2,
    "hidden_size": 8,
    "num_layers": 1,
    "num_heads": 2,
    "aux_corpus_size": 10,
    "pretrain_steps": 3,
    "pretrain_eval_every": 2,
    "batch_size": 16,
    "pretrain_lr": 1e-3,
    "pooling": "mean",
    "fold_processes": 1,
}


def config_with(values):
    """The backbone's configuration class with ``values`` laid over every profile."""
    from course_lib.utr_lm_backbone import BackboneConfig

    profiles = {p: {**BackboneConfig.PROFILES.get(p, {}), **values} for p in PROFILE_NAMES}
    return type("TinyBackboneConfig", (BackboneConfig,), {"PROFILES": profiles})


def test_backbone_is_built_once_in_its_recipe_folder_then_reused(tmp_data_dir, monkeypatch):
    from course_lib import utr_lm_backbone as ub
    from course_lib.weights import cached_recipes, recipe_folder

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_data_dir / "ckpts"))
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[3])
        return pretrain_variant(*args, **kwargs)

    pretrain_variant = ub.pretrain_variant
    monkeypatch.setattr(ub, "pretrain_variant", counted)
    settings = config_with(TINY_TABLE).resolve("smoke")
    path = ub.backbone_checkpoint(settings, "cpu", seed=0, verbose=False)
    recipe = ub.backbone_recipe(settings, ub.BACKBONE_OBJECTIVES, 0)
    assert path == recipe_folder("utr_lm", recipe) and calls == [ub.BACKBONE_OBJECTIVES]
    record = read_recipe(path)
    assert {k: record[k] for k in recipe} == recipe and record["built_by"] == ub.BUILT_BY
    assert record["corpus UTRs"] == 48 and record["monitoring UTRs"] == 12
    assert record["corpus provenance"] == "synthetic" and record["profile"] == "smoke"
    assert [folder for folder, _ in cached_recipes("utr_lm")] == [path]
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert ub.backbone_checkpoint(settings, "cpu", verbose=False) == path
    assert len(calls) == 1 and (path / "model.safetensors").stat().st_mtime_ns == stamp
    assert UTRLMBackbone.from_checkpoint(path).embed_dim == 8


def test_pretrain_variant_reads_its_recipe_folder_with_the_history(tmp_data_dir, monkeypatch):
    from course_lib import utr_lm_backbone as ub

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_data_dir / "ckpts"))
    settings = config_with(TINY_TABLE).resolve("smoke")
    path = ub.backbone_checkpoint(settings, "cpu", seed=0, verbose=False)
    built = read_recipe(path)
    assert len(built["pretrain history"]) >= 1
    found = ub.read_variant(path)
    assert found is not None
    model, result = found
    assert result.history.to_dict("records") == built["pretrain history"]
    assert result.best_value == built["pretrain val loss"] and result.monitor
    loaded = load_pretrained(path)[0]
    for (name, a), (_, b) in zip(
        model.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name

    def no_training(*args, **kwargs):
        raise AssertionError("a backbone whose recipe folder exists was pretrained again")

    monkeypatch.setattr(ub, "pretrain", no_training)
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert ub.backbone_checkpoint(settings, "cpu", seed=0, verbose=False) == path
    record = dict(built)
    del record["pretrain history"]  # written before histories were kept: built again
    (path / RECIPE_FILE).write_text(json.dumps(record))
    assert ub.read_variant(path) is None
    (path / "model.safetensors").write_bytes(b"truncated")
    (path / RECIPE_FILE).write_text(json.dumps(built))
    with pytest.warns(UserWarning, match="again"):
        assert ub.read_variant(path) is None
    assert (path / "model.safetensors").stat().st_mtime_ns != stamp


def test_recipes_differing_in_width_get_their_own_folders(tmp_data_dir, monkeypatch):
    import shutil

    from course_lib import utr_lm_backbone as ub

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_data_dir / "ckpts"))
    narrow = config_with(TINY_TABLE).resolve("smoke")
    wide = config_with({**TINY_TABLE, "hidden_size": 16}).resolve("smoke")
    root = tmp_data_dir / "recipes"
    paths = [ub.backbone_checkpoint(s, "cpu", root=root, verbose=False) for s in (narrow, wide)]
    assert paths[0] != paths[1] and {p.parent for p in paths} == {root}
    assert [UTRLMBackbone.from_checkpoint(p).embed_dim for p in paths] == [8, 16]
    assert [read_recipe(p)["hidden_size"] for p in paths] == [8, 16]
    shutil.rmtree(paths[1])
    shutil.copytree(paths[0], paths[1])  # another recipe's weights in the wide recipe's folder
    with pytest.warns(UserWarning, match="width 8, 1 layers.*asks for width 16.*again"):
        rebuilt = ub.backbone_checkpoint(wide, "cpu", root=root, verbose=False)
    assert rebuilt == paths[1] and UTRLMBackbone.from_checkpoint(rebuilt).embed_dim == 16


def test_chapter_5_resolves_the_backbones_values():
    from course_lib.chapters.ch5_config import Ch5Config
    from course_lib.utr_lm_backbone import RECIPE_FIELDS, BackboneConfig

    for profile in PROFILE_NAMES:
        for tiny in (False, True):
            ch5 = Ch5Config.resolve(profile, tiny=tiny)
            backbone = BackboneConfig.resolve(profile, tiny=tiny)
            assert {k: ch5[k] for k in RECIPE_FIELDS} == {k: backbone[k] for k in RECIPE_FIELDS}


# ---------------------------------------------------------------- chapter 1's second backbone


def test_an_embedding_input_type_names_one_backbone():
    from course_lib.models.utr_resnet import Human5PrimeUTRPredictor, embedding_type

    assert embedding_type(("seq", "emb-utrlm")) == "emb-utrlm"
    assert embedding_type(("seq",)) is None
    for bad in (("emb-rnafm", "emb-utrlm"), ("emb-esm",), ()):
        with pytest.raises(ValueError, match="at most one embedding type"):
            embedding_type(bad)
    model = Human5PrimeUTRPredictor(("seq", "emb-utrlm"), embed_dim=16, channels=4)
    assert model.reduction.in_features == 16
    with pytest.raises(ValueError, match="'emb-utrlm': pass emb"):
        model(seq=torch.zeros(2, 30, 4))


def test_utr_lm_heads_train_on_their_own_cache_in_the_cv_protocol(tmp_path):
    from course_lib.chapters.ch1_utr_rnafm import (
        UTRLM_HEADS,
        cv_folds,
        head_predictions,
        model_name,
        train_heads,
    )
    from course_lib.utr_protocol import real_utr_protocol

    rng = np.random.default_rng(0)
    rows = [
        {"utr": "".join(rng.choice(list("ACGT"), length)), "set": name}
        for name in ("random", "human")
        for length in range(25, 101)
        for _ in range(4)
    ]
    table = pd.DataFrame(rows).drop_duplicates("utr")
    table = table.assign(len=table["utr"].str.len(), rl=table["utr"].str.count("G") / 10)
    protocol = real_utr_protocol(table.reset_index(drop=True), n_folds=2, n_points=3)
    backbone = UTRLMBackbone.from_checkpoint(save_checkpoint(tiny_model(), tmp_path / "c", VOCAB))
    utrs = [*protocol.random["utr"], *protocol.human["utr"]]
    cache = build_embedding_cache(backbone, utrs, "toy/all", tmp_path, show_progress=False)
    train = dict(channels=4, epochs=1, batch_size=64, device="cpu", seed=0, show_progress=False)
    heads = train_heads(cv_folds(protocol, cache), UTRLM_HEADS, embed_dim=16, **train)
    assert sorted({fh.name for fh in heads}) == ["emb-utrlm", "seq+emb-utrlm"]
    assert all(fh.run.model.reduction.in_features == 16 for fh in heads)
    tables = {"Random7600": protocol.random, "Human7600": protocol.human}
    predictions = head_predictions(heads, tables, "cv")
    assert set(predictions) == {model_name(h, "cv") for h in UTRLM_HEADS}
    assert all(
        np.isfinite(p).all() and len(p) == len(tables[n])
        for n, p in predictions[model_name("emb-utrlm", "cv")].items()
    )
