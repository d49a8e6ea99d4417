"""Chapter 4's module: selection metric, intervals over windows, checkpoint lookup, long-run
estimates, tiny sizes and the exercise checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.chapters import ch4_beluga_multiplexer as ch4
from course_lib.chapters import ch4_exercises as ch4x
from course_lib.chapters import ch4_map_scores as scores
from course_lib.chapters.ch4_config import Ch4Config
from course_lib.chapters.ch4_replicates import run_scores
from course_lib.chapters.ch4_report import TAYLOR_NAME, TaylorBaseline, headline
from course_lib.exercises import CheckFailed
from course_lib.interpret.variant_mutagenesis import (
    SELECTION_METRIC,
    ism_metrics,
    simulate_invented_effects,
    teacher_passes,
    variants_to_map,
    weighted_pearson_r,
)
from course_lib.report import Interval
from course_lib.uncertainty import bootstrap_indices


class FixedMaps(nn.Module):
    """A 'multiplexer' that returns given maps whatever the input."""

    def __init__(self, maps: torch.Tensor) -> None:
        super().__init__()
        self.maps = maps
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps[: len(x)]


def simulated_maps() -> dict[str, torch.Tensor]:
    sim = simulate_invented_effects(n_variants=4 * 4 * 500, seed=1)
    return {k: torch.tensor(v, dtype=torch.float32).reshape(4, 1, 4, 500) for k, v in sim.items()}


def test_validation_selects_the_honest_student_over_the_inventing_one():
    maps = simulated_maps()
    inputs = torch.zeros(4, 4, 500)
    scores = {
        name: ch4.validate_maps(FixedMaps(maps[name]), inputs, maps["truth"])
        for name in ("precise", "honest")
    }
    # the published |true|-weighted r prefers the student that invents effects ...
    assert scores["precise"]["val_weighted_r"] > scores["honest"]["val_weighted_r"]
    # ... the selection column does not
    assert scores["honest"]["val_symmetric_r"] > scores["precise"]["val_symmetric_r"] + 0.3
    assert ch4.REPORTED_METRICS[SELECTION_METRIC] == "val_symmetric_r"


def test_map_intervals_cover_the_estimate_and_resample_windows():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(6, 2, 4, 30))
    pred = truth + rng.normal(scale=0.5, size=truth.shape)
    out = scores.map_intervals(truth, pred, n_boot=200)
    full = ism_metrics(truth, pred)
    for name in ("Pearson r", "weighted Pearson r", SELECTION_METRIC):
        v = out[name]
        assert v["estimate"] == pytest.approx(full[name])
        assert v["ci low"] <= v["estimate"] <= v["ci high"] and v["ci low"] < v["ci high"]
        assert v["n windows"] == 6
    assert "excludes 0" in out["weighted minus plain Pearson r"]
    perfect = scores.map_intervals(truth, truth, n_boot=50)
    assert perfect["Pearson r"]["ci low"] == pytest.approx(1.0)


def heavy_tailed_maps(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-like maps [8, 3, 4, 40] (mostly tiny, a few large effects; feature 2 constant)
    and a noisy prediction of them."""
    rng = np.random.default_rng(seed)
    truth = rng.laplace(scale=0.01, size=(8, 3, 4, 40))
    truth[rng.random(truth.shape) < 0.05] *= 300
    truth[:, 2] = 0.0
    return truth, truth + rng.normal(scale=0.3, size=truth.shape)


def test_moment_scores_equal_ism_metrics_on_every_resample():
    truth, pred = heavy_tailed_maps()
    moments = scores.window_moments(truth, pred)
    assert moments.shape == (8, 3, 3, 6)
    index = bootstrap_indices(8, 20, seed=3)
    fast = scores.scores_from_moments(moments[index].sum(1))  # [20, 3]
    for rows, row in zip(index, fast, strict=True):
        slow = ism_metrics(truth[rows], pred[rows])  # the constant feature is left out
        np.testing.assert_allclose(row, [slow[name] for name in scores.REPORTED_METRICS])
    assert np.isnan(scores.scores_from_moments(np.zeros((3, 2, 6)))).all()


