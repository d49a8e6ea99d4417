"""Tests of chapter 0's module: settings, anchors, exercise checks and the windowed headline."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.chapters import ch0_exercises as ch0x
from course_lib.chapters import ch0_report
from course_lib.chapters import ch0_sequences as ch0
from course_lib.chapters.ch0_config import Ch0Config
from course_lib.chapters.ch0_genome_stats import dinucleotide_obs_exp
from course_lib.encoding import kmer_counts, one_hot
from course_lib.exercises import CheckFailed


def random_seqs(n: int, length: int, seed: int = 0, drop_cg: bool = False) -> list[str]:
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]
    return [s.replace("CG", "CA") for s in seqs] if drop_cg else seqs


@pytest.fixture
def lenient(monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)


def test_tiny_sizes_lie_over_laptop_and_full():
    for profile in ("laptop", "full"):
        settings = Ch0Config.resolve(profile, tiny=True)
        assert settings.tiny and settings.n_windows == Ch0Config.TINY["n_windows"]
        assert settings.window_length == Ch0Config.resolve(profile).window_length
    assert not Ch0Config.resolve("smoke", tiny=True).tiny


def test_exercise_1_accepts_flips_and_rejects_a_reversal_alone(lenient, capsys):
    seqs = random_seqs(5, 30)
    x = one_hot(seqs)
    assert ch0x.check_exercise_1(x[:, ::-1, ::-1], seqs)
    wrong = ch0x.check_exercise_1(x[:, ::-1, :], seqs)
    assert wrong.status == "wrong" and "Hint 1 of 3" in wrong.message
    assert "CGT" not in wrong.message  # no sequence of the solution is shown
    assert ch0x.check_exercise_1(None, seqs).status == "not yet"
    assert "not yet answered" in capsys.readouterr().out


def test_exercise_2_accepts_gc_from_counts_and_rejects_at_content(lenient):
    seqs = random_seqs(8, 50, seed=1)
    counts = kmer_counts(seqs, 1)
    assert ch0x.check_exercise_2(counts[:, 1:3].sum(1) / counts.sum(1), seqs)
    at = (counts[:, 0] + counts[:, 3]) / counts.sum(1)
    assert ch0x.check_exercise_2(at, seqs).status == "wrong"
    assert "shape" in ch0x.check_exercise_2(counts, seqs).message  # [n, 4] is not [n]


def test_checks_raise_in_strict_mode(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    seqs = random_seqs(3, 20)
    with pytest.raises(CheckFailed):
        ch0x.check_exercise_2(None, seqs)


def test_pooled_statistics_match_one_window_and_batch(lenient):
    seqs = random_seqs(6, 400, seed=2)
    mono, di = ch0.window_counts(seqs)
    one = dinucleotide_obs_exp(seqs[0])["CG"]
    assert ch0.pooled_cpg_obs_exp(mono[:1], di[:1]) == pytest.approx(one)
    gc = sum(s.count("C") + s.count("G") for s in seqs) / sum(map(len, seqs))
    assert ch0.pooled_gc(mono) == pytest.approx(gc)
    index = np.array([[0, 0, 1, 2, 3, 4], [5, 4, 3, 2, 1, 0]])
    batched = ch0.pooled_cpg_obs_exp(mono[index], di[index])
    assert batched.shape == (2,)
    assert batched[1] == pytest.approx(ch0.pooled_cpg_obs_exp(mono, di))


def test_intervals_separate_cpg_depleted_from_independent_bases():
    independent = ch0.window_intervals(random_seqs(60, 500, seed=3), n_boot=200)
    depleted = ch0.window_intervals(random_seqs(60, 500, seed=3, drop_cg=True), n_boot=200)
    for result in (independent, depleted):
        for ci in result.values():
            assert ci["ci low"] <= ci["estimate"] <= ci["ci high"]
    assert independent["CpG obs/exp"]["ci low"] < 1 < independent["CpG obs/exp"]["ci high"]
    assert depleted["CpG obs/exp"]["ci high"] < 0.05
    assert independent["GC fraction"]["ci low"] < 0.5 < independent["GC fraction"]["ci high"]


def test_headline_carries_interval_and_the_genome_wide_anchor():
    intervals = ch0.window_intervals(random_seqs(20, 300, seed=4), n_boot=50)
    headline = ch0_report.headline(intervals, "synthetic", 20, 300)
    assert headline.anchor.protocol == ch0_report.GENOME_WIDE
    assert ch0_report.GENOME_WIDE == "genome-wide estimate (IHGSC 2001)"
    assert headline.data.startswith("synthetic")
    (value,) = headline.compared.values()
    assert value.interval.low <= value.value <= value.interval.high
    assert all(a.protocol == ch0_report.GENOME_WIDE for a in ch0_report.ANCHORS)


def test_prediction_3_records_the_cpg_ratio_with_its_interval(monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 200)) for _ in range(30)]
    intervals = ch0.window_intervals(seqs, n_boot=50)
    verdict = ch0x.check_exercise_3(0.2, intervals)
    assert verdict.status == "recorded"
    cpg = intervals["CpG obs/exp"]
    assert f"{cpg['estimate']:.3g}" in verdict.message  # the run's value, computed here
    assert "no CpG depletion" in verdict.message  # independent bases: the ratio is near 1
    with pytest.raises(CheckFailed, match="not yet made"):
        ch0x.check_exercise_3(None, intervals)
