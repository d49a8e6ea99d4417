"""Tests of course_lib.profiles: profile names, the default profile, chapter settings."""

from __future__ import annotations

import pytest

from course_lib.profiles import (
    PROFILE_NAMES,
    PROFILES,
    LongCPURunError,
    chapter_settings,
    check_long_run,
    check_profile,
    default_profile_name,
    estimate_seconds,
    get_profile,
)

TABLE = {
    "smoke": {"epochs": 1, "n_train": 200, "batch_size": 32},
    "laptop": {"epochs": 10, "n_train": 20_000, "batch_size": 64},
    "full": {"epochs": 50, "n_train": 260_000, "batch_size": 128},
}


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
    with pytest.raises(ValueError, match="unknown profile"):
        chapter_settings(TABLE, "Smoke")


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


def test_settings_take_the_profile_values():
    settings = chapter_settings(TABLE, "smoke")
    assert settings == {
        "epochs": 1,
        "n_train": 200,
        "batch_size": 32,
        "profile": "smoke",
        "tiny": False,
    }
    assert settings.epochs == 1 and settings.profile == "smoke"
    with pytest.raises(AttributeError, match="no setting 'lr'"):
        _ = settings.lr


def test_overrides_none_keeps_value_and_table_is_not_mutated():
    settings = chapter_settings(TABLE, "laptop", epochs=3, n_train=None)
    assert settings.epochs == 3 and settings.n_train == 20_000
    assert TABLE["laptop"]["epochs"] == 10
    assert chapter_settings(TABLE, "laptop").epochs == 10


def test_unknown_override_key_raises():
    with pytest.raises(ValueError, match=r"unknown setting 'epoch'; the chapter knows"):
        chapter_settings(TABLE, "smoke", epoch=2)
    # a misspelt key raises even when its value is None
    with pytest.raises(ValueError, match="unknown setting 'n_trian'"):
        chapter_settings(TABLE, "smoke", n_trian=None)


def test_table_must_cover_every_profile():
    with pytest.raises(ValueError, match=r"no entry for profile\(s\) \['full'\]"):
        chapter_settings({"smoke": {}, "laptop": {}}, "smoke")


TINY_TABLE = {**TABLE, "tiny": {"epochs": 1, "n_train": 64}}


def test_tiny_sizes_apply_to_laptop_and_full_only_when_asked(monkeypatch):
    monkeypatch.delenv("COURSE_TINY", raising=False)
    assert chapter_settings(TINY_TABLE, "full").n_train == 260_000
    assert not chapter_settings(TINY_TABLE, "full").tiny
    monkeypatch.setenv("COURSE_TINY", "1")
    full = chapter_settings(TINY_TABLE, "full", epochs=2)
    assert (full.epochs, full.n_train, full.batch_size, full.tiny) == (2, 64, 128, True)
    assert chapter_settings(TINY_TABLE, "laptop").n_train == 64
    smoke = chapter_settings(TINY_TABLE, "smoke")
    assert smoke.n_train == 200 and not smoke.tiny


def test_tiny_without_tiny_sizes_or_with_unknown_sizes_raises(monkeypatch):
    monkeypatch.setenv("COURSE_TINY", "1")
    with pytest.raises(ValueError, match="has no 'tiny' entry; unset COURSE_TINY"):
        chapter_settings(TABLE, "laptop")
    with pytest.raises(ValueError, match=r"tiny sizes \['widht'\] are not settings"):
        chapter_settings({**TABLE, "tiny": {"widht": 2}}, "laptop")


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
