"""Faulty and interrupted writes: nothing half-written is read; errors name the folder."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from course_lib.atomic import WriteFailed, atomic_path, write_text_atomic
from course_lib.structure import fold_cached, sequence_set_key

SEQS = ["GGGAAACCC", "ACGUACGUAAGG", "GGGAAACCC"]


def _full_disk(*args, **kwargs):
    """A write that fails part-way, as on a full disk: some bytes written, then ENOSPC."""
    Path(args[0]).write_bytes(b"PK\x03\x04 half")
    raise OSError(errno.ENOSPC, "No space left on device")


def test_an_atomic_write_replaces_the_file_whole_or_leaves_it_unchanged(tmp_path):
    target = tmp_path / "results" / "chapter.json"
    write_text_atomic(target, '{"r": 1}')
    with pytest.raises(RuntimeError), atomic_path(target) as part:
        part.write_text('{"r": 2, "half')
        raise RuntimeError("kernel interrupted")
    assert json.loads(target.read_text()) == {"r": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["chapter.json"], "no part left"


def test_a_failed_write_names_the_folder_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez_compressed", _full_disk)
    with pytest.raises(WriteFailed) as err:
        fold_cached(SEQS, cache_dir=tmp_path, processes=1, show_progress=False)
    assert str(tmp_path) in str(err.value) and "No space left on device" in str(err.value)
    assert "Nothing was left half-written" in str(err.value)
    assert list(tmp_path.iterdir()) == [], "no partial cache file"


def test_a_corrupted_folding_cache_is_reported_and_rebuilt(tmp_path):
    fresh = fold_cached(SEQS, cache_dir=tmp_path, processes=1, show_progress=False)
    (path,) = tmp_path.glob("*.npz")
    assert path.stem == sequence_set_key([s.replace("T", "U") for s in SEQS])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated by a killed run
    with pytest.warns(UserWarning, match="is corrupted .* folding again"):
        again = fold_cached(SEQS, cache_dir=tmp_path, processes=1, show_progress=False)
    assert again.structures == fresh.structures and np.array_equal(again.mfe, fresh.mfe)
    with np.load(path) as data:  # replaced by a whole file
        assert data["sequences"].tolist() == sorted(set(fresh.sequences))


def test_a_results_file_survives_a_run_killed_while_writing(tmp_path):
    """A process killed inside the write leaves the previous results, and no part file."""
    target = tmp_path / "results.json"
    write_text_atomic(target, '{"run": 1}')
    script = textwrap.dedent(
        f"""
        import os, signal
        from course_lib.atomic import atomic_path
        with atomic_path({str(target)!r}) as part:
            part.write_text('{{"run": 2, "unfinished')
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False)
    assert done.returncode == -9
    assert json.loads(target.read_text()) == {"run": 1}
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert all(".part" in p.name for p in leftovers), leftovers  # never read: not the target
    write_text_atomic(target, '{"run": 3}')
    assert json.loads(target.read_text()) == {"run": 3}


def _fake_backbone_build(calls: list, delay: float = 0.0):
    """A stand-in for pretraining: writes a checkpoint of the recipe's size, counting calls."""
    import time

    from course_lib import utr_lm_backbone as ub
    from course_lib.models.utr_lm import (
        UTRLMForPretraining,
        save_checkpoint,
        utr_lm_config,
        utr_vocabulary,
    )

    def build(settings, device, seed, root, verbose):
        calls.append(seed)
        time.sleep(delay)
        vocab = utr_vocabulary()
        sizes = {k: settings[k] for k in ("hidden_size", "num_layers", "num_heads")}
        model = UTRLMForPretraining(utr_lm_config(vocab, **sizes))
        recipe = ub.backbone_recipe(settings, ub.BACKBONE_OBJECTIVES, seed)
        folder = ub.backbone_folder(recipe, root)
        return save_checkpoint(model, folder, vocab, recipe=recipe, replace=False)

    return build


def test_a_corrupted_backbone_is_reported_and_built_again(tmp_path, monkeypatch):
    from course_lib import utr_lm_backbone as ub

    settings = ub.BackboneConfig.resolve("laptop", tiny=True)
    calls: list = []
    monkeypatch.setattr(ub, "_build_backbone", _fake_backbone_build(calls))
    path = ub.backbone_checkpoint(settings, "cpu", root=tmp_path, verbose=False)
    for weights in path.glob("*.safetensors"):
        weights.write_bytes(weights.read_bytes()[:100])  # truncated by a killed copy
    with pytest.warns(UserWarning, match="pretraining it again"):
        again = ub.backbone_checkpoint(settings, "cpu", root=tmp_path, verbose=False)
    assert again == path and calls == [0, 0]
    ub.check_backbone_checkpoint(path, settings)  # whole again
    assert ub.backbone_checkpoint(settings, "cpu", root=tmp_path, verbose=False) == path
    assert calls == [0, 0], "a sound checkpoint is read, not rebuilt"


