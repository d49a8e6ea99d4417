"""Chapter 1, ``notebooks/01_utr_rnafm.ipynb``: 5' UTR ribosome load from RNA-FM embeddings.

The chapter's recipe (its parameters per profile in :mod:`course_lib.chapters.ch1_config`,
its anchors and results file in :mod:`course_lib.chapters.ch1_report`): training one head
variant of
:class:`~course_lib.models.utr_resnet.Human5PrimeUTRPredictor` from the embedding cache
(:func:`train_head`), error by UTR length (:func:`error_by_length`), the published Framepool
models on the real test sets (:func:`real_predictions`), the heads on each backbone's embeddings
(:func:`backbone_heads`; the backbones themselves in :mod:`course_lib.chapters.ch1_backbones`,
the layer probe in :mod:`course_lib.chapters.ch1_probe`, the scoring in
:mod:`course_lib.chapters.ch1_scoring`), the sentence under the learning curve
(:func:`learning_curve_text`), and the heads on real data:

- ``protocol="cv"`` (``smoke``, ``laptop``): the paper's 76,319 training UTRs are on GEO only,
  so each head is trained by cross-validation within the real Random7600
  (:func:`cv_folds`, from :func:`course_lib.utr_protocol.real_utr_protocol`: an inner
  validation split for the epoch, the label scaler fitted on the fold's training rows),
  each fold model scored on its own Random7600 rows and on the whole Human7600 as an
  external test (:func:`train_heads`, :func:`fold_scores`; the pooled predictions for plots:
  :func:`head_predictions`), with a learning curve over training size
  (:func:`learning_curve`);
- ``protocol="original"`` (``full``): the split of Sample et al. on the GEO varying-length
  table as a single fold (:func:`original_fold_data`), after :func:`check_full_run`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn

from course_lib.chapters.ch1_embedding_cache import EmbeddingCache, UTRBatches
from course_lib.datasets.utr import TEST_NAMES, unscale
from course_lib.encoding import Padding
from course_lib.metrics import regression_metrics
from course_lib.models.framepool import Average
from course_lib.models.published import PublishedModel, published_mrl
from course_lib.models.utr_resnet import Human5PrimeUTRPredictor, embedding_type
from course_lib.profiles import check_long_run, estimate_seconds
from course_lib.training import FitResult, fit, predict, seed_everything
from course_lib.uncertainty import format_interval
from course_lib.utr_protocol import (
    INTERVAL_COLUMNS,
    INTERVAL_METRICS,
    FoldSplit,
    RealUTRProtocol,
    combine_predictions,
    fold_tables,
    scores_with_intervals,
)

NOTEBOOK = "01_utr_rnafm.ipynb"


@dataclass
class HeadRun:
    """One trained head: its model, training history and test predictions (scaled units)."""

    name: str
    input_types: tuple[str, ...]
    padding: str
    model: Human5PrimeUTRPredictor
    fit: FitResult
    predictions: dict[str, tuple[np.ndarray, np.ndarray]]


def train_head(
    name: str,
    input_types: Sequence[str],
    sequences: Mapping[str, Sequence[str]],
    labels: Mapping[str, np.ndarray],
    caches: Mapping[str, EmbeddingCache] | None = None,
    *,
    embed_dim: int = 640,
    channels: int = 64,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    padding: Padding = "right",
    patience: int | None = None,
    device: str = "auto",
    seed: int = 0,
    eval_parts: Sequence[str] = ("test_random", "test_human"),
    eval_batch_size: int = 256,
    show_progress: bool = True,
) -> HeadRun:
    """Train a :class:`Human5PrimeUTRPredictor` on ``"train"``, select on ``"val"``, predict tests.

    ``sequences`` and (scaled) ``labels`` are ``{part: ...}`` with at least ``"train"``,
    ``"val"`` and ``eval_parts``; ``caches`` ``{part: EmbeddingCache}`` are aligned with
    ``sequences`` (needed with an embedding input type). The epoch kept is the one with the lowest
    validation MSE (``patience``: stop after that many epochs without improvement). The run's
    ``predictions[part]`` is ``(labels [n], predictions [n])`` in scaled units; only
    ``"train"`` and ``"val"`` labels ever reach the optimiser or the selection.
    """
    seed_everything(seed)

    def batches(part: str, shuffle: bool) -> UTRBatches:
        cache = caches[part] if caches is not None and embedding_type(input_types) else None
        return UTRBatches(
            sequences[part],
            labels[part],
            tuple(input_types),
            cache,
            padding=padding,
            batch_size=batch_size if part == "train" else eval_batch_size,
            shuffle=shuffle,
            seed=seed,
        )

    model = Human5PrimeUTRPredictor(input_types, embed_dim=embed_dim, channels=channels)
    result = fit(
        model,
        batches("train", True),
        batches("val", False),
        loss_fn=nn.functional.mse_loss,
        epochs=epochs,
        lr=lr,
        device=device,
        patience=patience,
        show_progress=show_progress,
        description=name,
    )
    predictions = {part: predict(model, batches(part, False), device) for part in eval_parts}
    return HeadRun(name, tuple(input_types), padding, model, result, predictions)


def error_by_length(lengths: np.ndarray, y: np.ndarray, p: np.ndarray) -> pd.DataFrame:
    """Per UTR length: ``n``, ``MAE`` and ``MSE`` of predictions ``p`` against ``y`` (all
    ``[n]``), rows without a prediction (NaN: withheld from every test) left out."""
    frame = pd.DataFrame({"len": np.asarray(lengths), "err": np.asarray(p) - np.asarray(y)})
    frame = frame.dropna()
    grouped = frame.groupby("len")["err"]
    return pd.DataFrame(
        {
            "n": grouped.size(),
            "MAE": grouped.apply(lambda e: float(np.mean(np.abs(e)))),
            "MSE": grouped.apply(lambda e: float(np.mean(e**2))),
        }
    )


# ----------------------------------------------------------------------------- real anchors

#: The published MRL models chapter 1 scores, ``{row name: model}``
#: (:data:`course_lib.models.published.PUBLISHED_MRL`); the first is compared with the heads.
PUBLISHED_ROWS: dict[str, PublishedModel] = {
    model.name: model
    for model in map(published_mrl, ("varying-length", "varying-length, one library"))
}
#: Name of the row of MTtrans's shipped predictions (column ``pred_stride1113``).
PEER_ROW = "MTtrans (shipped)"


def real_predictions(
    model_files: Mapping[str, Path],
    test_sets: Mapping[str, pd.DataFrame],
    average: Average = "sequence",
    peer_column: str = "pred_stride1113",
) -> dict[str, dict[str, np.ndarray]]:
    """``{model: {test set: [n] MRL}}`` of the published rows and the shipped MTtrans peer.

    ``model_files`` maps the file roles of :data:`PUBLISHED_ROWS` (the data of their registry
    data set, e.g. ``registry.load("framepool_models").data``) to paths; ``test_sets``
    ``{"Random7600": table, ...}`` with ``utr``, ``rl`` and the peer column.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    for row, model in PUBLISHED_ROWS.items():
        predict = model.predictor(model_files, average)
        out[row] = {name: predict(table["utr"]) for name, table in test_sets.items()}
    out[PEER_ROW] = {name: table[peer_column].to_numpy(float) for name, table in test_sets.items()}
    return out


