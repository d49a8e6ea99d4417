"""The chapter-2 ports of the published models: reproduction on the real files and fidelity.

Real files come from ``../shared/data`` (or ``$COURSE_SHARED_DATA``); the tests skip without
them. The independent implementation is ``multimolecule`` (AGPL, a test-only dependency: only
this file imports it); those tests skip when it is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from course_lib.datasets.published_models import FRAMEPOOL_EGFP_LIBRARY, read_snv_table
from course_lib.encoding import one_hot
from course_lib.metrics import pearson_r
from course_lib.models.framepool import Framepool, load_framepool
from course_lib.models.optimus import EVOLUTION_SUFFIX, load_optimus_keras

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def real() -> Path:
    folder = Path(os.environ.get("COURSE_SHARED_DATA", SHARED_DATA))
    if not (folder / "framepool").is_dir() or not (folder / "utr_testsets").is_dir():
        pytest.skip(f"real published-model files not found in {folder}")
    return folder


@pytest.fixture(scope="module")
def egfp(real: Path) -> pd.DataFrame:
    return pd.read_csv(real / "utr_testsets" / "stride11133m_MPA_U_pred.csv")


def _predict(model: nn.Module, utrs: list[str], **kwargs) -> np.ndarray:
    x = torch.from_numpy(one_hot(utrs))
    with torch.inference_mode():
        return torch.cat([model(b, **kwargs) for b in torch.split(x, 4096)]).numpy()


def _r2(y: pd.Series, pred: np.ndarray) -> float:
    return round(pearson_r(y.to_numpy(), pred) ** 2, 3)


# ----------------------------------------------------------------------------- reproduction


def test_evolution_model_reproduces_r2_on_egfp_and_human(real: Path, egfp: pd.DataFrame):
    model = load_optimus_keras(real / "optimus" / "evolution_model.hdf5")
    human = pd.read_csv(real / "utr_testsets" / "stride11133m_MPA_H_pred.csv")
    assert _r2(egfp["rl"], _predict(model, (egfp["utr"] + EVOLUTION_SUFFIX).tolist())) == 0.920
    assert _r2(human["rl"], _predict(model, (human["utr"] + EVOLUTION_SUFFIX).tolist())) == 0.767


def test_framepool_combined_reproduces_r2_with_egfp_indicator(real: Path, egfp: pd.DataFrame):
    path = real / "framepool" / "utr_model_combined_residual.h5"
    utrs = egfp["utr"].tolist()
    # the graph stored in the file (average over the whole UTR's length): 0.9098
    faithful = _predict(load_framepool(path), utrs, library=FRAMEPOOL_EGFP_LIBRARY)
    assert _r2(egfp["rl"], faithful) == 0.910
    # the per-frame average of multimolecule (the independent figure): 0.9095
    per_frame = _predict(load_framepool(path, "frame"), utrs, library=FRAMEPOOL_EGFP_LIBRARY)
    assert _r2(egfp["rl"], per_frame) == 0.909
    # index 0 is the eGFP library: its scale matches the eGFP MRL
    assert abs(faithful.mean() - egfp["rl"].mean()) < 0.1


def test_framepool_50_nt_r2_and_what_gives_0_868(real: Path, egfp: pd.DataFrame):
    path = real / "framepool" / "utr_model_50.h5"
    faithful = load_framepool(path)
    assert not faithful.residual  # the file's layer list has no add_residual_* layer
    assert _r2(egfp["rl"], _predict(faithful, egfp["utr"].tolist())) == 0.929
    # 0.868 (the figure) is these weights inside a residual, per-frame-average
    # network: multimolecule's default Framepool configuration, not this file's graph
    wrong = Framepool(residual=True, average="frame")
    wrong.load_state_dict(faithful.state_dict())
    assert _r2(egfp["rl"], _predict(wrong.eval(), egfp["utr"].tolist())) == 0.868


def test_snv_table_reads_the_variant_rows(real: Path):
    snvs = read_snv_table(real / "optimus" / "snv_phenotype_log_diff.csv")
    assert len(snvs) == 1996 and (snvs["utr"] != snvs["mother"]).all()
    assert (snvs["obs_diff"] != 0).all()  # placeholders without a measured reference are out
    assert (snvs["n_changed"] == 1).mean() > 0.9
    assert np.allclose(snvs["mother_mrl"] + snvs["obs_diff"], snvs["hrl"])


# ----------------------------------------------------------------------------- fidelity


def _read_h5_layer(path: Path, layer: str) -> dict[str, torch.Tensor]:
    """Raw arrays of one layer, read here with h5py independently of the course's reader."""
    with h5py.File(path, "r") as handle:
        group = handle["model_weights"][layer]
        out = {}
        for name in group.attrs["weight_names"]:
            name = name.decode()
            out["kernel" if "kernel" in name or "_W" in name else "bias"] = torch.from_numpy(
                np.array(group[name])
            )
        return out