def test_two_runs_needing_one_backbone_build_it_once(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from course_lib import utr_lm_backbone as ub

    settings = ub.BackboneConfig.resolve("laptop", tiny=True)
    calls: list = []
    monkeypatch.setattr(ub, "_build_backbone", _fake_backbone_build(calls, delay=0.5))
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(ub.backbone_checkpoint, settings, "cpu", 0, tmp_path, False)
            for _ in range(2)
        ]
        paths = {run.result() for run in runs}
    assert len(paths) == 1 and calls == [0], "the second run waited and read the first one's"


def test_an_unreadable_kmer_backbone_is_reported_and_removed(tmp_path):
    from course_lib.chapters.ch3_pretraining import _read_backbone

    folder = tmp_path / "bert_mlm" / "abc"
    folder.mkdir(parents=True)
    (folder / "recipe.json").write_text('{"corpus": "genome"')  # cut short
    with pytest.warns(UserWarning, match="is unreadable .* pretraining it again"):
        assert _read_backbone("genome", folder) is None
    assert not folder.exists()
    assert _read_backbone("genome", folder) is None, "absent: nothing to report"


@pytest.fixture(scope="module")
def tiny_rnafm(tmp_path_factory):
    from course_lib.models import rnafm

    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    rnafm.build_small_rnafm(path, layers=2, embed_dim=8, ffn_embed_dim=16, attention_heads=2)
    return rnafm.load_rnafm(path)


def test_a_truncated_embedding_cache_is_reported_and_embedded_again(tiny_rnafm, tmp_path):
    from course_lib.chapters import ch1_embedding_cache as ec

    seqs = ["ACGUACGUAC", "GGGAAAUUUCCC", "AUGAUGAUG"]
    build = dict(max_len=12, batch_size=2, show_progress=False)
    first = ec.build_embedding_cache(tiny_rnafm, seqs, "toy", tmp_path, **build)
    whole = first.batch(np.arange(3))
    first.path.write_bytes(first.path.read_bytes()[:50])  # a killed copy, a bad disk
    with pytest.warns(UserWarning, match="embedding cache .* is unusable .* embedding again"):
        again = ec.build_embedding_cache(tiny_rnafm, seqs, "toy", tmp_path, **build)
    np.testing.assert_array_equal(again.batch(np.arange(3)), whole)


def test_a_corrupted_pooled_layer_cache_is_reported_and_pooled_again(tiny_rnafm, tmp_path):
    from course_lib.chapters import ch1_probe as cp

    seqs = ["ACGUACGUAC", "GGGAAAUUUCCC", "AUGAUGAUG"]
    first = cp.build_layer_cache(tiny_rnafm, seqs, "toy", tmp_path, show_progress=False)
    (path,) = tmp_path.glob("*__pooled_layers.npy")
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.warns(UserWarning, match="pooled-layer cache .* is unusable"):
        again = cp.build_layer_cache(tiny_rnafm, seqs, "toy", tmp_path, show_progress=False)
    np.testing.assert_allclose(again, first, rtol=1e-6)


def test_a_run_killed_while_pretraining_restarts_cleanly(tmp_path):
    """Kill a run in the middle of pretraining its backbone; the next run builds the same one."""
    import time

    import torch

    from course_lib import utr_lm_backbone as ub
    from course_lib.models.utr_lm import load_pretrained

    started, killed = tmp_path / "started", tmp_path / "killed"
    script = textwrap.dedent(
        f"""
        import pathlib, time
        from course_lib import utr_lm_backbone as ub

        def stalled(*args, **kwargs):  # pretraining that is killed before it ends
            pathlib.Path({str(started)!r}).touch()
            time.sleep(300)

        ub.pretrain = stalled
        settings = ub.BackboneConfig.resolve("laptop", tiny=True)
        ub.backbone_checkpoint(settings, "cpu", root={str(killed)!r}, verbose=False)
        """
    )
    run = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 240
    while not started.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert started.exists(), "the run never reached pretraining"
    run.kill()
    run.wait()
    settings = ub.BackboneConfig.resolve("laptop", tiny=True)
    path = ub.backbone_checkpoint(settings, "cpu", root=killed, verbose=False)  # not blocked
    clean = ub.backbone_checkpoint(settings, "cpu", root=tmp_path / "clean", verbose=False)
    assert [p.name for p in killed.iterdir() if not p.name.startswith(".")] == [path.name]
    ours, theirs = load_pretrained(path)[0].state_dict(), load_pretrained(clean)[0].state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours), "same recipe, same weights"