# ----------------------------------------------------------------------------- heads on real data

#: The sequence-only head: ``{name: (input types, padding)}``.
SEQ_HEADS: dict[str, tuple[tuple[str, ...], Padding]] = {"seq": (("seq",), "right")}
#: Each backbone of :func:`course_lib.chapters.ch1_backbones.load_backbones`: its name in head
#: names and the embedding input type of its heads.
BACKBONE_KEYS = {
    "RNA-FM": ("rnafm", "emb-rnafm"),
    "RNA-FM random": ("rnafm-random", "emb-rnafm"),
    "UTR-LM": ("utrlm", "emb-utrlm"),
}


def backbone_heads(backbone: str) -> dict[str, tuple[tuple[str, ...], Padding]]:
    """The two heads on ``backbone``'s embeddings: ``emb-<key>`` and ``seq+emb-<key>``."""
    key, input_type = BACKBONE_KEYS[backbone]
    return {
        f"emb-{key}": ((input_type,), "right"),
        f"seq+emb-{key}": (("seq", input_type), "right"),
    }


#: The embedding heads on the course's UTR-LM.
UTRLM_HEADS = backbone_heads("UTR-LM")
#: The padding experiment's head, compared with the right-padded ``"seq"`` on the same rows.
LEFT_PADDED: dict[str, tuple[tuple[str, ...], Padding]] = {"seq (left-padded)": (("seq",), "left")}
#: How each protocol is named in model labels (``"seq head (CV)"``).
PROTOCOL_LABELS = {"cv": "CV", "original": "original split"}