def test_map_intervals_equal_a_loop_over_resamples():
    truth, pred = heavy_tailed_maps(1)
    out = scores.map_intervals(truth, pred, n_boot=60, seed=4)
    draws = [ism_metrics(truth[rows], pred[rows]) for rows in bootstrap_indices(8, 60, seed=4)]
    for name in scores.REPORTED_METRICS:
        low, high = np.nanpercentile([d[name] for d in draws], [2.5, 97.5])
        assert (out[name]["ci low"], out[name]["ci high"]) == pytest.approx((low, high))


def test_compare_maps_is_paired_and_finds_the_better_predictor():
    truth, good = heavy_tailed_maps(2)
    rng = np.random.default_rng(5)
    bad = good + rng.normal(scale=2.0, size=truth.shape)
    out = scores.compare_maps(truth, good, bad, n_boot=200)
    assert set(out) == set(scores.REPORTED_METRICS)
    for name, row in out.items():
        separate = scores.map_intervals(truth, good)[name]["estimate"]
        separate -= scores.map_intervals(truth, bad)[name]["estimate"]
        assert row["difference"] == pytest.approx(separate)
        assert row["ci low"] > 0 and row["excludes 0"]
    same = scores.compare_maps(truth, good, good, n_boot=50)
    assert all(row["ci low"] == row["ci high"] == 0 for row in same.values())


@pytest.mark.parametrize(
    ("low", "high", "runs", "verdict"),
    [
        (0.1, 0.3, (0.05, 0.4), "so A beats B"),
        (-0.3, -0.1, (-0.4, -0.05), "so B beats A"),
        (-0.1, 0.2, (0.05, 0.4), "nothing can be concluded"),
        (0.1, 0.3, (-0.2, 0.6), "nothing can be concluded"),  # the runs disagree
    ],
)
def test_comparison_sentence_needs_both_intervals(low, high, runs, verdict):
    row = {"difference": (low + high) / 2, "ci low": low, "ci high": high}
    over_runs = {"mean": sum(runs) / 2, "ci low": runs[0], "ci high": runs[1], "n": 3}
    sentence = scores.comparison_sentence(row, over_runs, "A", "B", "Pearson r")
    assert verdict in sentence and f"{low:+.3f}" in sentence
    assert f"[{runs[0]:+.3f}, {runs[1]:+.3f}] over 3 training runs" in sentence


def test_overlap():
    assert scores.overlap({"ci low": 0, "ci high": 1}, {"ci low": 0.5, "ci high": 2})
    assert not scores.overlap({"ci low": 0, "ci high": 1}, {"ci low": 1.5, "ci high": 2})


def test_taylor_baseline_enters_the_results_with_intervals():
    truth, pred = heavy_tailed_maps(3)
    taylor = TaylorBaseline(
        intervals={"test": scores.map_intervals(truth, pred, n_boot=20)},
        comparison=scores.compare_maps(truth, truth, pred, n_boot=20),
        passes={"forward": 8, "backward": 24},
        seconds=0.5,
        runs=[run_scores(s, *(torch.from_numpy(a) for a in (truth, truth, pred))) for s in (0, 1)],
    )
    metrics = taylor.metrics()
    assert len(metrics) == 4
    by_split, paired, over_runs, cost = metrics.values()
    assert list(over_runs["runs"]) == ["seed 0", "seed 1"]
    # two runs with the same maps: the same difference, an interval of width 0 around it
    mean = over_runs["multiplexer minus Taylor, mean over runs"][SELECTION_METRIC]
    assert mean["interval"].low == pytest.approx(mean["estimate"])
    assert mean["estimate"] > 0  # the truth itself beats a noisy map
    assert isinstance(by_split["test"]["Pearson r"]["interval"], Interval)
    assert paired[SELECTION_METRIC]["interval"].low > 0
    assert cost == {"forward": 8, "backward": 24, "seconds": 0.5}
    # the dashboard sets the untrained competitor beside the multiplexer, same metric
    multiplexer = scores.map_intervals(truth, truth + 0.1 * pred, n_boot=20)
    compared = headline(multiplexer, "toy maps", taylor.intervals["test"]).compared
    assert list(compared) == ["BelugaMultiplexer", TAYLOR_NAME]
    weighted = taylor.intervals["test"]["weighted Pearson r"]
    assert compared[TAYLOR_NAME].value == weighted["estimate"]
    assert compared[TAYLOR_NAME].interval.low == weighted["ci low"]
    assert list(headline(multiplexer, "toy maps").compared) == ["BelugaMultiplexer"]


