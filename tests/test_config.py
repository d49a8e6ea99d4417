"""Tests of course_lib.config and of each chapter's configuration: profiles, overrides, refusals."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

from course_lib.chapters.ch0_config import Ch0Config
from course_lib.chapters.ch1_config import Ch1Config
from course_lib.chapters.ch2_config import Ch2Config
from course_lib.chapters.ch3_config import Ch3Config
from course_lib.chapters.ch4_config import Ch4Config
from course_lib.chapters.ch5_config import Ch5Config
from course_lib.config import ChapterConfig, Rule, parameter

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ToyConfig(ChapterConfig):
    """A configuration with one field of each kind."""

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {"epochs": 1, "n_train": 200},
        "full": {"epochs": 50, "n_train": None, "checkpoint": "default"},
    }
    TINY: ClassVar[dict[str, Any]] = {"n_train": 64, "widths": (2, 2)}

    epochs: int = parameter(10, "maximum epochs", minimum=1)
    n_train: int | None = parameter(20_000, "training examples", minimum=1, optional=True)
    lr: float = parameter(1e-3, "learning rate", minimum=1e-8, maximum=1.0)
    head: str = parameter("mlp", "the head", choices=("mlp", "resnet"))
    freeze: bool = parameter(False, "whether the backbone is frozen")
    widths: tuple[int, ...] = parameter((8, 16), "layer widths", item=Rule("a width", int, 1))
    checkpoint: str | os.PathLike | None = parameter(
        None, "checkpoint path", os.PathLike, optional=True
    )


def test_profiles_are_differences_from_the_laptop_base():
    laptop = ToyConfig.resolve("laptop")
    assert (laptop.epochs, laptop.n_train, laptop.checkpoint) == (10, 20_000, None)
    smoke = ToyConfig.resolve("smoke")
    assert (smoke.epochs, smoke.n_train, smoke.lr, smoke.profile, smoke.tiny) == (
        1,
        200,
        1e-3,
        "smoke",
        False,
    )
    full = ToyConfig.resolve("full")
    assert (full.epochs, full.n_train, full.checkpoint) == (50, None, "default")


def test_tiny_is_an_argument_laid_over_laptop_and_full_only(monkeypatch):
    monkeypatch.setenv("COURSE_TINY", "1")  # the environment no longer matters
    assert not ToyConfig.resolve("full").tiny
    full = ToyConfig.resolve("full", tiny=True, epochs=2)
    assert (full.epochs, full.n_train, full.widths, full.tiny) == (2, 64, (2, 2), True)
    smoke = ToyConfig.resolve("smoke", tiny=True)
    assert smoke.n_train == 200 and not smoke.tiny
    with pytest.raises(ValueError, match="tiny='yes' is not allowed"):
        ToyConfig.resolve("laptop", tiny="yes")


def test_none_keeps_the_profile_value_and_overrides_are_checked():
    settings = ToyConfig.resolve("laptop", epochs=3, n_train=None, lr=1, widths=[4, 4])
    assert (settings.epochs, settings.n_train, settings.lr) == (3, 20_000, 1)
    assert settings.widths == (4, 4), "a list from papermill's -y becomes a tuple"
    assert ToyConfig.resolve("laptop").epochs == 10, "the base is not mutated"
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['epoch'\]; ToyConfig knows"):
        ToyConfig.resolve("smoke", epoch=2)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['n_trian'\]"):
        ToyConfig.resolve("smoke", n_trian=None)
    with pytest.raises(ValueError, match="unknown profile 'Smoke'; choose one of"):
        ToyConfig.resolve("Smoke")


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("epochs", -5, "an integer >= 1"),
        ("epochs", 2.5, "an integer >= 1"),
        ("epochs", True, "an integer >= 1"),
        ("lr", 2.0, "a number between 1e-08 and 1.0"),
        ("lr", "fast", "a number between"),
        ("head", "cnn", "one of 'mlp', 'resnet'"),
        ("freeze", 1, "True or False"),
        ("widths", (8, 0), "a non-empty list, each item an integer >= 1"),
        ("widths", "8,16", "a non-empty list, each item"),
        ("widths", (), "a non-empty list, each item"),
        ("checkpoint", "", "a path or None"),
    ],
)
def test_a_value_that_is_not_allowed_names_the_parameter_and_the_fix(name, value, allowed):
    with pytest.raises(ValueError) as err:
        ToyConfig.resolve("smoke", **{name: value})
    message = str(err.value)
    assert message.startswith(f"{name}={value!r} is not allowed: ")
    assert f"must be {allowed}" in message
    assert f"-p {name}" in message or f"-y '{name}: " in message, "the papermill flag"


@dataclass(frozen=True)
class PairedConfig(ChapterConfig):
    """Two lists that must have the same length."""

    widths: tuple[int, ...] = parameter((8, 16), "layer widths", item=Rule("a width", int, 1))
    dropouts: tuple[float, ...] = parameter(
        (0.1, 0.2), "dropout per layer", item=Rule("a rate", float, 0.0, 1.0)
    )

    def conflicts(self) -> list[tuple[tuple[str, ...], str]]:
        if len(self.widths) != len(self.dropouts):
            return [(("widths", "dropouts"), "give one dropout rate per layer width")]
        return []


def test_values_that_do_not_go_together_are_refused_naming_both():
    assert PairedConfig.resolve("smoke", widths=(4, 4, 4), dropouts=(0.0, 0.1, 0.2)).widths
    with pytest.raises(ValueError) as err:
        PairedConfig.resolve("smoke", widths=(4, 4, 4))
    message = str(err.value)
    assert message.startswith("widths=(4, 4, 4), dropouts=(0.1, 0.2) do not go together")
    assert "give one dropout rate per layer width; change -y widths and -y dropouts" in message


def test_the_fix_suggests_the_profile_value():
    with pytest.raises(ValueError, match=r"`papermill \.\.\. -p epochs 1` \(or drop -p epochs"):
        ToyConfig.resolve("smoke", epochs=0)
    with pytest.raises(ValueError, match=r"-y 'widths: \[8, 16\]'"):
        ToyConfig.resolve("laptop", widths=[0])
    with pytest.raises(ValueError, match="fix it by dropping -p checkpoint"):
        ToyConfig.resolve("laptop", checkpoint=3)


def test_the_configuration_reads_as_a_frozen_mapping():
    settings = ToyConfig.resolve("smoke")
    assert settings["epochs"] == settings.epochs == settings.get("epochs") == 1
    assert settings.get("absent") is None and "profile" in settings and "absent" not in settings
    assert list(settings)[-2:] == ["profile", "tiny"] and len(settings) == 9
    assert dict(settings)["head"] == "mlp"
    assert pd.Series(settings, dtype=object)["n_train"] == 200
    with pytest.raises(KeyError):
        settings["absent"]
    with pytest.raises(AttributeError):
        settings.epochs = 3


def test_tables_naming_unknown_parameters_or_profiles_raise():
    unknown = type("Bad", (ToyConfig,), {"TINY": {"widht": 2}})
    with pytest.raises(ValueError, match=r"TINY sets unknown parameter\(s\) \['widht'\]"):
        unknown.resolve("laptop")
    misspelt = type("Bad", (ToyConfig,), {"PROFILES": {"smok": {}}})
    with pytest.raises(ValueError, match=r"unknown profile\(s\) \['smok'\]"):
        misspelt.resolve("laptop")


# --------------------------------------------------------------- each chapter's configuration

#: chapter: (configuration, a count, a length (or size), a choice, a valid override)
CHAPTERS = {
    0: (Ch0Config, "n_windows", "window_length", None, ("n_boot", 50)),
    1: (Ch1Config, "n_folds", "channels", "protocol", ("epochs", 1)),
    2: (Ch2Config, "n_train", "batch_size", None, ("design_targets", [2.0])),
    3: (Ch3Config, "n_folds", "k", "lstm_readout", ("lstm_readout", "last")),
    4: (Ch4Config, "steps", "sequence_length", None, ("teacher_dropout", (0.5, 0.5, 0.5))),
    5: (Ch5Config, "real_folds", "utrlm_check_max_length", "head", ("freeze_backbone", True)),
}


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_a_negative_count_a_zero_length_and_an_unknown_choice_are_refused(chapter):
    config, count, length, choice, _ = CHAPTERS[chapter]
    for name, value in ((count, -5), (length, 0), (choice, "unknown")):
        if name is None:  # no choice among the chapter's own parameters: the profile is one
            with pytest.raises(ValueError, match=r"unknown profile 'unknown'.*-p profile smoke"):
                config.resolve("unknown")
            continue
        with pytest.raises(ValueError) as err:
            config.resolve("smoke", **{name: value})
        assert str(err.value).startswith(f"{name}={value!r} is not allowed")
        assert f"-p {name}" in str(err.value), "names the papermill flag that fixes it"


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_a_valid_override_is_taken_and_none_keeps_the_profile_value(chapter):
    config, count, *_, (name, value) = CHAPTERS[chapter]
    settings = config.resolve("laptop", **{name: value, count: None})
    expected = tuple(value) if isinstance(value, list) else value
    assert settings[name] == expected
    assert settings[count] == config.resolve("laptop")[count]
    assert set(settings) == {*config.parameter_names(), "profile", "tiny"}


#: Values the chapters' docstrings and prose give for a profile.
@pytest.mark.notebook
def test_a_bad_parameter_stops_chapter_0_in_its_settings_cell(tmp_path, monkeypatch):
    import nbformat
    import papermill

    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))  # never touch results/
    monkeypatch.setenv("MPLBACKEND", "agg")
    notebook = ROOT / "notebooks" / "00_sequences.ipynb"
    output = tmp_path / "out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters={"profile": "smoke", "n_windows": -5},
            cwd=str(notebook.parent),
            kernel_name="python3",
            execution_timeout=120,
            progress_bar=False,
        )
    assert err.value.ename == "ValueError"
    assert err.value.evalue.startswith("n_windows=-5 is not allowed")
    assert "-p n_windows 200" in err.value.evalue
    cells = nbformat.read(output, as_version=4).cells
    errors = [c for c in cells if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert len(errors) == 1 and "Ch0Config.resolve(" in errors[0].source


def test_by_profile_lists_each_parameter_per_profile_and_this_run():
    from course_lib.chapters.ch3_config import Ch3Config

    settings = Ch3Config.resolve("smoke", n_folds=4)
    table = settings.by_profile()
    assert list(table) == list(Ch3Config.parameter_names())
    row = table["n_folds"]
    assert row["smoke"] == Ch3Config.profile_values("smoke")["n_folds"]
    assert row["laptop"] == Ch3Config.profile_values("laptop")["n_folds"]
    assert row["this run"] == 4 and row["meaning"]