@dataclass(frozen=True)
class FoldData:
    """What the heads of one fold train, select and are scored on.

    Attributes
    ----------
    fold
        Fold number (0 for the original protocol's single split).
    sequences, labels
        ``{part: [n_part]}`` UTRs and measured MRL (unscaled) of ``"train"``, ``"val"`` and
        each test set (``"Random7600"``, ``"Human7600"``).
    rows
        ``{test set: [n_part] int}``: the rows of each test set's whole table scored here.
    caches
        ``{part: EmbeddingCache}`` aligned with ``sequences``; ``None`` without embeddings.
    scaler
        Label scaler fitted on ``labels["train"]`` alone.
    """

    fold: int
    sequences: dict[str, list[str]]
    labels: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]
    caches: dict[str, EmbeddingCache] | None
    scaler: StandardScaler


def cv_fold_data(
    protocol: RealUTRProtocol,
    split: FoldSplit,
    cache: EmbeddingCache | None,
    fit_index: np.ndarray | None = None,
    external: bool = True,
) -> FoldData:
    """One fold of the CV protocol: train on (``fit_index`` of) ``split.fit``, select on
    ``split.val``, score ``split.test`` (``"Random7600"``) and, if ``external``, all of
    Human7600.

    ``cache`` holds ``[n_random + n_human]`` rows: Random7600's rows, then Human7600's.
    """
    fit = split.fit if fit_index is None else np.sort(np.asarray(fit_index))
    tables = fold_tables(protocol.random, split, fit)  # rows in the order of the cache's
    n_random, human_rows = len(protocol.random), np.arange(len(protocol.human))
    parts = {"train": tables.fit, "val": tables.val, "Random7600": tables.test}
    cache_rows = {"train": fit, "val": split.val, "Random7600": split.test}
    rows = {"Random7600": split.test}
    if external:
        parts["Human7600"] = protocol.human
        cache_rows["Human7600"] = n_random + human_rows
        rows["Human7600"] = human_rows
    return FoldData(
        split.fold,
        {part: table["utr"].tolist() for part, table in parts.items()},
        {part: table["rl"].to_numpy(float) for part, table in parts.items()},
        rows,
        None if cache is None else {part: cache.take(r) for part, r in cache_rows.items()},
        tables.scaler,
    )


def cv_folds(protocol: RealUTRProtocol, cache: EmbeddingCache | None) -> list[FoldData]:
    """:func:`cv_fold_data` of every fold of ``protocol``, each on all its training rows."""
    return [cv_fold_data(protocol, split, cache) for split in protocol.folds]


def original_fold_data(
    parts: Mapping[str, pd.DataFrame],
    caches: Mapping[str, EmbeddingCache] | None,
    scaler: StandardScaler,
) -> FoldData:
    """The original protocol (:func:`course_lib.datasets.utr.split_utr_mrl`'s ``parts()``,
    per-part ``caches`` keyed the same way) as a single fold."""
    names = {"train": "train", "val": "val", **TEST_NAMES}
    return FoldData(
        0,
        {names[p]: t["utr"].tolist() for p, t in parts.items()},
        {names[p]: t["rl"].to_numpy(float) for p, t in parts.items()},
        {name: np.arange(len(parts[p])) for p, name in TEST_NAMES.items()},
        None if caches is None else {names[p]: c for p, c in caches.items()},
        scaler,
    )


@dataclass
class FoldHead:
    """One head trained on one fold: the run, the fold's scaler, test predictions in MRL.

    ``rows[test set]`` and ``predictions[test set]`` are ``[n_part]``: which rows of the test
    set's whole table were predicted, and the MRL predicted for them.
    """

    name: str
    fold: int
    n_train: int
    run: HeadRun
    scaler: StandardScaler
    rows: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray]


