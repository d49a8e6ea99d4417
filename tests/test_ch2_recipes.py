"""Chapter 2's training recipes: the planted-rule models, their split metrics, attention weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.chapters.ch2_config import Ch2Config
from course_lib.chapters.ch2_optimus_attention import attention_weights, split_metrics, train_models
from course_lib.datasets.egfp import EgfpSplit
from course_lib.datasets.utr import fit_label_scaler, planted_mrl, unscale
from course_lib.encoding import one_hot
from course_lib.metrics import regression_metrics
from course_lib.models.attention_cnn import AttentionCNN, prediction_only
from course_lib.models.optimus import Optimus5Prime
from course_lib.training import default_forward

RNG = np.random.default_rng(2)
SETTINGS = Ch2Config.resolve("smoke", epochs=2, lr=1e-3, batch_size=16)


def table(n: int) -> pd.DataFrame:
    utrs = ["".join(RNG.choice(list("ACGT"), 50)) for _ in range(n)]
    return pd.DataFrame({"utr": utrs, "rl": planted_mrl(utrs)})


@pytest.fixture(scope="module")
def split() -> EgfpSplit:
    train = table(48)
    return EgfpSplit(train, table(16), table(16), fit_label_scaler(train))


def small_models() -> dict:
    """The notebook's kinds of model at a small size, built from the same seed each time."""
    torch.manual_seed(0)
    return {
        "Optimus 5-Prime": (Optimus5Prime(n_filters=4), default_forward),
        "CNN+attention (2 conv)": (AttentionCNN(n_conv=2), prediction_only),
    }


def test_train_models_reseeds_each_model_and_saves_checkpoints(split, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    loaders = [split.loader("train", 16, shuffle=True), split.loader("val", 64)]
    models = small_models()
    fits = train_models(models, *loaders, SETTINGS, torch.device("cpu"), 0, tmp_path)
    assert list(fits) == list(models) and all(len(f.history) == 2 for f in fits.values())
    assert (tmp_path / "02_optimus_5_prime.pt").exists()
    again = small_models()
    train_models(again, *loaders, SETTINGS, torch.device("cpu"), 0)
    for name, (model, _) in models.items():
        for a, b in zip(model.parameters(), again[name][0].parameters(), strict=True):
            torch.testing.assert_close(a, b)

    loaders = {"val": split.loader("val", 8), "test": split.loader("test", 8)}
    predictions, rows = split_metrics(models, loaders, split, torch.device("cpu"))
    assert set(predictions) == {(n, p) for n in models for p in ("val", "test")}
    model, forward = models["Optimus 5-Prime"]
    with torch.no_grad():
        x = torch.from_numpy(one_hot(split.test["utr"].tolist()))
        direct = unscale(forward(model.eval(), x).numpy().ravel(), split.scaler)
    np.testing.assert_allclose(predictions[("Optimus 5-Prime", "test")], direct, rtol=1e-5)
    expected = regression_metrics(split.test["rl"], predictions[("Optimus 5-Prime", "test")])
    assert rows[("Optimus 5-Prime", "test")] == expected


def test_attention_weights_in_batches_equal_one_pass(split):
    model = AttentionCNN(n_conv=2).eval()
    x = one_hot(split.test["utr"].tolist())
    weights = attention_weights(model, x, torch.device("cpu"), batch_size=5)
    with torch.no_grad():
        whole = model(torch.from_numpy(x))[1].numpy()
    assert weights.shape == whole.shape and weights.shape[0] == len(x)
    np.testing.assert_allclose(weights, whole, rtol=1e-5, atol=1e-7)
