"""Chapter 5's sample-efficiency curve: what pretraining adds at several label counts.

Every arm is fine-tuned on the same nested, length-stratified subsets of each Random7600
fold's training rows (:func:`course_lib.utr_protocol.learning_curve_subsets`), selected on the
fold's validation rows and scored on the fold's held-out rows and on Human7600
(:func:`efficiency_curve`). The arms (:class:`Arm`): pretrained backbones (natural-sequence
MLM, optionally MLM + MFE + structure), the negative control pretrained identically on
composition-matched i.i.d. sequence, the same transformer with random weights, and the one-hot
ResNet of chapter 1 (:class:`~course_lib.models.utr_resnet.Human5PrimeUTRPredictor`, no
transformer) and, as the shallow reference every deep arm is read against, a ridge
regression on k-mer frequencies (:data:`KMER_RIDGE`, chapter 1's probe features: no network,
its penalty chosen by leave-one-out on the training rows). Every network arm picks its
learning rate from a grid on fold 0's validation rows at each label count (the best mean over
``lr_seeds`` runs); the transformer arms share one recipe: a frozen backbone whose states are
computed once (:class:`FrozenStates`), or a fine-tuned one at a lower rate after a frozen
warm-up (``freeze_backbone``).

Single fold models are scored; :func:`fold_mean_interval` gives the fold mean of R² (or of
a difference between two arms) with a percentile bootstrap over test rows, paired (the same
resampled rows for both arms). :func:`efficiency_table`, :func:`conclusions` and
:func:`plot_efficiency` read the curve. Statistics live in
:mod:`course_lib.chapters.ch5_efficiency_stats`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.chapters.ch5_frozen_states import FrozenStates
from course_lib.chapters.ch5_mrl_finetuning import FinetuneRecipe, train_steps
from course_lib.training import FitResult
from course_lib.utr_protocol import FoldSplit, RealUTRProtocol

#: Test sets of the curve: a fold's held-out Random7600 rows and Human7600.
TEST_SETS = ("Random7600 fold", "Human7600")
#: UTRs per forward pass when predicting.
EVAL_BATCH = 256
#: What an arm's loaders hold: ``"tokens"``, ``"onehot"`` or a frozen backbone's states.
Inputs = str | FrozenStates
#: Seed offset between the repeated runs of one learning rate on fold 0 (``lr_seeds``).
RUN_SEED_STRIDE = 1000


@dataclass(frozen=True)
class KmerRidge:
    """The source of an arm that is no network: a ridge regression of MRL on k-mer frequencies
    (k = 1 .. ``k_max``) and the length (:func:`course_lib.ridge.kmer_features`),
    standardised on the training rows, its penalty chosen by leave-one-out on them."""

    k_max: int = 3


#: The shallow reference arm's source.
KMER_RIDGE = KmerRidge()


@dataclass(frozen=True)
class Arm:
    """One arm of the curve.

    Attributes
    ----------
    name
        Its label in tables and plots.
    source
        A checkpoint folder (a pretrained backbone), an ``EsmConfig`` (random weights),
        ``None`` (the one-hot ResNet) or a :class:`KmerRidge` (no network).
    from_scratch
        ``True``: its learning rate is chosen from the grid on validation, one group.
    """

    name: str
    source: Any
    from_scratch: bool = False


def curve_plan(arms: Sequence[Arm], settings: Any) -> str:
    """What the curve will train: arms (networks and regressions counted apart), label
    counts, folds and the step budget of the networks, in one sentence."""
    ridges = sum(isinstance(arm.source, KmerRidge) for arm in arms)
    networks = len(arms) - ridges
    kinds = f"{networks} fine-tuned network(s), at most {settings.finetune_steps} steps each"
    if ridges:
        kinds += f", and {ridges} ridge regression(s) (no steps)"
    return (
        f"{len(arms)} arms ({kinds}) x {len(settings.efficiency_counts)} label counts x "
        f"{settings.real_folds} fold(s); selection on validation R2"
    )


@dataclass
class EfficiencyCurve:
    """Every fine-tuned model of the curve.

    Attributes
    ----------
    runs
        One row per arm, label count and fold: ``arm``, ``labels``, ``fold``, ``lr``,
        ``val R2``, ``best step``, and ``R2`` of each of :data:`TEST_SETS`.
    predictions
        ``{(arm, labels, fold, test set): [m]}`` MRL predictions.
    truth
        ``{(fold, test set): (y [m], lengths [m], utrs [m])}``.
    lr_grid
        One row per network arm, label count and learning rate tried on the first fold, in
        the order tried: ``arm``, ``labels``, ``lr``, ``val R2`` (empty when no grid ran).
    fits
        ``{(arm, labels, fold): FitResult}``.
    """

    runs: pd.DataFrame
    predictions: dict[tuple[str, int, int, str], np.ndarray]
    truth: dict[tuple[int, str], tuple[np.ndarray, np.ndarray, list[str]]]
    lr_grid: pd.DataFrame
    fits: dict[tuple[str, int, int], FitResult] = field(default_factory=dict)

    @property
    def arms(self) -> list[str]:
        """Arm names in run order."""
        return list(dict.fromkeys(self.runs["arm"]))

    @property
    def counts(self) -> list[int]:
        """Label counts, ascending."""
        return sorted(set(self.runs["labels"]))

    @property
    def folds(self) -> list[int]:
        """Folds, ascending."""
        return sorted(set(self.runs["fold"]))


def curve_protocol(protocol: RealUTRProtocol) -> RealUTRProtocol:
    """``protocol`` with fold 0's validation rows withheld from every fold's test rows.

    The curve chooses each arm's learning rate (and :func:`choose_by_validation` a
    pretraining loss weight) once, on fold 0's validation rows, and reuses the choice on every
    fold; those rows are test rows of the other folds, so they are scored nowhere
    (:meth:`~course_lib.utr_protocol.RealUTRProtocol.withholding`).
    """
    return protocol.withholding(protocol.folds[0].val)


def _check_curve_protocol(protocol: RealUTRProtocol) -> None:
    """Refuse test rows that include fold 0's validation rows (:func:`curve_protocol`)."""
    protocol.check_withheld(
        protocol.folds[0].val, "the learning rate, chosen on fold 0's validation rows,"
    )