def test_find_beluga_uses_the_published_file_only_at_full(tmp_path, monkeypatch):
    from course_lib.weights import get_weights

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    stand_in = (None, "stand-in")
    assert ch4.find_beluga(None, "full", tiny=False) == stand_in  # no file: the stand-in
    placed = tmp_path / get_weights("beluga").location
    placed.write_bytes(b"")
    assert ch4.find_beluga(None, "full", tiny=False) == (placed, "real")
    assert ch4.find_beluga(None, "full", tiny=True) == stand_in
    assert ch4.find_beluga(None, "laptop", tiny=False) == stand_in
    given = tmp_path / "given.pth"
    given.write_bytes(b"")
    assert ch4.find_beluga(str(given), "smoke", tiny=True) == (given, "real")


def test_a_missing_beluga_path_is_refused_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="beluga_checkpoint=.*deepsea.beluga.pth"):
        ch4.find_beluga(str(tmp_path / "absent.pth"), "smoke", tiny=False)


def test_the_stand_in_teacher_is_trained_and_labelled(tmp_path, monkeypatch):
    from course_lib.chapters.ch4_chromatin import split_regions
    from course_lib.fasta import Genome

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    rng = np.random.default_rng(0)
    fasta = tmp_path / "g.fa"
    fasta.write_text(">chrA\n" + "".join(rng.choice(list("ACGT"), 60_000)) + "\n")
    genome = Genome(fasta)
    settings = Ch4Config.resolve(
        "smoke",
        sequence_length=320,
        n_features=3,
        teacher_channels=(4, 4, 4),
        teacher_hidden=8,
        n_teacher_train=32,
        n_teacher_val=16,
        teacher_epochs=1,
    )
    teacher = ch4.chapter_teacher(
        None, settings, genome, split_regions(genome.chromosomes), rng, torch.device("cpu")
    )
    assert teacher.provenance == "stand-in" and "synthetic chromatin task" in teacher.source
    assert teacher.fit.best_epoch == 1 and len(teacher.validation) == 16
    assert teacher.model.n_features == 3 and not teacher.model.training
    assert len(teacher.task.feature_names) == 3


def test_long_step_estimates_count_3l_plus_1_passes():
    settings = Ch4Config.resolve("laptop")
    est = ch4.long_step_seconds(0.01, settings)
    windows = settings.n_val_windows + settings.n_test_windows
    assert est["teacher ISM"] == pytest.approx(
        0.01 * teacher_passes(settings.sequence_length, windows)
    )
    assert teacher_passes(settings.sequence_length) == 3 * settings.sequence_length + 1
    assert est["teacher training"] > 0 and est["distillation"] > est["teacher ISM"]


def test_seconds_per_pass_is_positive():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4 * 16, 2))
    assert ch4.seconds_per_pass(model, 16, torch.device("cpu"), n=2) > 0


