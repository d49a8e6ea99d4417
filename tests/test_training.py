"""Tests of course_lib.training: fit keeps the best validation epoch, stops early, predicts."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.training import (
    BestState,
    default_forward,
    fit,
    predict,
    seed_everything,
    select_device,
    to_device,
)
from course_lib.updates import optimizer_step

CPU = torch.device("cpu")


def loader(x, y, batch_size=64, shuffle=False):
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)


def zero_slope_model():
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    return model


def conflicting_loaders():
    """Train on y = 2x, validate on y = 0.5x: full-batch SGD from w = 0 passes 0.5 early.

    With lr 0.01, w_t = 2 (1 - 0.98^t): the validation loss falls until w is near 0.5
    (epoch 14 or 15) and then rises for every later epoch.
    """
    torch.manual_seed(0)
    x = torch.randn(256, 1)
    x = x / x.pow(2).mean().sqrt()  # E[x^2] = 1 exactly
    return loader(x, 2 * x, batch_size=256), loader(x, 0.5 * x, batch_size=256)


def sgd_fit(model, epochs, **kwargs):
    train, val = conflicting_loaders()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    return fit(
        model,
        train,
        val,
        loss_fn=nn.functional.mse_loss,
        epochs=epochs,
        optimizer=optimizer,
        device="cpu",
        show_progress=False,
        **kwargs,
    )


def test_fit_learns_a_linear_regression():
    seed_everything(0)
    x = torch.randn(512, 2)
    y = 2 * x[:, :1] - 3 * x[:, 1:] + 1
    model = nn.Linear(2, 1)
    result = fit(
        model,
        loader(x[:384], y[:384], 32, shuffle=True),
        loader(x[384:], y[384:]),
        loss_fn=nn.functional.mse_loss,
        epochs=40,
        lr=0.05,
        device="cpu",
        show_progress=False,
    )
    np.testing.assert_allclose(model.weight.detach().numpy(), [[2, -3]], atol=0.05)
    np.testing.assert_allclose(model.bias.detach().numpy(), [1], atol=0.05)
    assert result.history["val_loss"].iloc[-1] < 1e-3
    assert result.history["train_loss"].iloc[0] > result.history["train_loss"].iloc[-1]
    assert not model.training  # left in eval mode


def test_fit_keeps_the_best_validation_epoch(tmp_path):
    model = zero_slope_model()
    checkpoint = tmp_path / "ckpt" / "best.pt"
    result = sgd_fit(model, epochs=40, checkpoint_path=checkpoint)
    history = result.history
    assert list(history.columns) == ["epoch", "train_loss", "val_loss", "lr", "seconds"]
    assert history["epoch"].tolist() == list(range(1, 41))
    best = int(history["val_loss"].idxmin()) + 1
    assert result.best_epoch == best and 10 <= best <= 20 and result.monitor == "val_loss"
    assert history["val_loss"].iloc[-1] > 10 * history["val_loss"].min()  # later epochs worse
    assert result.best_value == pytest.approx(history["val_loss"].min())
    # the model holds the best epoch's weights, not the last ones (w_40 would be ~1.1)
    w_best = 2 * (1 - 0.98**best)
    assert model.weight.item() == pytest.approx(w_best, rel=1e-4)
    assert torch.load(checkpoint)["weight"].item() == pytest.approx(w_best, rel=1e-4)
    assert not result.stopped_early


def test_fit_selects_on_a_validation_score():
    def neg_mse(y, p):
        return -float(np.mean((y - p) ** 2))

    result = sgd_fit(zero_slope_model(), epochs=30, val_score=neg_mse, val_score_name="neg_mse")
    assert list(result.history.columns) == [
        "epoch",
        "train_loss",
        "val_loss",
        "neg_mse",
        "lr",
        "seconds",
    ]
    assert result.monitor == "neg_mse"
    assert result.best_epoch == int(result.history["neg_mse"].idxmax()) + 1
    assert result.best_epoch == int(result.history["val_loss"].idxmin()) + 1


def test_early_stopping_stops_after_patience():
    result = sgd_fit(zero_slope_model(), epochs=100, patience=3)
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 3 < 100


def test_scheduler_lr_is_recorded():
    model = zero_slope_model()
    train, val = conflicting_loaders()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    result = fit(
        model,
        train,
        val,
        loss_fn=nn.functional.mse_loss,
        epochs=3,
        optimizer=optimizer,
        scheduler=scheduler,
        device="cpu",
        show_progress=False,
    )
    np.testing.assert_allclose(result.history["lr"], [0.05, 0.025, 0.0125])


def test_fit_rejects_bad_input():
    train, val = conflicting_loaders()
    kwargs = dict(loss_fn=nn.functional.mse_loss, device="cpu", show_progress=False)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        fit(zero_slope_model(), train, val, epochs=0, **kwargs)
    empty = loader(torch.zeros(0, 1), torch.zeros(0, 1))
    with pytest.raises(ValueError, match="validation loader is empty"):
        fit(zero_slope_model(), train, empty, epochs=1, **kwargs)
    kwargs["loss_fn"] = lambda out, target: (out * float("nan")).mean()
    with pytest.raises(FloatingPointError, match="loss became nan at epoch 1"):
        fit(zero_slope_model(), train, val, epochs=1, **kwargs)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(3, 2)

    def forward(self, left, right):
        return self.a(left) + self.b(right), torch.ones(len(left))  # (output, "attention")


def test_predict_shapes_and_custom_forward():
    x, y = torch.randn(10, 3), torch.arange(10.0)
    model = nn.Linear(3, 4)
    targets, outputs = predict(model, loader(x, y, batch_size=3), device="cpu")
    assert targets.shape == (10,) and outputs.shape == (10, 4)
    np.testing.assert_array_equal(targets, np.arange(10.0))
    np.testing.assert_allclose(outputs, model(x).detach().numpy(), rtol=1e-6)

    pairs = DataLoader(list(zip(zip(x, x + 1, strict=True), y, strict=True)), batch_size=4)
    _, out = predict(TwoInputs(), pairs, device=CPU, forward=lambda m, inp: m(*inp)[0])
    assert out.shape == (10, 2)


def test_default_forward_tensor_tuple_dict():
    model = TwoInputs()
    x = torch.randn(2, 3)
    assert torch.equal(default_forward(model, (x, x))[0], model(x, x)[0])
    assert torch.equal(default_forward(model, {"left": x, "right": x})[0], model(x, x)[0])
    linear = nn.Linear(3, 1)
    assert torch.equal(default_forward(linear, x), linear(x))


def test_select_device_and_to_device():
    auto = select_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else auto.type)
    assert auto.type in {"cuda", "mps", "cpu"}
    assert select_device("cpu") == CPU
    assert select_device(CPU) == CPU  # a device is accepted as it is
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            select_device("cuda")
    batch = {"x": torch.ones(2), "pair": (torch.zeros(1), [torch.ones(1)]), "name": "kept"}
    moved = to_device(batch, CPU)
    assert isinstance(moved["pair"], tuple) and isinstance(moved["pair"][1], list)
    assert moved["name"] == "kept" and moved["x"].device == CPU


def test_seed_everything_repeats_random_draws():
    def draws():
        return torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()  # noqa: NPY002

    seed_everything(123)
    first = draws()
    seed_everything(123)
    assert draws() == first


def test_fit_refuses_a_validation_score_that_is_never_finite():
    with pytest.raises(FloatingPointError, match="never finite in 3 epochs"):
        sgd_fit(zero_slope_model(), epochs=3, val_score=lambda y, p: float("nan"))


def test_optimizer_step_updates_clips_and_refuses_a_nan_loss():
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    before = model.weight.detach().clone()
    loss = (model(torch.full((1, 2), 100.0)) ** 2).sum()
    value = optimizer_step(model, optimizer, loss, grad_clip=1e-3)
    assert value == pytest.approx(loss.item())
    assert torch.linalg.norm(model.weight - before) <= 1e-3 + 1e-6  # step of a clipped gradient
    with pytest.raises(FloatingPointError, match="at step 7"):
        optimizer_step(model, optimizer, torch.tensor(float("nan")), where="at step 7")


def test_best_state_keeps_the_best_finite_value_and_restores_it():
    model = nn.Linear(1, 1)
    best = BestState(higher_is_better=True)
    assert best.update(model, 0.5, 1)
    kept = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.fill_(9.0)
    assert not best.update(model, float("nan"), 2) and not best.update(model, 0.4, 3)
    assert (best.epoch, best.value, best.since_best) == (1, 0.5, 2)
    assert best.restore(model) and torch.equal(model.weight, kept) and not model.training


@pytest.mark.parametrize("name", ["cuda2", "gpu", "cuda"])
def test_select_device_refuses_unknown_or_absent_devices_naming_the_parameter(name):
    if name == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(ValueError, match=rf"device='{name}'.*-p device auto"):
        select_device(name)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "0"])
def test_seed_everything_refuses_a_seed_numpy_cannot_take(seed):
    with pytest.raises(ValueError, match=r"seed=.*-p seed 0"):
        seed_everything(seed)


def test_seed_everything_takes_numpy_integers():
    seed_everything(np.int64(3))
    first = torch.rand(1)
    seed_everything(3)
    assert torch.equal(first, torch.rand(1))
