"""Chapter 5's sample-efficiency curve, its paired intervals and the pretraining controls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from toy_utrs import toy_varying_table

from course_lib.chapters.ch5_efficiency import (
    KMER_RIDGE,
    RUN_SEED_STRIDE,
    TEST_SETS,
    Arm,
    arm_recipe,
    choose_by_validation,
    curve_plan,
    curve_protocol,
    efficiency_curve,
    fit_arm,
    per_length_subset,
    reads_states,
)
from course_lib.chapters.ch5_efficiency_stats import (
    conclusions,
    efficiency_table,
    fold_mean_interval,
    fold_metrics,
    lesson_sentence,
    lr_choice_sentence,
    published_sentence,
    reference_scores,
    verdict,
)
from course_lib.chapters.ch5_mrl_finetuning import FinetuneRecipe, parameter_groups, train_steps
from course_lib.models.utr_lm import utr_lm_config, utr_vocabulary

SETTINGS = {
    "real_folds": 2,
    "efficiency_counts": (30, 60),
    "test_per_length": None,
    "finetune_batch_size": 16,
    "finetune_steps": 4,
    "finetune_eval_every": 2,
    "patience": None,
    "loss": "huber",
    "frozen_steps": 2,
    "backbone_lr_factor": 0.1,
    "finetune_lr": 1e-3,
    "lr_grid": (1e-3, 3e-3),
    "head": "resnet",
    "pooling": "mean",
    "head_channels": 4,
    "freeze_backbone": False,
    "lr_seeds": 1,
}


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_rate_of_the_grid_trains_the_same_model_whatever_was_tried_before_it():
    _, protocol = _protocol()
    arms = [Arm("scratch", _config(), True), Arm("one-hot", None, True)]
    one_fold = {**SETTINGS, "real_folds": 1, "efficiency_counts": (30,)}
    alone = efficiency_curve(arms, protocol, {**one_fold, "lr_grid": (3e-3,)})
    after = efficiency_curve(arms, protocol, {**one_fold, "lr_grid": (1e-3, 3e-3)})
    # the same shuffles, so the same validation R2 at 3e-3 for every arm
    later = after.lr_grid[after.lr_grid["lr"] == 3e-3].set_index("arm")["val R2"]
    pd.testing.assert_series_equal(later, alone.lr_grid.set_index("arm")["val R2"])


def test_the_grid_chooses_the_rate_with_the_best_mean_over_its_runs(monkeypatch):
    """1e-3 wins its first run by luck; 3e-3 wins on the mean of two runs and is chosen, and
    fold 0 is scored by the chosen rate's first run."""
    from types import SimpleNamespace

    from course_lib.chapters import ch5_efficiency

    scores = {(1e-3, 0): 0.9, (1e-3, RUN_SEED_STRIDE): 0.0}
    scores |= {(3e-3, 0): 0.6, (3e-3, RUN_SEED_STRIDE): 0.4}
    fitted = []

    def fake_fit(arm, lr, loaders, settings, device, seed, description):
        fitted.append((lr, seed))
        fit_ = SimpleNamespace(best_value=scores[(lr, seed)], best_epoch=1)
        return (lr, seed), SimpleNamespace(**vars(fit_), history=pd.DataFrame({"step": [4]}))

    def fake_predict(model, loaders, scaler, device):
        return {name: np.zeros(len(loaders[name].loader.dataset)) for name in TEST_SETS}

    monkeypatch.setattr(ch5_efficiency, "fit_arm", fake_fit)
    monkeypatch.setattr(ch5_efficiency, "predict_tests", fake_predict)
    _, protocol = _protocol()
    settings = {**SETTINGS, "real_folds": 1, "efficiency_counts": (30,), "lr_seeds": 2}
    curve = efficiency_curve([Arm("one-hot", None, True)], protocol, settings)
    assert fitted == [(1e-3, 0), (1e-3, RUN_SEED_STRIDE), (3e-3, 0), (3e-3, RUN_SEED_STRIDE)]
    grid = curve.lr_grid.set_index("lr")
    assert grid["val R2"].tolist() == pytest.approx([0.45, 0.5])
    assert grid["val R2 spread"].tolist() == pytest.approx([0.9, 0.2])
    assert grid["runs"].tolist() == [2, 2]
    assert curve.runs[["lr", "val R2"]].values.tolist() == [[3e-3, 0.6]]
    # the sentence reads the means too: the chosen rate is the larger one
    worse = pd.DataFrame({"arm": ["one-hot"], "labels": [30], "lr": [1e-2], "val R2": [0.1]})
    grid_of_three = pd.concat([curve.lr_grid, worse])
    assert lr_choice_sentence(grid_of_three).endswith("the grid brackets every choice")