def test_framepool_equals_multimolecule_on_real_utrs(real: Path, egfp: pd.DataFrame):
    mm = pytest.importorskip("multimolecule")
    from multimolecule.models.framepool.convert_checkpoint import _convert_checkpoint

    path = real / "framepool" / "utr_model_combined_residual.h5"
    reference = mm.FramepoolForSequencePrediction(
        mm.FramepoolConfig(vocab_size=4, null_channel_id=None, library_index=0)
    ).eval()
    state = {
        (k if k.startswith("prediction.") else f"model.{k}"): v
        for k, v in _convert_checkpoint(str(path)).items()
    }
    reference.load_state_dict(state, strict=False)
    utrs = egfp["utr"].tolist()[:400]
    x = torch.from_numpy(one_hot(utrs))
    with torch.inference_mode():
        expected = reference(inputs_embeds=x).logits.squeeze(-1).numpy()
    ours = _predict(load_framepool(path, "frame"), utrs, library=0)
    np.testing.assert_allclose(ours, expected, atol=1e-5, rtol=0)
    # the published graph differs from multimolecule only in the average's denominator
    faithful = _predict(load_framepool(path), utrs, library=0)
    assert 1e-4 < np.abs(faithful - expected).max() < 1.0


def test_evolution_model_equals_multimolecule_on_real_utrs(real: Path, egfp: pd.DataFrame):
    mm = pytest.importorskip("multimolecule")
    path = real / "optimus" / "evolution_model.hdf5"
    config = mm.Optimus5PrimeConfig(
        vocab_size=4, sequence_length=54, num_conv_layers=2, conv_channels=40, hidden_size=40
    )
    reference = mm.Optimus5PrimeForSequencePrediction(config).eval()
    # multimolecule's Optimus pads "same"; the evolution model's convolutions are "valid"
    reference.model.encoder.pad = nn.Identity()
    reference.model.encoder.dense = nn.Linear(1600, 40)
    with torch.no_grad():
        for i, layer in enumerate(("convolution1d_1", "convolution1d_2")):
            w = _read_h5_layer(path, layer)
            reference.model.encoder.convs[i].weight.copy_(w["kernel"][:, 0].permute(2, 1, 0))
            reference.model.encoder.convs[i].bias.copy_(w["bias"])
        for module, layer in (
            (reference.model.encoder.dense, "dense_1"),
            (reference.sequence_head.decoder, "dense_2"),
        ):
            w = _read_h5_layer(path, layer)
            module.weight.copy_(w["kernel"].T)
            module.bias.copy_(w["bias"])
    utrs = (egfp["utr"].head(400) + EVOLUTION_SUFFIX).tolist()
    with torch.inference_mode():
        expected = reference(inputs_embeds=torch.from_numpy(one_hot(utrs))).logits.squeeze(-1)
    ours = _predict(load_optimus_keras(path), utrs)
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-5, rtol=0)


def test_registry_seeds_and_loads_the_real_sets(tmp_data_dir, real: Path):
    from course_lib import registry

    for name in ("utr_testsets", "optimus_models", "framepool_models"):
        assert registry.seed_from(name, real) is not None
        assert registry.is_real_available(name)
    loaded = registry.load("utr_testsets", fallback="error")
    assert loaded.provenance == "real"
    assert loaded.data.sizes() == {
        "eGFP 20k": 20_000,
        "Human 25k": 25_000,
        "Random7600": 7_600,
        "Human7600": 7_600,
    }
    assert "pred_stride1113" in loaded.data["eGFP 20k"]