def test_exercise_1_check_peak_hits(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    truth = np.zeros((2, 1, 4, 20))
    truth[0, 0, 1, 3], truth[1, 0, 2, 15] = 2.0, -3.0  # strongest positions 3 and 15
    pred = np.zeros_like(truth)
    pred[0, 0, 0, 6], pred[1, 0, 3, 2] = 1.0, 1.0  # 3 bp off (a hit), 13 bp off (a miss)
    hit_rate, chance = ch4x.peak_hits(truth, pred)
    assert hit_rate == 0.5 and chance == pytest.approx((9 / 20 + 10 / 20) / 2)
    assert ch4x.check_exercise_1(None, None, truth, pred).status == "not yet"
    assert ch4x.check_exercise_1(hit_rate, chance, truth, pred)
    assert ch4x.check_exercise_1(1.0, chance, truth, pred).status == "wrong"
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(CheckFailed):
        ch4x.check_exercise_1(hit_rate, 0.5, truth, pred)


def test_prediction_4_speedup_is_recorded_never_wrong(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    speed = {"teacher_s": 1.0, "multiplexer_s": 0.05, "speedup": 20.0}
    verdict = ch4x.check_exercise_4(500.0, speed, 100, "cpu")
    assert verdict.status == "recorded" and "480 above" in verdict.message
    assert "301 teacher passes" in verdict.message and "15.1 teacher passes" in verdict.message
    with pytest.raises(CheckFailed, match="expected a number"):
        ch4x.check_exercise_4("fast", speed, 100, "cpu")


class Logistic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 12, generator=torch.Generator().manual_seed(0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((x * self.w).sum((1, 2)))[:, None]


def test_exercise_2_check(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    teacher = Logistic()
    window = torch.eye(4)[torch.tensor([0, 1, 2, 3] * 3)].T.contiguous()
    mutated = window.clone()
    mutated[:, 5] = torch.tensor([0.0, 0.0, 0.0, 1.0])  # T at position 5
    alt = teacher(mutated[None])[0, 0].item()
    assert ch4x.check_exercise_2(None, teacher, window, 0, 3, 5).status == "not yet"
    assert ch4x.check_exercise_2(alt, teacher, window, 0, 3, 5)
    assert ch4x.check_exercise_2(alt + 0.05, teacher, window, 0, 3, 5).status == "wrong"


def test_exercise_3_check(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    maps = simulated_maps()
    truth, pred = maps["truth"].numpy(), maps["precise"].numpy()
    r = weighted_pearson_r(truth[:, 0].ravel().astype(np.float64), pred[:, 0].ravel())
    assert ch4x.check_exercise_3(None, None, truth, pred).status == "not yet"
    assert ch4x.check_exercise_3(r, "weighted", truth, pred)  # weighted r is the higher here
    assert ch4x.check_exercise_3(r, "uniform", truth, pred).status == "wrong"
    assert ch4x.check_exercise_3(r + 0.01, "weighted", truth, pred).status == "wrong"


def test_variants_to_map_is_what_the_reshape_exercise_uses():
    per_variant = torch.arange(8, dtype=torch.float32)[:, None]
    assert variants_to_map(per_variant)[0, 1, 1] == 5  # variant 4 * 1 + 1


def test_comparison_table_puts_both_predictors_and_the_paired_difference_side_by_side():
    truth, good = heavy_tailed_maps(4)
    bad = good + np.random.default_rng(6).normal(scale=1.0, size=truth.shape)
    a, b = scores.map_intervals(truth, good, n_boot=30), scores.map_intervals(truth, bad, n_boot=30)
    paired = scores.compare_maps(truth, good, bad, n_boot=30)
    table = scores.comparison_table(a, b, paired, "good", "bad")
    assert list(table.index) == list(scores.REPORTED_METRICS)
    row = table.loc[SELECTION_METRIC]
    assert row["good"] == a[SELECTION_METRIC]["estimate"]
    assert row["bad high"] == b[SELECTION_METRIC]["ci high"]
    assert row["good - bad"] == pytest.approx(row["good"] - row["bad"])
    assert row["paired low"] == paired[SELECTION_METRIC]["ci low"]
