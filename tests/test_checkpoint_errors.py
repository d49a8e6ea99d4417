"""A file that is not a checkpoint of the expected architecture gets the course's error.

Every kind of weights a chapter loads (RNA-FM, Beluga, DNABERT-3, UTR-LM, the Keras files of
Optimus and Framepool) is given garbage, a truncated file and a checkpoint of another model:
each raises :class:`~course_lib.models.checkpoint.CheckpointError` naming the file, what was
expected and the fix, never torch's advice to load an untrusted file with
``weights_only=False``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from course_lib.models.beluga import load_beluga, small_beluga
from course_lib.models.bert import load_dnabert
from course_lib.models.checkpoint import CheckpointError, load_torch_file
from course_lib.models.framepool import load_framepool
from course_lib.models.optimus import load_optimus_keras
from course_lib.models.rnafm import build_small_rnafm, load_rnafm
from course_lib.models.utr_lm import load_pretrained

GARBAGE = b"this is not a checkpoint\n" * 40


def garbage_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(GARBAGE)
    return path


def truncated(path: Path, into: Path) -> Path:
    into.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return into


def assert_course_error(load: Callable[[], object], path: Path, expected: str) -> None:
    with pytest.raises(CheckpointError) as info:
        load()
    message = str(info.value)
    assert str(path) in message and expected in message, message
    assert "weights_only=False" not in message and "weights_only = False" not in message


def test_load_torch_file_never_advises_an_unsafe_load(tmp_path):
    path = tmp_path / "namespace.pt"
    import argparse

    torch.save({"args": argparse.Namespace(a=1)}, path)
    assert_course_error(lambda: load_torch_file(path, "a thing", "Fix it."), path, "a thing")


@pytest.mark.parametrize("kind", ["garbage", "truncated", "other model"])
def test_rnafm_checkpoint(tmp_path, kind):
    if kind == "garbage":
        path = garbage_file(tmp_path, "RNA-FM_pretrained.pth")
    elif kind == "truncated":
        path = truncated(build_small_rnafm(tmp_path / "small.pth"), tmp_path / "cut.pth")
    else:
        path = tmp_path / "beluga.pth"
        torch.save(small_beluga().state_dict(), path)
    assert_course_error(lambda: load_rnafm(path), path, "RNA-FM checkpoint")


@pytest.mark.parametrize("kind", ["garbage", "truncated", "other model"])
def test_beluga_checkpoint(tmp_path, kind):
    if kind == "garbage":
        path = garbage_file(tmp_path, "deepsea.beluga.pth")
    elif kind == "truncated":
        whole = tmp_path / "whole.pth"
        torch.save(small_beluga().state_dict(), whole)
        path = truncated(whole, tmp_path / "cut.pth")
    else:
        path = build_small_rnafm(tmp_path / "rnafm.pth")
    assert_course_error(lambda: load_beluga(path, 400), path, "Beluga state_dict")


def dnabert_folder(tmp_path: Path) -> Path:
    from transformers import BertConfig, BertForMaskedLM

    from course_lib.tokenization import build_vocabulary

    folder = tmp_path / "DNA_bert_3"
    folder.mkdir()
    vocab = build_vocabulary(3)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    model = BertForMaskedLM(config)
    config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    vocab.write(folder)
    return folder


@pytest.mark.parametrize("part", ["pytorch_model.bin", "config.json", "vocab.txt"])
def test_dnabert_folder_with_a_garbage_file(tmp_path, part):
    folder = dnabert_folder(tmp_path)
    (folder / part).write_bytes(GARBAGE if part != "vocab.txt" else b"\xff\xfe\x00garbage")
    assert_course_error(lambda: load_dnabert(folder), folder, "DNABERT checkpoint folder")


def test_utr_lm_folder_of_garbage(tmp_path):
    folder = tmp_path / "utr_lm"
    folder.mkdir()
    garbage_file(folder, "config.json")
    with pytest.raises(CheckpointError, match=str(folder)):
        load_pretrained(folder)


@pytest.mark.parametrize(
    ("load", "name"),
    [
        (load_framepool, "utr_model_combined_residual.h5"),
        (lambda p: load_optimus_keras(p), "evolution_model.hdf5"),
    ],
)
def test_keras_file_of_garbage_or_truncated(tmp_path, shared_data, load, name):
    garbage = garbage_file(tmp_path, name)
    assert_course_error(lambda: load(garbage), garbage, "HDF5")
    real = next(shared_data.rglob(name))
    cut = truncated(real, tmp_path / f"cut_{name}")
    with pytest.raises(CheckpointError, match=str(cut)):
        load(cut)


def test_a_keras_file_of_another_model(tmp_path, shared_data):
    other = tmp_path / "utr_model_combined_residual.h5"
    shutil.copyfile(next(shared_data.rglob("evolution_model.hdf5")), other)
    with pytest.raises(CheckpointError):
        load_framepool(other)
