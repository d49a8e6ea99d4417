"""The registry of pretrained weights: one way to pass a path, provenance, recipe folders."""

from __future__ import annotations

import json

import pytest

import course_lib.datasets  # noqa: F401  (registers the weights entries too)
from course_lib import weights
from data_scripts.__main__ import main as data_scripts_main


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(folder))
    return folder


def test_every_large_set_of_weights_is_registered_with_source_licence_and_stand_in():
    assert {"rnafm", "dnabert3", "beluga"} <= set(weights.WEIGHTS)
    for entry in weights.WEIGHTS.values():
        assert entry.source and entry.licence and entry.citation and entry.stand_in
        assert entry.parameter in entry.how_to_place()


def test_absent_weights_give_the_stand_in(checkpoints):
    assert weights.locate_weights("rnafm") == (None, "stand-in")


def test_weights_at_the_registered_place_are_real(checkpoints):
    checkpoints.mkdir()
    (checkpoints / "deepsea.beluga.pth").write_bytes(b"weights")
    path, provenance = weights.locate_weights("beluga")
    assert (path, provenance) == (checkpoints / "deepsea.beluga.pth", "real")


def test_a_folder_needs_its_files(checkpoints):
    folder = checkpoints / "DNA_bert_3"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert weights.locate_weights("dnabert3") == (None, "stand-in")  # no vocab.txt yet
    with pytest.raises(FileNotFoundError, match="lacks vocab.txt"):
        weights.locate_weights("dnabert3", folder)
    (folder / "vocab.txt").write_text("[PAD]\n")
    assert weights.locate_weights("dnabert3") == (folder, "real")


def test_a_given_path_wins_and_a_wrong_one_names_the_parameter_and_the_fix(checkpoints, tmp_path):
    mine = tmp_path / "my_rnafm.pth"
    mine.write_bytes(b"x")
    assert weights.locate_weights("rnafm", str(mine)) == (mine, "real")
    with pytest.raises(FileNotFoundError) as info:
        weights.locate_weights("rnafm", tmp_path / "absent.pth")
    message = str(info.value)
    assert "rnafm_checkpoint=" in message and "RNA-FM_pretrained.pth" in message
    assert "leave rnafm_checkpoint None" in message


def test_a_name_inside_the_checkpoint_folder_is_found(checkpoints):
    checkpoints.mkdir()
    (checkpoints / "other.pth").write_bytes(b"x")
    assert weights.locate_weights("rnafm", "other.pth") == (checkpoints / "other.pth", "real")


def test_unknown_weights_list_the_known_ones():
    with pytest.raises(KeyError, match="known: .*rnafm"):
        weights.get_weights("rnafm2")


def test_recipes_that_differ_in_any_value_get_different_folders(checkpoints):
    a = {"hidden_size": 64, "layers": 3, "seed": 0}
    assert weights.recipe_folder("utr_lm", a) == weights.recipe_folder("utr_lm", dict(a))
    assert weights.recipe_folder("utr_lm", a) != weights.recipe_folder(
        "utr_lm", a | {"hidden_size": 32}
    )
    assert weights.recipe_folder("utr_lm", a).parent == checkpoints / "utr_lm"


def test_data_scripts_list_shows_weights_with_provenance_and_cached_recipes(
    checkpoints, tmp_data_dir, capsys
):
    recipe = {"hidden_size": 16, "built_by": "a test"}
    folder = weights.recipe_folder("utr_lm", recipe)
    folder.mkdir(parents=True)
    (folder / weights.RECIPE_FILE).write_text(json.dumps(recipe))
    assert data_scripts_main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("rnafm", "dnabert3", "beluga"):
        assert any(line.startswith(name) and "[stand-in" in line for line in out.splitlines())
    assert str(folder) in out and '"built_by": "a test"' in out