def test_a_frozen_arm_trains_its_head_on_states_computed_once(monkeypatch):
    from course_lib.chapters import ch5_efficiency

    computed = []
    compute = ch5_efficiency.FrozenStates.compute

    def counting(model, utrs, *args, **kwargs):
        computed.append(len(utrs))
        return compute(model, utrs, *args, **kwargs)

    monkeypatch.setattr(ch5_efficiency.FrozenStates, "compute", counting)
    _, protocol = _protocol()
    frozen = {**SETTINGS, "freeze_backbone": True}
    arm = Arm("pre", _config())
    assert reads_states(arm, frozen) and not reads_states(arm, SETTINGS)
    assert not reads_states(Arm("one-hot", None, True), frozen)
    pooled = {**frozen, "head": "mlp"}  # a frozen backbone under an MLP head reads tokens
    assert not reads_states(arm, pooled)
    assert (
        efficiency_curve([arm], protocol, {**pooled, "real_folds": 1}).runs["val R2"].notna().all()
    )
    curve = efficiency_curve([arm], protocol, frozen)
    # one computation for 2 folds x 2 label counts, on every UTR of the protocol
    assert computed == [len(protocol.random) + len(protocol.human)]
    assert len(curve.runs) == 4 and curve.runs["val R2"].notna().all()
    model, _ = fit_arm(arm, 1e-3, _state_loaders(protocol, frozen), frozen, "cpu", 0, "x")
    assert model.__class__.__name__ == "Human5PrimeUTRPredictor"  # the head alone trained


def _state_loaders(protocol, settings):
    from course_lib.chapters.ch5_efficiency import arm_inputs, fold_curve_loaders, test_tables

    split = protocol.folds[0]
    inputs = arm_inputs(Arm("pre", _config()), settings, protocol, "cpu", {})
    tests = test_tables(protocol, split, 2, 0)
    return fold_curve_loaders(protocol, split, split.fit[:30], tests, inputs, settings, 0)[1]


def test_lr_choice_sentence_names_every_choice_at_the_edge_of_the_grid():
    tried = {
        ("a", 100): (0.1, 0.3, 0.2),  # inside
        ("b", 100): (0.1, 0.2, 0.4),  # the largest
        ("b", 1000): (0.5, 0.5, 0.4),  # a tie: the first tried, as the curve keeps it
    }
    grid = pd.DataFrame(
        [
            (arm, labels, lr, r2)
            for (arm, labels), scores in tried.items()
            for lr, r2 in zip((1e-3, 3e-3, 1e-2), scores, strict=True)
        ],
        columns=["arm", "labels", "lr", "val R2"],
    )
    assert lr_choice_sentence(grid) == (
        "1 of 3 learning rates chosen on validation lie inside the grid (0.001 to 0.01); at its "
        "edge, where a value beyond it might do better (widen lr_grid): b at 100 labels (0.01, "
        "the largest); b at 1,000 labels (0.001, the smallest)"
    )
    assert lr_choice_sentence(grid[grid["arm"] == "a"]).endswith("the grid brackets every choice")
    assert "none was chosen" in lr_choice_sentence(grid[grid["lr"] == 1e-3])
    assert "no learning rates were chosen" in lr_choice_sentence(grid.iloc[:0])


def _protocol():
    from course_lib.utr_protocol import real_utr_protocol

    table = toy_varying_table(8, lambda utr, rng: 3 + utr.count("G") / len(utr), 0)
    return table, curve_protocol(real_utr_protocol(table, n_folds=3))


def _config():
    return utr_lm_config(utr_vocabulary(), hidden_size=8, num_layers=1, num_heads=2)


