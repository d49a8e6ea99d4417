"""Tests of course_lib.profiles: profile names, the default profile, the long-run stop."""

from __future__ import annotations

import pytest

from course_lib.profiles import (
    PROFILE_NAMES,
    PROFILES,
    LongCPURunError,
    check_long_run,
    check_profile,
    default_profile_name,
    estimate_seconds,
    get_profile,
)


def test_profile_names():
    assert PROFILE_NAMES == ("smoke", "laptop", "full")
    assert set(PROFILES) == set(PROFILE_NAMES)
    assert get_profile("full").real_weights and not get_profile("smoke").real_weights


def test_unknown_profile_lists_the_names():
    assert check_profile("smoke") == "smoke"
    with pytest.raises(
        ValueError, match=r"unknown profile 'fast'; choose one of smoke, laptop, full"
    ):
        check_profile("fast")


def test_default_profile_follows_course_profile(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert default_profile_name() == "laptop"
    assert get_profile().name == "laptop"
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert default_profile_name() == "smoke"
    assert get_profile().name == "smoke"
    monkeypatch.setenv("COURSE_PROFILE", "turbo")
    with pytest.raises(ValueError, match="unknown profile 'turbo'"):
        default_profile_name()


def test_full_on_cpu_stops_before_a_long_step(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_ALLOW_CPU_FULL", raising=False)
    full = {"profile": "full", "tiny": False}
    with pytest.raises(LongCPURunError, match=r"about 2.0 h .*-p profile laptop"):
        check_long_run(full, "cpu", 7200, "fine-tuning")
    check_long_run(full, "cuda:0", 7200, "fine-tuning")  # a GPU: no message, no stop
    check_long_run({"profile": "laptop", "tiny": False}, "cpu", 7200, "fine-tuning")
    assert capsys.readouterr().out.count("paper scale") == 1
    check_long_run({"profile": "full", "tiny": True}, "cpu", 7200, "fine-tuning")  # says, runs
    assert "about 2.0 h" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_ALLOW_CPU_FULL", "1")
    check_long_run(full, "cpu", 7200, "fine-tuning")


def test_estimate_seconds_times_probe_steps():
    calls = []
    assert estimate_seconds(lambda: calls.append(1), n_steps=1000, probe=3) >= 0
    assert len(calls) == 4  # one warm-up, three timed