def train_fold_head(
    name: str, head: tuple[tuple[str, ...], Padding], data: FoldData, **train: Any
) -> FoldHead:
    """Train ``head`` (input types, padding) on ``data`` with :func:`train_head` (``train``:
    its keyword arguments) and predict every test set of ``data`` in MRL units."""
    input_types, padding = head
    scale = data.scaler
    labels = {
        p: scale.transform(y.reshape(-1, 1)).ravel().astype(np.float32)
        for p, y in data.labels.items()
    }
    run = train_head(
        f"{name}, fold {data.fold}",
        input_types,
        data.sequences,
        labels,
        data.caches,
        padding=padding,
        eval_parts=tuple(data.rows),
        **train,
    )
    predictions = {s: unscale(run.predictions[s][1], scale) for s in data.rows}
    return FoldHead(name, data.fold, len(labels["train"]), run, scale, data.rows, predictions)


def train_heads(
    folds: Sequence[FoldData], heads: Mapping[str, tuple[tuple[str, ...], Padding]], **train: Any
) -> list[FoldHead]:
    """A fresh model of every head on every fold (:func:`train_fold_head`)."""
    return [
        train_fold_head(name, head, data, **train) for data in folds for name, head in heads.items()
    ]


def model_name(head: str, protocol: str) -> str:
    """A head's label in tables and results: ``"seq head (CV)"``."""
    return f"{head} head ({PROTOCOL_LABELS[protocol]})"