def test_curve_runs_every_arm_count_and_fold_and_tunes_every_arm_on_the_first_fold():
    table, protocol = _protocol()
    arms = [Arm("pre", _config()), Arm("scratch", _config(), True), Arm("one-hot", None, True)]
    curve = efficiency_curve(arms, protocol, SETTINGS)
    assert len(curve.runs) == 3 * 2 * 2 and curve.arms == ["pre", "scratch", "one-hot"]
    assert curve.counts == [30, 60] and curve.folds == [0, 1]
    # the grid ran once per arm and label count, on the first fold only
    assert len(curve.lr_grid) == 3 * 2 * len(SETTINGS["lr_grid"])
    chosen = curve.lr_grid.loc[curve.lr_grid.groupby(["arm", "labels"])["val R2"].idxmax()]
    for _, row in chosen.iterrows():
        lrs = curve.runs.query("arm == @row.arm and labels == @row.labels")["lr"]
        assert (lrs == row["lr"]).all()
    assert set(curve.lr_grid["arm"]) == {"pre", "scratch", "one-hot"}
    assert "each of the 6 chosen on validation sits at an edge" in lr_choice_sentence(curve.lr_grid)
    # Human7600 rows are the same for every fold; fold test rows differ
    human = [curve.truth[(f, "Human7600")][2] for f in curve.folds]
    random = [curve.truth[(f, "Random7600 fold")][2] for f in curve.folds]
    assert human[0] == human[1] and not set(random[0]) & set(random[1])
    assert len(human[0]) == len(protocol.human)
    # the rows that chose the learning rates (fold 0's validation) are scored by no fold
    chose = set(table.iloc[protocol.folds[0].val]["utr"])
    assert chose and not chose & (set(random[0]) | set(random[1]))
    truth = dict(zip(table["utr"], table["rl"], strict=True))
    oracle = reference_scores(lambda utrs: np.array([truth[u] for u in utrs]), curve, n_boot=50)
    assert oracle["Human7600"]["estimate"] == pytest.approx(1.0)
    summary = efficiency_table(curve, "pre", n_boot=50)
    assert len(summary) == 3 * 2 * 2
    assert summary.query("arm == 'pre'")["reference - arm"].isna().all()
    assert summary["folds agreeing"].dropna().between(0, 2).all()
    # the interval over training runs is centred on the per-fold differences' mean
    rivals = summary.query("arm != 'pre'")
    centre = (rivals["reference - arm run ci low"] + rivals["reference - arm run ci high"]) / 2
    assert np.allclose(centre, rivals["reference - arm"], atol=1e-9)
    sentences = conclusions(summary, "pre", "synthetic", "smoke")
    assert len(sentences) == 2 * 2 * 2 and all("of 2 folds" in s for s in sentences)
    assert all("over 2 training runs" in s for s in sentences)
    metrics = fold_metrics(curve, 60, fold=1)
    assert list(metrics) == curve.arms and list(metrics["pre"]) == [
        "Random7600 fold 1",
        "Human7600",
    ]
    run = curve.runs.query("arm == 'scratch' and labels == 60 and fold == 1").iloc[0]
    assert metrics["scratch"]["Human7600"]["R2"] == pytest.approx(run["Human7600 R2"])
    lines = published_sentence("Framepool", oracle).splitlines()
    assert (
        lines[1] == "Framepool (published) on the curve's Human7600 rows: R2 1.000 [1.000, 1.000]"
    )


def test_the_kmer_ridge_arm_fits_without_a_network_and_is_scored_like_the_others():
    """A target that is a linear function of the G content: the ridge on k-mer frequencies
    recovers it from 30 labels on the held-out rows of every fold and on Human7600."""
    _, protocol = _protocol()
    curve = efficiency_curve([Arm("k-mer ridge", KMER_RIDGE)], protocol, SETTINGS)
    assert len(curve.runs) == 2 * 2 and curve.lr_grid.empty and not curve.fits
    assert curve.runs["lr"].isna().all() and curve.runs["best step"].isna().all()
    from course_lib.ridge import ALPHAS

    assert set(curve.runs["ridge alpha"]) <= set(ALPHAS)
    assert (curve.runs[["val R2", "Random7600 fold R2", "Human7600 R2"]] > 0.9).all().all()
    table = efficiency_table(curve, "k-mer ridge", n_boot=50)
    assert (table["R2 ci low"] > 0.8).all()


def test_the_plan_counts_the_ridge_apart_from_the_networks_and_their_steps():
    from types import SimpleNamespace

    settings = SimpleNamespace(finetune_steps=400, efficiency_counts=(250, 1000), real_folds=2)
    arms = [Arm("a", None), Arm("b", None), Arm("ridge", KMER_RIDGE)]
    plan = curve_plan(arms, settings)
    assert plan.startswith("3 arms (2 fine-tuned network(s), at most 400 steps each, and 1 ridge")
    assert "x 2 label counts x 2 fold(s)" in plan
    assert "ridge" not in curve_plan(arms[:2], settings)


