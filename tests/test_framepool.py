"""Framepool/Optimus ports and the Keras reader on small files the tests write."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.datasets.published_models import synthesize_framepool, synthesize_optimus
from course_lib.datasets.utr_testsets import read_mrl_table
from course_lib.encoding import one_hot
from course_lib.models.framepool import Framepool, load_framepool
from course_lib.models.keras_weights import KerasWeightsError, read_keras_weights
from course_lib.models.optimus import load_optimus_keras
from course_lib.registry import DataError


@pytest.fixture
def framepool_files(tmp_path):
    synthesize_framepool(tmp_path, seed=0)
    return tmp_path


def test_framepool_reads_both_variants_and_frames_follow_the_start_codon(framepool_files):
    plain = load_framepool(framepool_files / "utr_model_50.h5")
    combined = load_framepool(framepool_files / "utr_model_combined_residual.h5")
    assert not plain.residual and combined.residual and combined.library_size == 2
    x = torch.from_numpy(one_hot(["ACGTACGTAC" * 5, "GGGAAATTTC" * 5]))
    assert plain(x).shape == (2,)
    assert combined(x, library=0).shape == (2,)
    with pytest.raises(ValueError, match="library"):
        combined(x)
    # 5'-side padding leaves the prediction of the 3'-aligned UTR unchanged
    padded = torch.cat([torch.zeros(2, 7, 4), x], dim=1)
    torch.testing.assert_close(plain(padded), plain(x), atol=1e-5, rtol=0)


def test_inference_path_equals_autograd_path_with_and_without_padding(framepool_files):
    # without autograd the ReLU, mask and residual sum run in place and a batch without
    # padding skips the mask; with autograd every step makes a new tensor
    model = load_framepool(framepool_files / "utr_model_combined_residual.h5")
    x = torch.from_numpy(one_hot(["ACGTACGTAC" * 5, "GGGAAATTTC" * 4], padding="left"))
    assert x[1, :10].sum() == 0  # the second UTR has 10 padding rows
    with torch.inference_mode():
        fast = model(x, library=1)
        unpadded = model(x[:1], library=1)
    slow = model(x, library=1)
    assert slow.requires_grad and fast.abs().min() > 1e-3
    torch.testing.assert_close(fast, slow.detach(), rtol=1e-6, atol=0)
    torch.testing.assert_close(unpadded, fast[:1], rtol=1e-6, atol=0)
    # the padded rows are masked: the UTR alone gives the same prediction
    torch.testing.assert_close(model(x[1:, 10:], library=1).detach(), fast[1:], rtol=1e-5, atol=0)


def test_frame_average_denominators_differ():
    x = torch.from_numpy(one_hot(["ACGTACGTACGTACGTACGT"]))
    torch.manual_seed(0)
    a = Framepool(n_filters=8, dense=4, average="sequence").eval()
    b = Framepool(n_filters=8, dense=4, average="frame").eval()
    b.load_state_dict(a.state_dict())
    pa, pb = a.pooled(x), b.pooled(x)
    torch.testing.assert_close(pa[:, :24], pb[:, :24])  # maxima agree
    assert torch.all(pb[:, 24:] >= pa[:, 24:])  # frame counts are smaller than the length


def test_optimus_evolution_reads_keras_1_and_2_layouts(tmp_path):
    synthesize_optimus(tmp_path, seed=0)
    x = torch.from_numpy(one_hot(["ACGT" * 13 + "AC"]))
    for name in ("evolution_model.hdf5", "retrained_evolution_model.hdf5"):
        model = load_optimus_keras(tmp_path / name)
        assert model(x).shape == (1,)
    layers = read_keras_weights(tmp_path / "evolution_model.hdf5")
    assert layers["convolution1d_1"]["kernel"].shape == (8, 4, 40)  # singleton axis dropped


def test_wrong_architecture_names_layer_and_shapes(framepool_files, tmp_path):
    synthesize_optimus(tmp_path, seed=0)
    with pytest.raises(KerasWeightsError, match="convolution_0.*missing"):
        load_framepool(tmp_path / "evolution_model.hdf5")
    with pytest.raises(
        KerasWeightsError, match=r"dense_1.*expected shape \(2160, 40\).*\(1600, 40\)"
    ):
        load_optimus_keras(tmp_path / "evolution_model.hdf5", padding="same")


def test_truncated_and_missing_files_get_clear_errors(framepool_files, tmp_path):
    data = (framepool_files / "utr_model_50.h5").read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(KerasWeightsError, match="truncated or corrupted"):
        load_framepool(truncated)
    with pytest.raises(FileNotFoundError, match="no model file"):
        load_framepool(tmp_path / "absent.h5")
    text = tmp_path / "not_hdf5.h5"
    text.write_text("hello")
    with pytest.raises(KerasWeightsError, match="not a readable HDF5"):
        read_keras_weights(text)


def test_mrl_table_reads_files_the_way_they_come(tmp_path, capsys):
    table = pd.DataFrame(
        {"utr": ["acgu", "ACGT", "ACNT"], "rl": [1.0, 2.0, 3.0], "other_model": [0, 0, 0]}
    )
    plain = tmp_path / "t.csv"
    plain.write_bytes(table.to_csv(index=True).replace("\n", "\r\n").encode())
    zipped = tmp_path / "t_gz.csv"
    zipped.write_bytes(gzip.compress(table.to_csv().encode()))
    for path in (plain, zipped):
        df = read_mrl_table(path)
        assert df["utr"].tolist() == ["ACGT", "ACGT"] and list(df.columns) == ["utr", "rl"]
        out = capsys.readouterr().out
        assert "other_model" in out and "1 rows (utr holds letters other than ACGT)" in out
    table.drop(columns="rl").to_csv(plain)
    with pytest.raises(DataError, match=r"t.csv: no column 'rl'.*fetch utr_testsets"):
        read_mrl_table(plain)
    table.assign(rl=["x", 1, 2]).to_csv(plain)
    assert read_mrl_table(plain)["rl"].tolist() == [1.0]  # ACNT is left out as well
    assert "1 rows (rl not a number)" in capsys.readouterr().out


def test_registered_sets_synthesize_and_load(tmp_data_dir):
    from course_lib import registry

    tests = registry.load("utr_testsets").data
    assert tests.sizes() == {
        "eGFP 20k": 20_000,
        "Human 25k": 25_000,
        "Random7600": 7_600,
        "Human7600": 7_600,
    }
    optimus = registry.load("optimus_models")
    assert optimus.provenance == "synthetic" and len(optimus.data.snvs) == 2400
    assert np.isfinite(optimus.data.snvs["obs_diff"]).all()