def per_length_subset(lengths: np.ndarray, per_length: int | None, seed: int) -> np.ndarray:
    """Sorted positions of at most ``per_length`` rows of each length (``None``: all)."""
    lengths = np.asarray(lengths)
    if per_length is None:
        return np.arange(len(lengths))
    rng = np.random.default_rng(seed)
    picked = [
        rng.permutation(np.flatnonzero(lengths == n))[:per_length] for n in np.unique(lengths)
    ]
    return np.sort(np.concatenate(picked))


def test_tables(
    protocol: RealUTRProtocol, split: FoldSplit, per_length: int | None, seed: int
) -> dict[str, pd.DataFrame]:
    """``{test set: table}`` of one fold: its held-out Random7600 rows and Human7600, each cut
    to ``per_length`` UTRs per length (the same Human7600 rows for every fold)."""
    random = protocol.random.iloc[split.test].reset_index(drop=True)
    human = protocol.human.reset_index(drop=True)
    return {
        "Random7600 fold": random.iloc[per_length_subset(random["len"], per_length, seed)],
        "Human7600": human.iloc[per_length_subset(human["len"], per_length, seed)],
    }


def _loader(
    utrs: Sequence[str], y: np.ndarray, inputs: Inputs, batch: int, shuffle: bool, seed: int
):
    """Token batches (``"tokens"``), one-hot ``{"seq": [b, 100, 4]}`` batches (``"onehot"``) or
    a frozen backbone's ``{"emb": [b, W, H]}`` (a :class:`FrozenStates`)."""
    from course_lib.models.utr_lm import MAX_TOKENS, encode_utrs, utr_vocabulary
    from course_lib.token_batches import mrl_loader

    if inputs == "tokens":
        tokens = encode_utrs(list(utrs), utr_vocabulary(), MAX_TOKENS)
        return mrl_loader(tokens, y, batch, shuffle=shuffle, seed=seed)
    if isinstance(inputs, FrozenStates):
        x, key = inputs(list(utrs)), "emb"
    else:
        from course_lib.encoding import one_hot

        x = torch.from_numpy(one_hot(list(utrs), length=MAX_TOKENS - 2, padding="right"))
        key = "seq"
    generator = torch.Generator().manual_seed(seed)
    dataset = TensorDataset(x, torch.from_numpy(np.asarray(y, dtype=np.float32)))
    loader = DataLoader(dataset, batch, shuffle=shuffle, generator=generator)
    return _NamedBatches(loader, key)