def test_weight_candidates_are_chosen_on_validation():
    _, protocol = _protocol()
    candidates = {0.1: Arm("c 0.1", _config()), 1.0: Arm("c 1", _config())}
    best, table = choose_by_validation(candidates, protocol, SETTINGS)
    assert best in candidates and list(table["candidate"]) == [0.1, 1.0]
    assert table.loc[table["val R2"].idxmax(), "candidate"] == best


def test_paired_interval_sees_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    lengths = np.repeat(np.arange(4), 100)
    good, bad = y + 0.3 * rng.normal(size=400), y + 1.0 * rng.normal(size=400)
    truth = [(y, lengths), (y, lengths)]
    better = fold_mean_interval(truth, [good, good], [bad, bad], n_boot=300)
    assert better["ci low"] > 0 and better["excludes 0"]
    same = fold_mean_interval(truth, [good, good], [good + 1e-9, good], n_boot=300)
    assert same["ci low"] <= 0 <= same["ci high"] and not same["excludes 0"]
    twin = y + 0.3 * rng.normal(size=400)  # as good as ``good``, different errors
    null = fold_mean_interval(truth, [good, good], [twin, twin], n_boot=300)
    assert null["ci low"] < 0 < null["ci high"]
    alone = fold_mean_interval(truth, [good, bad], n_boot=300)
    assert alone["ci low"] < alone["estimate"] < alone["ci high"]


def test_verdicts_follow_both_intervals():
    runs_up, runs_down = (0.02, 0.3), (-0.3, -0.02)
    assert verdict(0.01, 0.2, "b", "x", runs_up) == "b is better"
    assert verdict(-0.2, -0.01, "b", "x", runs_down) == "x is better"
    assert verdict(-0.1, 0.2, "b", "x", runs_up).startswith("nothing can be concluded")
    assert verdict(0.01, 0.2, "b", "x", runs_up, learned=False).endswith("R2 <= 0)")
    spans = "nothing can be concluded (the interval over training runs spans zero)"
    assert verdict(0.01, 0.2, "b", "x", (-0.1, 0.3)) == spans
    opposite = "nothing can be concluded (the two intervals point in opposite directions)"
    assert verdict(0.01, 0.2, "b", "x", runs_down) == opposite
    one = verdict(0.01, 0.2, "b", "x", (np.nan, np.nan))
    single = "a single training run cannot show how much training runs differ"
    assert one == f"nothing can be concluded ({single})"


def _lesson_table(low: float, high: float, agreeing: int = 2) -> pd.DataFrame:
    """Two rivals at 100 and 1,000 labels on two test sets; one interval at 100 is varied."""
    rows = []
    for n in (100, 1000):
        for arm in ("scratch", "control"):
            for test in ("Human7600", "Random7600 fold"):
                varied = n == 100 and arm == "control" and test == "Human7600"
                lo, hi = (low, high) if varied else (0.05, 0.2)
                row = {"arm": arm, "labels": n, "test set": test, "folds": 2, "R2": 0.1}
                row |= {"reference R2": 0.2, "folds agreeing": agreeing if varied else 2}
                row |= {"reference - arm": (lo + hi) / 2}
                row |= {"reference - arm ci low": lo, "reference - arm ci high": hi}
                runs = (lo, hi) if agreeing == 2 else (-0.1, 0.2)  # runs that disagree
                row |= {
                    "reference - arm run ci low": runs[0],
                    "reference - arm run ci high": runs[1],
                }
                rows.append(row)
    return pd.DataFrame(rows)