def head_predictions(
    fold_heads: Sequence[FoldHead],
    tables: Mapping[str, pd.DataFrame],
    protocol: str,
    withheld: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """``{model name: {test set: [n] MRL}}`` over the whole test tables, for plots: out of
    fold on Random7600 under CV (single models), the mean of the fold models (an ensemble) on
    Human7600, NaN on the rows ``withheld`` from every test
    (:func:`course_lib.utr_protocol.combine_predictions`)."""
    return combine_predictions(
        ((model_name(fh.name, protocol), fh.rows, fh.predictions) for fh in fold_heads),
        {name: len(table) for name, table in tables.items()},
        withheld,
    )


def fold_scores(
    fold_heads: Sequence[FoldHead], tables: Mapping[str, pd.DataFrame], protocol: str
) -> pd.DataFrame:
    """One row per head, fold and test set: R2, Pearson r^2, Spearman rho on the rows that
    fold predicted, its best validation MSE (scaled) and best epoch."""
    rows = []
    for fh in fold_heads:
        for name, pred in fh.predictions.items():
            y = tables[name]["rl"].to_numpy(float)[fh.rows[name]]
            scores = regression_metrics(y, pred)
            rows.append(
                {
                    "head": model_name(fh.name, protocol),
                    "fold": fh.fold,
                    "test set": name,
                    "n": len(y),
                    **{m: scores[m] for m in INTERVAL_METRICS},
                    "val MSE": fh.run.fit.best_value,
                    "best epoch": fh.run.fit.best_epoch,
                }
            )
    return pd.DataFrame(rows)


def learning_curve(
    protocol: RealUTRProtocol,
    cache: EmbeddingCache | None,
    head: tuple[str, tuple[tuple[str, ...], Padding]],
    n_boot: int,
    fold: int = 0,
    known: FoldHead | None = None,
    seed: int = 0,
    **train: Any,
) -> pd.DataFrame:
    """Test scores of one head against training size on one fold (``protocol.sizes``).

    Each size trains a fresh model on a nested, length-stratified subset of the fold's
    training rows; validation and test rows stay the same. Every size gets the optimiser
    steps of the largest (``train["epochs"]`` scaled by ``n_fit / size``), so a small set is
    not also under-trained; the epoch best on validation is kept, and training stops after
    ``train["patience"]`` epochs without improvement (``None``: ``train["epochs"]``).
    ``known`` (a :class:`FoldHead` of that fold trained on all its training rows) stands in
    for the largest size. Returns one row per size (index ``"training UTRs"``): ``epochs``
    (the most it could train) and R2 and Pearson r^2 on the fold's test rows with 95 %
    intervals.
    """
    name, spec = head
    split, epochs = protocol.folds[fold], train.pop("epochs")
    train["patience"] = train.get("patience") or epochs
    test = protocol.random.iloc[split.test]
    rows = []
    for size, index in protocol.learning_curve(fold, seed).items():
        n_epochs = -(-epochs * len(split.fit) // size)
        if known is not None and known.n_train == size == len(split.fit):
            pred = known.predictions["Random7600"]
        else:
            data = cv_fold_data(protocol, split, cache, index, external=False)
            fitted = train_fold_head(name, spec, data, seed=seed, epochs=n_epochs, **train)
            pred = fitted.predictions["Random7600"]
        scores = scores_with_intervals(
            test["rl"], pred, test["len"], metrics=("R2", "Pearson r^2"), n_boot=n_boot, seed=seed
        )
        rows.append(
            {"training UTRs": size, "epochs": n_epochs}
            | {f"{m}{s}": v[k] for m, v in scores.items() for s, k in INTERVAL_COLUMNS}
        )
    return pd.DataFrame(rows).set_index("training UTRs")


def learning_curve_text(curve: pd.DataFrame, n_test: int, paper_size: int) -> str:
    """The Markdown sentence under the learning curve of the ``seq`` head on fold 0.

    Parameters
    ----------
    curve
        :func:`learning_curve`'s table (index ``training UTRs``; ``R2``, ``R2 ci low``,
        ``R2 ci high``).
    n_test
        Fold 0's real test UTRs.
    paper_size
        The paper's training set size (beyond the data: no number is given for it).
    """
    small, large = curve.index[0], curve.index[-1]
    r2_at = {
        n: format_interval(*curve.loc[n, ["R2", "R2 ci low", "R2 ci high"]]) for n in (small, large)
    }
    return (
        f"With {small:,} training UTRs the `seq` head reaches R² {r2_at[small]} on fold "
        f"0's {n_test:,} real test UTRs; with all {large:,} of the fold's training UTRs, "
        f"{r2_at[large]}. The paper trained on {paper_size:,}, {paper_size / large:.0f} times "
        "more: that point is beyond the data, and no number is given for it."
    )


def interval_text(table: pd.DataFrame, model: str, test_set: str, metric: str = "R2") -> str:
    """``"0.432 [0.410, 0.455]"``: ``model``'s ``metric`` on ``test_set`` with its 95 %
    interval, from a :func:`course_lib.utr_protocol.scores_table`."""
    row = table.loc[(model, test_set)]
    return format_interval(row[metric], row[f"{metric} ci low"], row[f"{metric} ci high"])


def head_training_seconds(
    heads: Mapping[str, tuple[tuple[str, ...], Padding]],
    n_train: int,
    embed_dim: int,
    settings: Mapping[str, Any],
    device: torch.device | str,
) -> float:
    """Estimated seconds to train every head ``settings["epochs"]`` epochs on ``n_train``
    UTRs, timed from a few optimiser steps on batches of zeros of the real shapes."""
    batch = settings["batch_size"]
    steps = -(-n_train // batch) * settings["epochs"]
    inputs = {"seq": torch.zeros(batch, 100, 4), "emb": torch.zeros(batch, 100, embed_dim)}
    target, total = torch.zeros(batch), 0.0
    for input_types, _ in heads.values():
        model = Human5PrimeUTRPredictor(
            input_types, embed_dim=embed_dim, channels=settings["channels"]
        )
        model.to(device).train()
        x = {
            k: v.to(device)
            for k, v in inputs.items()
            if k == "seq" and "seq" in input_types or k == "emb" and embedding_type(input_types)
        }
        optimiser = torch.optim.Adam(model.parameters())

        def step(model=model, x=x, optimiser=optimiser) -> None:
            optimiser.zero_grad()
            nn.functional.mse_loss(model(**x), target.to(device)).backward()
            optimiser.step()

        total += estimate_seconds(step, steps)
    return total


def check_full_run(
    settings: Mapping[str, Any],
    device: torch.device | str,
    backbone: Any,
    heads: Mapping[str, tuple[tuple[str, ...], Padding]],
    n_embed: int,
    n_train: int,
    n_folds: int = 1,
) -> None:
    """Before ``full``'s long steps: estimate embedding ``n_embed`` UTRs and training
    ``heads`` on ``n_folds`` folds of ``n_train`` UTRs, and let
    :func:`course_lib.profiles.check_long_run` stop a CPU run (other profiles: nothing)."""
    if settings["profile"] != "full":
        return
    batch = settings["embed_batch_size"]
    embed = estimate_seconds(lambda: backbone.embed(["ACGU" * 25] * batch), -(-n_embed // batch), 1)
    train = n_folds * head_training_seconds(heads, n_train, backbone.embed_dim, settings, device)
    what = f"embedding {n_embed:,} UTRs and training {len(heads)} heads on {n_train:,} UTRs"
    check_long_run(settings, device, embed + train, what)