class _NamedBatches:
    """A loader of ``(x, y)`` seen as ``({key: x}, y)`` batches."""

    def __init__(self, loader: DataLoader, key: str) -> None:
        self.loader, self.key = loader, key

    def __iter__(self):
        for x, y in self.loader:
            yield {self.key: x}, y

    def __len__(self) -> int:
        return len(self.loader)


def fold_curve_loaders(
    protocol: RealUTRProtocol,
    split: FoldSplit,
    rows: np.ndarray,
    tests: Mapping[str, pd.DataFrame],
    inputs: Inputs,
    settings: Mapping[str, Any],
    seed: int,
    names: Sequence[str] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The scaler (fitted on ``rows``) and loaders ``train`` (shuffled with ``seed``), ``val``
    and one per test set (only ``names`` when given), reading ``inputs`` (:func:`arm_inputs`)."""
    from course_lib.datasets.utr import scale_labels
    from course_lib.utr_protocol import fold_tables

    parts = fold_tables(protocol.random, split, rows)
    tables = {"train": parts.fit, "val": parts.val, **tests}
    loaders = {
        name: _loader(
            table["utr"].tolist(),
            scale_labels(table, parts.scaler),
            inputs,
            settings["finetune_batch_size"] if name == "train" else EVAL_BATCH,
            name == "train",
            seed,
        )
        for name, table in tables.items()
        if names is None or name in names
    }
    return parts.scaler, loaders


def reads_states(arm: Arm, settings: Mapping[str, Any]) -> bool:
    """Whether ``arm`` trains only a ``"resnet"`` head on a frozen transformer
    (``freeze_backbone``): it is then trained on :class:`FrozenStates`, computed once, instead
    of on tokens (an ``"mlp"`` head on a frozen backbone still reads tokens)."""
    transformer = arm.source is not None and not isinstance(arm.source, KmerRidge)
    frozen = settings["freeze_backbone"] and settings["head"] == "resnet"
    return transformer and not arm.from_scratch and frozen


def arm_inputs(
    arm: Arm,
    settings: Mapping[str, Any],
    protocol: RealUTRProtocol,
    device: torch.device | str,
    states: dict[str, FrozenStates],
) -> Inputs:
    """What ``arm``'s loaders hold: ``"onehot"``, ``"tokens"`` or its :class:`FrozenStates` on
    every UTR of ``protocol`` (computed on first use, kept in ``states`` under its name)."""
    if arm.source is None:
        return "onehot"
    if not reads_states(arm, settings):
        return "tokens"
    if arm.name not in states:
        utrs = [*protocol.random["utr"], *protocol.human["utr"]]
        model = build_model(arm, settings)
        states[arm.name] = FrozenStates.compute(model, utrs, device, True, f"{arm.name}: states")
    return states[arm.name]


def build_model(arm: Arm, settings: Mapping[str, Any]) -> nn.Module:
    """A fresh MRL model of ``arm``: UTR-LM with the chapter's head, or the one-hot ResNet."""
    if arm.source is None:
        from course_lib.models.utr_resnet import Human5PrimeUTRPredictor

        return Human5PrimeUTRPredictor(("seq",), channels=settings["head_channels"])
    from course_lib.models.utr_lm import mrl_model

    return mrl_model(
        arm.source,
        head=settings["head"],
        pooling=settings["pooling"],
        head_channels=settings["head_channels"],
    )


def arm_recipe(arm: Arm, settings: Mapping[str, Any], lr: float) -> FinetuneRecipe:
    """From-scratch arms (the one-hot ResNet): one learning rate ``lr`` for all weights, no
    frozen warm-up; transformer arms, pretrained or with random weights:
    ``settings["backbone_lr_factor"]`` and ``settings["frozen_steps"]`` (all steps with
    ``settings["freeze_backbone"]``)."""
    pretrained = not arm.from_scratch
    frozen = settings["finetune_steps"] if settings["freeze_backbone"] else settings["frozen_steps"]
    return FinetuneRecipe(
        lr=lr,
        backbone_lr_factor=settings["backbone_lr_factor"] if pretrained else 1.0,
        frozen_steps=frozen if pretrained else 0,
        steps=settings["finetune_steps"],
        eval_every=settings["finetune_eval_every"],
        patience=settings["patience"],
        loss=settings["loss"],
    )


def fit_arm(
    arm: Arm,
    lr: float,
    loaders: Mapping[str, Any],
    settings: Mapping[str, Any],
    device: torch.device | str,
    seed: int,
    description: str,
) -> tuple[nn.Module, FitResult]:
    """Seed, build and fine-tune one model of ``arm`` at learning rate ``lr``; the module that
    reads ``loaders``' batches (the head alone when the arm :func:`reads_states`) and its fit."""
    from course_lib.training import seed_everything

    seed_everything(seed)
    model = build_model(arm, settings)
    trained = model.head if reads_states(arm, settings) else model
    recipe = arm_recipe(arm, settings, lr)
    fit_ = train_steps(trained, loaders["train"], loaders["val"], recipe, device, True, description)
    return trained, fit_


def fit_run(
    arm: Arm,
    lr: float,
    where: tuple[RealUTRProtocol, FoldSplit, np.ndarray, Mapping[str, pd.DataFrame]],
    inputs: Inputs,
    shared: Mapping[str, Any],
    settings: Mapping[str, Any],
    device: torch.device | str,
    run_seed: int,
    description: str,
) -> tuple[nn.Module, FitResult]:
    """One run of :func:`fit_arm` on the rows of ``where`` (protocol, fold split, training
    rows, test tables) with a fresh training loader shuffled by ``run_seed`` (the same
    shuffles whatever ran before) beside the ``shared`` loaders (``val``, and the tests where
    the run's model is scored)."""
    protocol, split, rows, tests = where
    train = fold_curve_loaders(protocol, split, rows, tests, inputs, settings, run_seed, ("train",))
    return fit_arm(arm, lr, {**shared, **train[1]}, settings, device, run_seed, description)


def predict_tests(
    model: nn.Module, loaders: Mapping[str, Any], scaler: Any, device: torch.device | str
) -> dict[str, np.ndarray]:
    """``{test set: [m]}`` MRL predictions of ``model`` on the loaders of :data:`TEST_SETS`."""
    from course_lib.datasets.utr import unscale
    from course_lib.training import predict

    return {name: unscale(predict(model, loaders[name], device)[1], scaler) for name in TEST_SETS}


def efficiency_curve(
    arms: Sequence[Arm],
    protocol: RealUTRProtocol,
    settings: Mapping[str, Any],
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> EfficiencyCurve:
    """Fine-tune every arm at every label count of ``settings["efficiency_counts"]`` on the
    first ``settings["real_folds"]`` folds; score :data:`TEST_SETS` (``test_per_length``).

    Every arm tries every learning rate of ``settings["lr_grid"]`` (a transformer arm's head
    rate; its backbone learns at ``backbone_lr_factor`` times it, or not at all with
    ``freeze_backbone``) on the first fold at each label count, ``settings["lr_seeds"]`` runs
    each, and keeps the rate with the best mean validation R² for every fold, so no arm is
    tuned more carefully than another; fold 0 is scored by that rate's first run, as every
    other fold by its one run. ``protocol`` must withhold those validation rows from every
    test (:func:`curve_protocol`, else ``ValueError``). A frozen backbone's states are
    computed once per arm (:class:`FrozenStates`).
    """
    from course_lib.utr_protocol import learning_curve_subsets

    _check_curve_protocol(protocol)
    curve = EfficiencyCurve(pd.DataFrame(), {}, {}, pd.DataFrame())
    rows, grid_rows, chosen, states = [], [], {}, {}
    counts = sorted(settings["efficiency_counts"])
    for split in protocol.folds[: settings["real_folds"]]:
        subsets = learning_curve_subsets(split, protocol.random["len"], counts, seed)
        tests = test_tables(protocol, split, settings["test_per_length"], seed)
        for name, table in tests.items():
            y, lengths = table["rl"].to_numpy(float), table["len"].to_numpy()
            curve.truth[(split.fold, name)] = (y, lengths, table["utr"].tolist())
        for n in counts:
            for arm in arms:
                where = (protocol, split, subsets[n], tests)
                inputs = arm_inputs(arm, settings, protocol, device, states)
                grid = _one_run(curve, arm, n, where, inputs, settings, device, seed, chosen, rows)
                grid_rows += [{"arm": arm.name, "labels": n, **g} for g in grid]
    curve.runs, curve.lr_grid = pd.DataFrame(rows), pd.DataFrame(grid_rows)
    return curve


def _one_run(
    curve: EfficiencyCurve,
    arm: Arm,
    n: int,
    where: tuple[RealUTRProtocol, FoldSplit, np.ndarray, Mapping[str, pd.DataFrame]],
    inputs: Inputs,
    settings: Mapping[str, Any],
    device: torch.device | str,
    seed: int,
    chosen: dict[tuple[str, int], float],
    rows: list[dict[str, Any]],
) -> list[dict[str, float]]:
    """Fine-tune ``arm`` on ``n`` rows of one fold (the first fold tries the learning-rate grid,
    ``settings["lr_seeds"]`` runs per rate, the rate chosen recorded in ``chosen``), store its
    predictions and its runs row in ``rows``; return the grid's ``{"lr", "val R2", "runs",
    "val R2 spread"}`` rows (empty when no grid ran)."""

    protocol, split, subset, tests = where
    if isinstance(arm.source, KmerRidge):
        rows.append(_ridge_run(curve, arm, n, where))
        return []
    key = (arm.name, n)
    grid_lrs = settings["lr_grid"] if key not in chosen else ()
    repeats = settings["lr_seeds"] if grid_lrs else 1
    scaler, loaders = fold_curve_loaders(
        protocol, split, subset, tests, inputs, settings, seed, ("val", *tests)
    )
    best, grid = None, []
    for lr in grid_lrs or (chosen[key],):
        scores, first = [], None
        for repeat in range(repeats):
            run_seed = seed + split.fold + RUN_SEED_STRIDE * repeat
            label = f"{arm.name}, {n} labels, fold {split.fold}, lr {lr:g}, run {repeat + 1}"
            model, fit_ = fit_run(
                arm, lr, where, inputs, loaders, settings, device, run_seed, label
            )
            scores.append(fit_.best_value)
            first = first or (model, fit_)
        grid.append({"lr": lr, "val R2": float(np.mean(scores)), "runs": repeats})
        grid[-1]["val R2 spread"] = float(np.ptp(scores))
        if best is None or grid[-1]["val R2"] > best[0]:
            best = (grid[-1]["val R2"], lr, *first)
    _, lr, model, fit_ = best
    chosen[key] = lr
    best_step = int(fit_.history["step"].iloc[fit_.best_epoch - 1])
    out = {"arm": arm.name, "labels": n, "fold": split.fold, "lr": lr}
    out |= {"val R2": fit_.best_value, "best step": best_step}
    _score_tests(
        curve, (arm.name, n, split.fold), predict_tests(model, loaders, scaler, device), out
    )
    curve.fits[(arm.name, n, split.fold)] = fit_
    rows.append(out)
    return grid if grid_lrs else []


def _ridge_run(
    curve: EfficiencyCurve,
    arm: Arm,
    n: int,
    where: tuple[RealUTRProtocol, FoldSplit, np.ndarray, Mapping[str, pd.DataFrame]],
) -> dict[str, Any]:
    """Fit :class:`KmerRidge` on ``n`` rows of one fold, store its test predictions; its runs
    row (``lr`` and ``best step`` empty, ``ridge alpha`` the penalty chosen)."""
    from course_lib.metrics import r2
    from course_lib.ridge import kmer_features, ridge_model
    from course_lib.utr_protocol import fold_tables

    protocol, split, subset, tests = where
    parts = fold_tables(protocol.random, split, subset)

    def features(table: pd.DataFrame) -> np.ndarray:
        return kmer_features(table["utr"].tolist(), arm.source.k_max)

    model = ridge_model()
    model.fit(features(parts.fit), parts.fit["rl"].to_numpy(float))
    val_r2 = r2(parts.val["rl"].to_numpy(float), model.predict(features(parts.val)))
    out = {"arm": arm.name, "labels": n, "fold": split.fold, "lr": float("nan")}
    out |= {"val R2": val_r2, "best step": float("nan"), "ridge alpha": model[-1].alpha_}
    predictions = {name: model.predict(features(table)) for name, table in tests.items()}
    _score_tests(curve, (arm.name, n, split.fold), predictions, out)
    return out


def _score_tests(
    curve: EfficiencyCurve,
    run: tuple[str, int, int],
    predictions: Mapping[str, np.ndarray],
    out: dict[str, Any],
) -> None:
    """Store one run's ``{test set: [n_test] predictions}`` in ``curve`` under ``run`` =
    ``(arm, labels, fold)`` and its R2 on each test set in ``out`` (``"<test set> R2"``)."""
    from course_lib.metrics import r2

    fold = run[2]
    for name, pred in predictions.items():
        curve.predictions[(*run, name)] = pred
        out[f"{name} R2"] = r2(curve.truth[(fold, name)][0], pred)


def choose_by_validation(
    candidates: Mapping[Any, Arm],
    protocol: RealUTRProtocol,
    settings: Mapping[str, Any],
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> tuple[Any, pd.DataFrame]:
    """The key of ``candidates`` (e.g. a loss weight) whose arm fine-tunes to the best
    validation R² on fold 0 at the smallest label count, and each candidate's R²."""
    from course_lib.utr_protocol import learning_curve_subsets

    _check_curve_protocol(protocol)
    split, n = protocol.folds[0], min(settings["efficiency_counts"])
    rows = learning_curve_subsets(split, protocol.random["len"], [n], seed)[n]
    tests = test_tables(protocol, split, settings["test_per_length"], seed)
    scores = {}
    for key, arm in candidates.items():
        inputs = arm_inputs(arm, settings, protocol, device, {})
        _, loaders = fold_curve_loaders(protocol, split, rows, tests, inputs, settings, seed)
        label = f"{arm.name}: candidate {key} on validation"
        fit_ = fit_arm(arm, settings["finetune_lr"], loaders, settings, device, seed, label)[1]
        scores[key] = fit_.best_value
    table = pd.DataFrame({"candidate": list(scores), "val R2": list(scores.values())})
    return max(scores, key=scores.get), table.assign(labels=n, fold=split.fold)