def test_lesson_shows_only_when_every_rival_is_beaten_at_the_fewest_labels():
    rivals = ("scratch", "control")
    shown = lesson_sentence(_lesson_table(0.01, 0.1), "pre", rivals, "real", "laptop")
    assert shown.startswith("At the fewest labels (100; real data, laptop profile), pre beats")
    assert shown.endswith("the lesson shows.")
    spans = lesson_sentence(_lesson_table(-0.02, 0.1), "pre", rivals, "real", "laptop")
    assert "does not beat scratch and control" in spans and "1 of 4 comparisons" in spans
    assert "against control on Human7600 +0.040 [-0.020, +0.100]" in spans
    assert "the interval over test rows spans zero" in spans
    split = lesson_sentence(_lesson_table(0.01, 0.1, agreeing=1), "pre", rivals, "real", "laptop")
    assert "the interval over training runs spans zero" in split
    worse = lesson_sentence(_lesson_table(-0.2, -0.1), "pre", rivals, "real", "laptop")
    assert "control is better" in worse
    with pytest.raises(ValueError, match="no rival arm"):
        lesson_sentence(_lesson_table(0.01, 0.1), "pre", ("other",), "real", "laptop")


def test_recipes_lower_the_backbone_rate_only_for_pretrained_arms():
    pre = arm_recipe(Arm("pre", "folder"), SETTINGS, 1e-3)
    scratch = arm_recipe(Arm("scratch", _config(), True), SETTINGS, 3e-3)
    assert (pre.backbone_lr_factor, pre.frozen_steps) == (0.1, 2)
    assert (scratch.backbone_lr_factor, scratch.frozen_steps, scratch.lr) == (1.0, 0, 3e-3)
    frozen = arm_recipe(Arm("pre", "folder"), {**SETTINGS, "freeze_backbone": True}, 1e-3)
    assert frozen.frozen_steps == SETTINGS["finetune_steps"]


def test_frozen_warmup_leaves_the_backbone_alone_then_it_learns_at_its_own_rate():
    from course_lib.models.utr_lm import mrl_model

    _, protocol = _protocol()
    model = mrl_model(_config(), head="resnet", head_channels=4)
    groups = parameter_groups(model, 1e-3, 0.1)
    assert [g["lr"] for g in groups] == [1e-3, pytest.approx(1e-4)]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    from course_lib.chapters.ch5_efficiency import fold_curve_loaders, test_tables

    split = protocol.folds[0]
    tests = test_tables(protocol, split, 2, 0)
    _, loaders = fold_curve_loaders(protocol, split, split.fit[:40], tests, "tokens", SETTINGS, 0)
    before = {k: v.clone() for k, v in model.esm.state_dict().items()}
    recipe = FinetuneRecipe(lr=1e-2, frozen_steps=3, steps=3, eval_every=3)
    train_steps(model, loaders["train"], loaders["val"], recipe, "cpu", False)
    assert all(torch.equal(before[k], v) for k, v in model.esm.state_dict().items())
    assert not model.backbone_frozen
    recipe = FinetuneRecipe(lr=1e-2, frozen_steps=1, steps=4, eval_every=2)
    result = train_steps(model, loaders["train"], loaders["val"], recipe, "cpu", False)
    assert list(result.history["step"]) == [2, 4]
    assert any(not torch.equal(before[k], v) for k, v in model.esm.state_dict().items())


def test_test_rows_keep_at_most_n_per_length():
    lengths = np.repeat([25, 26, 27], [5, 1, 3])
    rows = per_length_subset(lengths, 2, seed=0)
    assert np.bincount(lengths[rows])[25:].tolist() == [2, 1, 2]
    assert per_length_subset(lengths, None, 0).tolist() == list(range(9))


# ---------------------------------------------------------------- controls


def _copy_model():
    """A pretraining model whose MLM head copies its input nucleotide (and never learns)."""
    from course_lib.models.utr_lm import UTRLMForPretraining

    vocab = utr_vocabulary()
    model = UTRLMForPretraining(_config())

    def forward(input_ids, attention_mask):
        logits = torch.nn.functional.one_hot(input_ids, len(vocab)).float()
        return type("Out", (), {"mlm_logits": logits})()

    model.forward = forward
    return model


def test_copy_control_puts_a_copying_model_on_the_copy_floor():
    from course_lib.chapters.ch5_controls import copy_control
    from course_lib.pretraining import PretrainingData

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(300)]
    data = PretrainingData.from_sequences(seqs, utr_vocabulary())
    result = copy_control(_copy_model(), utr_vocabulary(), data.input_ids.numpy(), data, n_boot=200)
    # at <mask> the copying model predicts <mask> (never right); elsewhere it equals the copy
    assert result["model accuracy"] < result["copy accuracy"]
    low, high = result["model accuracy - copy accuracy interval"]
    assert high < 0 and result["n"] > 500 and result["resampled"] == "masked tokens"
    assert 0.25 < result["copy accuracy"] < 0.45


