"""Chapter 2 (``notebooks/02_optimus_attention.ipynb``): its recipes.

The chapter has two halves. On real data it scores the published models (Framepool, the
Optimus evolution model, MTtrans's shipped predictions) on the real test sets, measures their
ClinVar SNV effects, trains its own Optimus and CNN+attention by cross-validation within the
20,000 eGFP test UTRs and runs in-silico experiments and design on a real model. On the
synthetic stand-in of the eGFP library it keeps the planted-rule experiment. Its parameters
per profile live in :mod:`course_lib.chapters.ch2_config`, its anchors and results file in
:mod:`course_lib.chapters.ch2_report`, its AUG scans and design in
:mod:`course_lib.chapters.ch2_design`; the published models are scored through
:mod:`course_lib.models.published`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch.utils.data import DataLoader, TensorDataset

from course_lib.chapters.ch2_config import Ch2Config
from course_lib.datasets.egfp import EgfpSplit
from course_lib.datasets.utr import drop_test_sequences, fit_label_scaler, scale_labels, unscale
from course_lib.encoding import one_hot
from course_lib.metrics import regression_metrics
from course_lib.models.published import published_mrl
from course_lib.profiles import estimate_seconds
from course_lib.training import FitResult, Predictor, fit, make_predictor, seed_everything
from course_lib.training import predict as predict_loader

NOTEBOOK = "02_optimus_attention.ipynb"

#: How each published model relates to the test sets (read from the sources, see the notebook).
TRAINING_ROWS = {
    **{model.name: model.trained_on for model in map(published_mrl, ("egfp", "egfp, one library"))},
    "Optimus evolution": "not stated in the source: 'predates the main egfp model', trained on "
    "UTR+ATGG; eGFP 20k may overlap its training rows. It designed part of the human library, "
    "so it predates (has not seen) the 25,000 human UTRs; outputs standardised MRL",
    "MTtrans (shipped)": "predictions shipped by MTtrans on the same rows",
}


# ----------------------------------------------------------------------------- published


def _three_metrics(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """Pearson r^2, R2 and Spearman rho, computed directly (fast enough to bootstrap)."""
    r = np.corrcoef(y, p)[0, 1]
    r2 = 1.0 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)
    rho = np.corrcoef(stats.rankdata(y), stats.rankdata(p))[0, 1]
    return r * r, r2, rho


def bootstrap_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, n_bootstrap: int, seed: int = 0, r2: bool = True
) -> dict[str, float | int]:
    """Pearson r^2, R2 and Spearman rho with 95 % percentile bootstrap intervals over rows.

    Returns keys ``<metric>``, ``<metric> low``, ``<metric> high`` (floats) and ``n`` (the
    number of rows, an int). With
    ``r2=False`` (predictions on another scale than MRL) the R2 entries are ``nan``.
    """
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    names = ("Pearson r^2", "R2", "Spearman rho")
    point = regression_metrics(y_true, y_pred)
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            _three_metrics(y_true[i], y_pred[i])
            for i in (rng.integers(0, len(y_true), len(y_true)) for _ in range(n_bootstrap))
        ]
    )
    out: dict[str, float | int] = {"n": len(y_true)}
    for column, name in enumerate(names):
        low, high = np.percentile(draws[:, column], [2.5, 97.5])
        out |= {name: point[name], f"{name} low": float(low), f"{name} high": float(high)}
    if not r2:
        out |= {"R2": float("nan"), "R2 low": float("nan"), "R2 high": float("nan")}
    return out


def score_published(
    predictors: Mapping[str, Predictor],
    test_sets: Mapping[str, pd.DataFrame],
    n_bootstrap: int,
    peer_column: str = "pred_stride1113",
    scaled: Sequence[str] = (),
) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]:
    """Score every predictor (and the shipped peer column) on every test set.

    ``scaled`` names predictors whose output is a standardised MRL (no R2 for them).
    Returns the metrics table (one row per model and test set) and the predictions.
    """
    rows, predictions = [], {}
    for set_name, table in test_sets.items():
        utrs = table["utr"].tolist()
        for name, predict in predictors.items():
            predictions[(name, set_name)] = predict(utrs)
        if peer_column in table:
            predictions[("MTtrans (shipped)", set_name)] = table[peer_column].to_numpy()
        for (name, part), pred in predictions.items():
            if part == set_name:
                rows.append(
                    {"model": name, "test set": set_name}
                    | bootstrap_metrics(table["rl"], pred, n_bootstrap, r2=name not in scaled)
                )
    return pd.DataFrame(rows).set_index(["model", "test set"]), predictions


# ----------------------------------------------------------------------------- variants


def snv_effects(predict: Predictor, snvs: pd.DataFrame) -> pd.DataFrame:
    """``snvs`` with ``predicted_diff`` = prediction(variant) - prediction(reference)."""
    variant, reference = predict(snvs["utr"].tolist()), predict(snvs["mother"].tolist())
    return snvs.assign(
        predicted_diff=variant - reference, error=variant - reference - snvs["obs_diff"]
    )


def snv_summary(effects: pd.DataFrame, n_bootstrap: int, seed: int = 0) -> dict[str, float]:
    """Pearson r of predicted versus measured MRL change with a 95 % bootstrap interval."""
    y, p = effects["obs_diff"].to_numpy(), effects["predicted_diff"].to_numpy()
    rng = np.random.default_rng(seed)
    r = float(np.corrcoef(y, p)[0, 1])
    boot = [np.corrcoef(y[i], p[i])[0, 1] for i in rng.integers(0, len(y), (n_bootstrap, len(y)))]
    low, high = np.percentile(boot, [2.5, 97.5])
    return {"Pearson r": r, "Pearson r low": float(low), "Pearson r high": float(high), "n": len(y)}


# ----------------------------------------------------------------------------- own models


def training_seconds(
    models: Mapping[str, tuple[torch.nn.Module, Callable]],
    loader: DataLoader,
    epochs: int,
    device: torch.device,
) -> float:
    """Estimated seconds to train every model ``epochs`` times over ``loader``.

    Times a few optimiser steps of each model on one batch (:func:`estimate_seconds`), for
    :func:`course_lib.profiles.check_long_run`.
    """
    xb, yb = next(iter(loader))
    xb, yb = xb.to(device), yb.to(device)
    total = 0.0
    for model, forward in models.values():
        model.to(device).train()
        optimiser = torch.optim.Adam(model.parameters())

        def step(model=model, forward=forward, optimiser=optimiser) -> None:
            optimiser.zero_grad()
            torch.nn.functional.mse_loss(forward(model, xb), yb).backward()
            optimiser.step()

        total += estimate_seconds(step, len(loader) * epochs)
    return total


def train_models(
    models: Mapping[str, tuple[torch.nn.Module, Callable]],
    train_loader: DataLoader,
    val_loader: DataLoader,
    settings: Ch2Config,
    device: torch.device,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
) -> dict[str, FitResult]:
    """Train each ``(model, forward)`` on scaled MRL, reseeding with ``seed`` before each.

    Mean squared error, Adam at ``settings.lr`` for at most ``settings.epochs`` epochs; each
    model keeps the state of its best validation epoch (early stopping after
    ``settings.patience`` epochs). With ``checkpoint_dir`` the best state of each model is also
    saved as ``02_<name>.pt`` there.

    Returns
    -------
    dict
        ``{name: FitResult}`` in the order of ``models`` (the models are trained in place).
    """
    fits = {}
    for name, (model, forward) in models.items():
        seed_everything(seed)
        slug = "".join(c if c.isalnum() else "_" for c in name.lower())
        checkpoint = Path(checkpoint_dir) / f"02_{slug}.pt" if checkpoint_dir else None
        fits[name] = fit(
            model,
            train_loader,
            val_loader,
            loss_fn=torch.nn.functional.mse_loss,
            epochs=settings.epochs,
            lr=settings.lr,
            device=device,
            forward=forward,
            patience=settings.patience,
            checkpoint_path=checkpoint,
            description=name,
        )
        print(f"{name}: best epoch {fits[name].best_epoch}, {fits[name].seconds:.0f} s")
    return fits


def split_metrics(
    models: Mapping[str, tuple[torch.nn.Module, Callable]],
    loaders: Mapping[str, DataLoader],
    split: EgfpSplit,
    device: torch.device,
) -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], dict[str, float]]]:
    """Predictions in MRL and regression metrics of every model on every part of ``split``.

    Parameters
    ----------
    models
        ``{name: (model, forward)}``, trained on scaled MRL.
    loaders
        ``{part: loader}`` over parts of ``split`` (``"val"``, ``"test"``), not shuffled.
    split
        The split whose training-only label scaler turns predictions back into MRL.
    device
        Where the models run.

    Returns
    -------
    tuple
        ``{(name, part): [n_part] MRL}`` and ``{(name, part): metrics}``
        (:func:`~course_lib.metrics.regression_metrics`).
    """
    predictions, rows = {}, {}
    for name, (model, forward) in models.items():
        for part, loader in loaders.items():
            _, scaled = predict_loader(model, loader, device, forward)
            predictions[(name, part)] = unscale(scaled, split.scaler)
            rows[(name, part)] = regression_metrics(
                split.parts()[part]["rl"], predictions[(name, part)]
            )
    return predictions, rows


def attention_weights(
    model: torch.nn.Module, x: np.ndarray, device: torch.device, batch_size: int = 2048
) -> np.ndarray:
    """Attention weights ``[n, P]`` of an attention CNN on one-hot UTRs ``x`` ``[n, L, 4]``.

    The model returns ``(prediction, weights)``; it runs in eval mode, ``batch_size`` at a time.
    """
    model.eval()
    with torch.no_grad():
        weights = [
            model(batch.to(device))[1].cpu()
            for batch in torch.split(torch.from_numpy(x), batch_size)
        ]
    return torch.cat(weights).numpy()


def kfold_indices(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint held-out index sets covering ``0..n-1`` (shuffled with ``seed``)."""
    if not 2 <= k <= n:
        raise ValueError(f"need 2 <= k <= n, got k={k}, n={n}")
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


