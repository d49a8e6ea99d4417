"""Chapter 5's recipe check: the other fine-tuning recipe, beside the curve's grid."""

from __future__ import annotations

import pandas as pd
import pytest
from test_ch5_efficiency import SETTINGS, _config, _protocol, one_torch_thread  # noqa: F401

from course_lib.chapters.ch5_efficiency import Arm, efficiency_curve
from course_lib.chapters.ch5_recipe_check import recipe_check, recipe_name, recipe_sentence


@pytest.mark.parametrize("frozen", [False, True])
def test_the_check_trains_the_other_recipe_at_every_rate_beside_the_curve_s_grid(frozen):
    _, protocol = _protocol()
    settings = {**SETTINGS, "real_folds": 1, "freeze_backbone": frozen}
    arm = Arm("pre", _config())
    curve = efficiency_curve([arm], protocol, settings)
    check = recipe_check(curve, arm, protocol, settings)
    used, other = recipe_name(settings), recipe_name({"freeze_backbone": not frozen})
    assert check["recipe"].tolist() == [used] * 2 + [other] * 2
    assert check["lr"].tolist() == [*SETTINGS["lr_grid"], *SETTINGS["lr_grid"]]
    assert (check["labels"] == max(SETTINGS["efficiency_counts"])).all()
    own = curve.lr_grid[curve.lr_grid["labels"] == check["labels"].iloc[0]]
    assert check["val R2"].iloc[:2].tolist() == own["val R2"].tolist()
    assert check["val R2"].notna().all()


def _check(frozen_r2: float, tuned_r2: float, spread: float = 0.01, runs: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "recipe": ["frozen backbone", "frozen backbone", "fine-tuned backbone"],
            "lr": [1e-2, 3e-2, 1e-3],
            "val R2": [frozen_r2, frozen_r2 - 0.1, tuned_r2],
            "runs": [runs, runs, 1],
            "val R2 spread": [spread, 0.5, float("nan")],
            "arm": "(b)",
            "labels": 3000,
        }
    )


def test_the_sentence_says_which_recipe_won_and_how_to_switch():
    frozen = {"freeze_backbone": True}
    won = recipe_sentence(_check(0.5, 0.3), frozen)
    assert won == (
        "Recipe check, (b) at 3,000 labels on fold 0's validation UTRs: frozen backbone 0.500 "
        "(lr 0.01, mean of 2 runs); fine-tuned backbone 0.300 (lr 0.001, one run); the curve's "
        "recipe (frozen backbone) is the better one in this run (one fold, few runs: a check, "
        "not a test)."
    )
    lost = recipe_sentence(_check(0.3, 0.5), frozen)
    assert "the other recipe (fine-tuned backbone) would have been the better one" in lost
    assert "rerun with freeze_backbone=False" in lost


def test_a_difference_within_the_spread_of_the_curve_s_runs_is_a_tie():
    frozen = {"freeze_backbone": True}
    tie = recipe_sentence(_check(0.481, 0.486, spread=0.02), frozen)
    assert (
        "the recipes tie: their difference (0.005) is within the spread of the curve's 2 runs"
        in tie
    )
    assert "at lr 0.01 (0.020)" in tie
    assert "rerun" not in tie
    # the spread of another rate (0.5) does not count, and one run measures no spread
    assert "would have been the better one" in recipe_sentence(_check(0.481, 0.5), frozen)


def test_one_run_each_cannot_tell_the_recipes_apart():
    frozen = {"freeze_backbone": True}
    for frozen_r2, tuned_r2 in [(0.481, 0.486), (0.3, 0.5), (0.5, 0.3)]:
        one_run = recipe_sentence(_check(frozen_r2, tuned_r2, spread=0.0, runs=1), frozen)
        assert (
            "; the recipes cannot be told apart (one run each, no estimate of run-to-run "
            "noise) (one fold" in one_run
        )
        assert "better one" not in one_run and "rerun" not in one_run


def test_a_recipe_at_or_below_zero_r2_does_not_beat_predicting_the_mean():
    frozen = {"freeze_backbone": True}
    both = recipe_sentence(_check(-0.2, 0.0), frozen)
    assert "the recipes cannot be told apart; frozen backbone does not beat predicting the " in both
    assert "mean (val R2 -0.200 <= 0); fine-tuned backbone does not beat predicting" in both
    assert "better one" not in both and "tie" not in both
    one = recipe_sentence(_check(0.4, -0.1), frozen)
    assert (
        "the curve's recipe (frozen backbone) is the better one in this run; fine-tuned "
        "backbone does not beat predicting the mean (val R2 -0.100 <= 0) (one fold" in one
    )
    assert "frozen backbone does not beat" not in one
    lost = recipe_sentence(_check(-0.1, 0.4), frozen)
    assert "would have been the better one" in lost
    assert "frozen backbone does not beat predicting the mean" in lost
    no_run = recipe_sentence(_check(-0.1, 0.4, runs=1), frozen)
    assert "cannot be told apart (one run each" in no_run
    assert "frozen backbone does not beat predicting the mean" in no_run
