"""Chapter 5's recipe check: would the other fine-tuning recipe have done better?

The sample-efficiency curve trains every transformer arm with one recipe: a frozen backbone and
a trained head (``freeze_backbone=True``, ``smoke``/``laptop``) or the whole model fine-tuned
with a lower backbone rate after a frozen warm-up (``full``, as UTR-LM). :func:`recipe_check`
trains one arm with the *other* recipe on the curve's largest label count of fold 0, at every
learning rate of the grid (one run each), and sets its validation R² beside the curve's own
grid there; :func:`recipe_sentence` says which recipe won in this run, that they tie
within the spread of the curve's runs, or that they cannot be told apart (one run each, or
neither beating the mean). The validation rows are fold 0's, which the curve's
protocol already withholds from every test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch

from course_lib.chapters.ch5_efficiency import (
    Arm,
    EfficiencyCurve,
    arm_inputs,
    fit_run,
    fold_curve_loaders,
    test_tables,
)
from course_lib.utr_protocol import RealUTRProtocol


def recipe_name(settings: Mapping[str, Any]) -> str:
    """``"frozen backbone"`` or ``"fine-tuned backbone"`` (``settings["freeze_backbone"]``)."""
    return "frozen backbone" if settings["freeze_backbone"] else "fine-tuned backbone"


def recipe_check(
    curve: EfficiencyCurve,
    arm: Arm,
    protocol: RealUTRProtocol,
    settings: Mapping[str, Any],
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> pd.DataFrame:
    """``arm`` trained with the recipe the curve did not use, beside the curve's grid.

    Returns one row per recipe and learning rate (``recipe``, ``lr``, ``val R2``, ``runs``):
    the other recipe's runs (fold 0, the curve's largest label count, the same rows, shuffles
    and seed as the curve's first run there) and the curve's own grid rows for ``arm`` there
    (the mean over its ``lr_seeds`` runs).
    """
    from course_lib.utr_protocol import learning_curve_subsets

    n, split = max(curve.counts), protocol.folds[0]
    other = {**settings, "freeze_backbone": not settings["freeze_backbone"]}
    rows = learning_curve_subsets(split, protocol.random["len"], [n], seed)[n]
    tests = test_tables(protocol, split, settings["test_per_length"], seed)
    where = (protocol, split, rows, tests)
    inputs = arm_inputs(arm, other, protocol, device, {})
    _, val = fold_curve_loaders(*where, inputs, other, seed, ("val",))
    run_seed, out = seed + split.fold, []  # the seed of the curve's first run there
    for lr in settings["lr_grid"]:
        label = f"{arm.name}, {recipe_name(other)}, {n} labels, lr {lr:g}"
        fit_ = fit_run(arm, lr, where, inputs, val, other, device, run_seed, label)[1]
        out.append({"recipe": recipe_name(other), "lr": lr, "val R2": fit_.best_value, "runs": 1})
    grid = curve.lr_grid[(curve.lr_grid["arm"] == arm.name) & (curve.lr_grid["labels"] == n)]
    own = grid[["lr", "val R2", "runs", "val R2 spread"]].assign(recipe=recipe_name(settings))
    return pd.concat([own, pd.DataFrame(out)], ignore_index=True).assign(arm=arm.name, labels=n)


def recipe_sentence(check: pd.DataFrame, settings: Mapping[str, Any]) -> str:
    """Which recipe reached the better validation R² in :func:`recipe_check`, in one sentence
    (each recipe at its best learning rate).

    A difference no larger than the ``val R2 spread`` of the curve's runs at its best rate
    (over ``lr_seeds`` runs) is called a tie: one run cannot be told from another there. With
    one run each (``lr_seeds=1``: no spread) or neither R² above 0, no recipe is called the
    better one; a recipe whose best R² is not above 0 is said not to beat predicting the mean.
    """
    best = check.loc[check.groupby("recipe", sort=False)["val R2"].idxmax()]
    arm, n = check["arm"].iloc[0], int(check["labels"].iloc[0])
    parts = [
        f"{r.recipe} {r['val R2']:.3f} (lr {r.lr:g}, {_runs(r.runs)})" for _, r in best.iterrows()
    ]
    used = recipe_name(settings)
    own = best[best["recipe"] == used].iloc[0]
    gap = float(best["val R2"].max() - best["val R2"].min())
    spread = float(own.get("val R2 spread", float("nan"))) if own.runs > 1 else float("nan")
    winner = best.loc[best["val R2"].idxmax(), "recipe"]
    no_skill = [
        f"{r.recipe} does not beat predicting the mean (val R2 {r['val R2']:.3f} <= 0)"
        for _, r in best.iterrows()
        if not r["val R2"] > 0
    ]
    if math.isnan(spread):
        verdict = "the recipes cannot be told apart (one run each, no estimate of run-to-run noise)"
    elif len(no_skill) == len(best):
        verdict = "the recipes cannot be told apart"
    elif gap <= spread:
        verdict = (
            f"the recipes tie: their difference ({gap:.3f}) is within the spread of the "
            f"curve's {int(own.runs)} runs at lr {own.lr:g} ({spread:.3f})"
        )
    elif winner == used:
        verdict = f"the curve's recipe ({used}) is the better one in this run"
    else:
        verdict = (
            f"the other recipe ({winner}) would have been the better one in this run: "
            f"rerun with freeze_backbone={not settings['freeze_backbone']}"
        )
    verdict = "; ".join([verdict, *no_skill])
    return (
        f"Recipe check, {arm} at {n:,} labels on fold 0's validation UTRs: "
        f"{'; '.join(parts)}; {verdict} (one fold, few runs: a check, not a test)."
    )


def _runs(count: int) -> str:
    return "one run" if int(count) == 1 else f"mean of {int(count)} runs"