def test_random_library_rows_are_never_scored_by_masked_modelling():
    from course_lib.chapters.ch5_controls import masked_token_hits
    from course_lib.pretraining import PretrainingData

    seqs = ["ACGT" * 10] * 20
    rows = np.r_[np.ones(10, bool), np.zeros(10, bool)]
    data = PretrainingData.from_sequences(seqs, utr_vocabulary(), mlm_rows=rows)
    half = masked_token_hits(_copy_model(), utr_vocabulary(), data, np.full(4, 0.25))[0]
    full = PretrainingData.from_sequences(seqs, utr_vocabulary())
    every = masked_token_hits(_copy_model(), utr_vocabulary(), full, np.full(4, 0.25))[0]
    assert 0.3 * len(every) < len(half) < 0.7 * len(every)


def test_results_file_parts_carry_copy_control_and_efficiency_with_intervals():
    import pandas as pd

    from course_lib.chapters.ch5_report import _control_metrics, headline
    from course_lib.report import Interval

    rows = []
    for arm in ("(b) MLM, natural UTRs", "ctrl"):
        for test in ("Random7600 fold", "Human7600"):
            diff = (np.nan, np.nan, np.nan) if arm != "ctrl" else (0.1, 0.05, 0.15)
            rows.append(
                {"arm": arm, "labels": 250, "test set": test, "folds": 2, "R2": 0.4}
                | {"reference R2": 0.4}
                | {"R2 ci low": 0.3, "R2 ci high": 0.5, "R2 fold sd": 0.01}
                | dict(zip(("reference - arm", "reference - arm ci low"), diff[:2], strict=True))
                | {
                    "reference - arm ci high": diff[2],
                    "reference - arm run ci low": diff[1] - 0.1,
                    "reference - arm run ci high": diff[2] + 0.1,
                    "folds agreeing": 2 if arm == "ctrl" else np.nan,
                }
            )
    table = pd.DataFrame(rows)
    copy = {"model accuracy": 0.4, "model accuracy interval": (0.3, 0.5), "resampled": "tokens"}
    out = _control_metrics(
        {"masked-token accuracy vs copy baseline, ctrl": copy}, table, ["s"], "ctrl"
    )
    assert any("copy" in k for k in out) and any("control" in k for k in out)
    assert "sample efficiency" in out and out["sample efficiency"]["conclusions"] == ["s"]
    entry = out["negative control (random-sequence backbone)"]["(b) minus the control"]
    assert list(entry) == ["ctrl, 250 labels, Random7600 fold", "ctrl, 250 labels, Human7600"]
    assert entry["ctrl, 250 labels, Human7600"]["reference - arm interval"] == Interval(
        0.05, 0.15, entry["ctrl, 250 labels, Human7600"]["reference - arm interval"].method
    )
    runs = entry["ctrl, 250 labels, Human7600"]["reference - arm interval over training runs"]
    assert (runs.low, runs.high) == pytest.approx((-0.05, 0.25))
    assert "Student-t" in runs.method
    assert isinstance(
        out["masked-token accuracy vs copy baseline, ctrl"]["model accuracy interval"], Interval
    )
    assert list(headline(table, "real", "m").compared) == ["(b) MLM, natural UTRs", "ctrl"]


def test_a_curve_refuses_folds_that_would_test_the_rows_its_choices_were_made_on():
    from course_lib.utr_protocol import real_utr_protocol

    table, withheld = _protocol()
    plain = real_utr_protocol(table, n_folds=3)
    arms = [Arm("one-hot", None, True)]
    with pytest.raises(ValueError, match=r"test fold 1 holds \d+ of its rows.*withholding"):
        efficiency_curve(arms, plain, SETTINGS)
    with pytest.raises(ValueError, match="fold 0's validation rows"):
        choose_by_validation({"a": arms[0]}, plain, SETTINGS)
    # withholding removes exactly those rows from the other folds' tests, and nothing else
    val0 = plain.folds[0].val
    for before, after in zip(plain.folds, withheld.folds, strict=True):
        assert np.array_equal(after.test, np.setdiff1d(before.test, val0))
        assert np.array_equal(after.fit, before.fit) and np.array_equal(after.val, before.val)
    summary = withheld.summary()
    assert summary.loc[0, "withheld"] == 0 and summary["withheld"].sum() == len(val0)