def _loader(table: pd.DataFrame, scaler, batch_size: int, shuffle: bool) -> DataLoader:
    x = torch.from_numpy(one_hot(table["utr"].tolist()))
    y = torch.from_numpy(scale_labels(table, scaler))
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)


def fold_parts(
    table: pd.DataFrame, held_out: np.ndarray, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inner training and validation rows of one fold: the rows outside ``held_out``.

    Rows whose UTR sequence is also a held-out UTR are left out
    (:func:`~course_lib.datasets.utr.drop_test_sequences`), so a sequence that occurs twice
    in ``table`` is never trained on while its copy is scored; a random 10 % (at least one
    row, drawn with ``rng``) of the rest is the inner validation split.
    """
    outside = table.drop(index=table.index[held_out])
    rest, _ = drop_test_sequences(outside, table.iloc[held_out])
    order = rng.permutation(len(rest))
    n_inner = max(1, len(rest) // 10)
    return rest.iloc[order[n_inner:]], rest.iloc[order[:n_inner]]


def cross_validate_models(
    table: pd.DataFrame,
    builders: Mapping[str, tuple[Callable[[], torch.nn.Module], Callable]],
    folds: Sequence[np.ndarray],
    epochs: int,
    lr: float,
    batch_size: int,
    device: torch.device,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, list], dict[str, torch.nn.Module]]:
    """Train each model on all folds but one; predict the held-out fold in MRL.

    Within the training folds 10 % (seeded) are an inner validation split for the best epoch;
    the label scaler is fitted on the remaining training rows only. Copies of a held-out UTR
    are in neither (:func:`fold_parts`).

    Returns out-of-fold predictions ``{name: [n]}``, the fit results per fold and the models
    of the last fold (e.g. to look at their attention).
    """
    oof = {name: np.full(len(table), np.nan) for name in builders}
    fits: dict[str, list] = {name: [] for name in builders}
    last: dict[str, torch.nn.Module] = {}
    rng = np.random.default_rng(seed)
    for index, held_out in enumerate(folds):
        train, val = fold_parts(table, held_out, rng)
        scaler = fit_label_scaler(train)
        for name, (build, forward) in builders.items():
            torch.manual_seed(seed + index)
            model = build()
            fits[name].append(
                fit(
                    model,
                    _loader(train, scaler, batch_size, True),
                    _loader(val, scaler, 1024, False),
                    loss_fn=torch.nn.functional.mse_loss,
                    epochs=epochs,
                    lr=lr,
                    device=device,
                    forward=forward,
                    description=f"{name}, fold {index + 1}/{len(folds)}",
                )
            )
            predict = make_predictor(model, forward, scaler)
            oof[name][held_out] = predict(table["utr"].iloc[held_out].tolist())
            last[name] = model
    return oof, fits, last


def per_fold_metrics(
    y: np.ndarray, predictions: Mapping[str, np.ndarray], folds: Sequence[np.ndarray]
) -> pd.DataFrame:
    """Pearson r^2 per model and held-out fold, then mean and sd over folds."""
    rows = {
        name: [regression_metrics(y[f], pred[f])["Pearson r^2"] for f in folds]
        for name, pred in predictions.items()
    }
    table = pd.DataFrame(rows, index=[f"fold {i + 1}" for i in range(len(folds))]).T
    return table.assign(mean=table.mean(axis=1), sd=table.std(axis=1, ddof=1))


# ----------------------------------------------------------------------------- in silico


def kozak_table(predict: Predictor, utrs: Sequence[str], position: int = -3) -> pd.DataFrame:
    """Mean predicted MRL when the base at ``position`` (from the start codon) is A/C/G/T."""
    utrs = list(utrs)
    index = len(utrs[0]) + position
    rows = {}
    for base in "ACGT":
        edited = [u[:index] + base + u[index + 1 :] for u in utrs]
        pred = predict(edited)
        rows[base] = {"mean MRL": pred.mean(), "sem": pred.std(ddof=1) / np.sqrt(len(pred))}
    return pd.DataFrame(rows).T.rename_axis(f"base at {position}")


def evolve_to_target(
    predict: Predictor, starts: Sequence[str], target: float, n_steps: int, seed: int = 0
) -> pd.DataFrame:
    """Move UTRs toward a predicted ``target`` MRL by random single substitutions.

    As the genetic algorithm of Sample et al.: each step proposes one random substitution per
    UTR and keeps it when the prediction gets closer to ``target``. Returns one row per UTR
    with its start and final sequence and predictions (predictions, not measurements).
    """
    rng = np.random.default_rng(seed)
    current = list(starts)
    score = predict(current)
    for _ in range(n_steps):
        positions = rng.integers(0, len(current[0]), len(current))
        bases = rng.choice(list("ACGT"), len(current))
        proposal = [
            u[:p] + b + u[p + 1 :] for u, p, b in zip(current, positions, bases, strict=True)
        ]
        new = predict(proposal)
        better = np.abs(new - target) < np.abs(score - target)
        current = [p if keep else u for u, p, keep in zip(current, proposal, better, strict=True)]
        score = np.where(better, new, score)
    return pd.DataFrame(
        {
            "start": list(starts),
            "designed": current,
            "start prediction": predict(list(starts)),
            "designed prediction": score,
            "target": target,
        }
    )
