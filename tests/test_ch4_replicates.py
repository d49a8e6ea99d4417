"""Chapter 4's runs from other seeds: scores, the interval over runs, a real replicate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from course_lib.chapters import ch4_map_scores as scores
from course_lib.chapters import ch4_replicates as rep
from course_lib.chapters.ch4_config import Ch4Config
from course_lib.report import Interval


def _maps(seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.laplace(scale=0.1, size=(6, 2, 4, 30))
    return truth, truth + rng.normal(scale=noise, size=truth.shape)


def test_map_scores_are_the_estimates_of_map_intervals():
    truth, pred = _maps(0, 0.2)
    found = rep.map_scores(truth, pred)
    boot = scores.map_intervals(truth, pred, n_boot=10)
    assert list(found) == list(scores.REPORTED_METRICS)
    for name, value in found.items():
        assert value == pytest.approx(boot[name]["estimate"])


def test_run_scores_take_tensors_and_subtract_taylor_from_multiplexer():
    truth, good = _maps(1, 0.05)
    _, bad = _maps(1, 1.0)
    run = rep.run_scores(3, *(torch.from_numpy(a) for a in (truth, good, bad)))
    assert run.seed == 3
    for name in scores.REPORTED_METRICS:
        assert run.difference(name) == run.multiplexer[name] - run.taylor[name] > 0


def _run(seed: int, difference: float) -> rep.RunScores:
    taylor = dict.fromkeys(scores.REPORTED_METRICS, 0.5)
    return rep.RunScores(seed, {k: v + difference for k, v in taylor.items()}, taylor)


def test_seed_intervals_are_student_t_over_runs_and_refuse_too_few_or_repeated_seeds():
    runs = [_run(0, 0.10), _run(1, 0.20), _run(2, 0.12)]
    found = rep.seed_intervals(runs)["Pearson r"]
    diffs = np.array([0.10, 0.20, 0.12])
    low, high = stats.t.interval(0.95, 2, loc=diffs.mean(), scale=stats.sem(diffs))
    assert (found["ci low"], found["ci high"]) == pytest.approx((low, high))
    assert found["n"] == 3 and found["mean"] == pytest.approx(diffs.mean())
    # runs that disagree in sign: the interval spans zero, and the sentence concludes nothing
    split = rep.seed_intervals([_run(0, 0.2), _run(1, -0.2), _run(2, 0.05)])["Pearson r"]
    assert split["ci low"] < 0 < split["ci high"]
    paired = {"difference": 0.2, "ci low": 0.15, "ci high": 0.25}
    sentence = scores.comparison_sentence(paired, split, "A", "B", "Pearson r")
    assert "nothing can be concluded" in sentence and "over 3 training runs" in sentence
    with pytest.raises(ValueError, match="at least two runs"):
        rep.seed_intervals([_run(0, 0.1)])
    with pytest.raises(ValueError, match="different seeds"):
        rep.seed_intervals([_run(0, 0.1), _run(0, 0.2)])


def test_seed_table_and_results_entry():
    runs = [_run(0, 0.1), _run(1, 0.3)]
    table = rep.seed_table(runs)
    assert len(table) == 2 * len(scores.REPORTED_METRICS)
    assert table["multiplexer - Taylor"].tolist()[:1] == [pytest.approx(0.1)]
    entry = rep.seed_metrics(runs, "t over runs")
    assert list(entry["runs"]) == ["seed 0", "seed 1"]
    mean = entry["multiplexer minus Taylor, mean over runs"]["Pearson r"]
    assert mean["estimate"] == pytest.approx(0.2)
    assert isinstance(mean["interval"], Interval) and mean["interval"].low < 0.1


def test_a_replicate_trains_a_new_teacher_and_multiplexer_on_the_same_windows(
    tmp_path, monkeypatch
):
    from course_lib.chapters.ch4_chromatin import split_regions, window_sampler
    from course_lib.fasta import Genome

    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    rng = np.random.default_rng(0)
    fasta = tmp_path / "g.fa"
    fasta.write_text(">chrA\n" + "".join(rng.choice(list("ACGT"), 60_000)) + "\n")
    genome = Genome(fasta)
    regions = split_regions(genome.chromosomes)
    settings = Ch4Config.resolve("smoke", tiny=True, steps=4, eval_every=2)
    val_x = window_sampler(genome, regions["validation"], settings.sequence_length)(2, rng)
    test_x = window_sampler(genome, regions["test"], settings.sequence_length)(3, rng)
    inputs = rep.PipelineInputs(settings, genome, regions, val_x, test_x, torch.device("cpu"))
    one, again, other = (rep.replicate(seed, inputs) for seed in (1, 1, 2))
    assert one == again  # a seed fixes the whole run
    assert one.multiplexer != other.multiplexer  # another seed trains other models
    assert all(np.isfinite(v) for v in one.taylor.values())
    runs = rep.replicate_runs(one, 1, inputs)
    assert [r.seed for r in runs] == [1, 2] and runs[1] == other
