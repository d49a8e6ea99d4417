"""Chapter 5's curve saved by a launcher run and read back by the notebook, by recipe."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from test_ch5_efficiency import SETTINGS, _protocol

from course_lib.chapters import ch5_curve_store as store
from course_lib.chapters.ch5_config import Ch5Config
from course_lib.chapters.ch5_efficiency import Arm, efficiency_curve
from course_lib.weights import RECIPE_FILE


@pytest.fixture(scope="module")
def curve():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    _, protocol = _protocol()
    settings = {**SETTINGS, "efficiency_counts": (30,), "lr_grid": (1e-3,)}
    yield efficiency_curve([Arm("one-hot", None, True)], protocol, settings)
    torch.set_num_threads(threads)


def _recipe(seed: int = 0) -> dict:
    return store.curve_recipe(Ch5Config.resolve("smoke", tiny=True), seed, "synthetic")


def test_a_saved_curve_reads_back_whole(curve, tmp_path):
    store.save_curve(curve, tmp_path, {"any": "recipe"})
    back = store.load_curve(tmp_path)
    pd.testing.assert_frame_equal(back.runs, curve.runs)
    pd.testing.assert_frame_equal(back.lr_grid, curve.lr_grid)
    assert back.predictions.keys() == curve.predictions.keys()
    for key, pred in curve.predictions.items():
        np.testing.assert_array_equal(back.predictions[key], pred)
    assert back.truth.keys() == curve.truth.keys()
    for key, (y, lengths, utrs) in curve.truth.items():
        np.testing.assert_array_equal(back.truth[key][0], y)
        np.testing.assert_array_equal(back.truth[key][1], lengths)
        assert back.truth[key][2] == utrs
    assert back.fits.keys() == curve.fits.keys()
    for key, fit_ in curve.fits.items():
        pd.testing.assert_frame_equal(back.fits[key].history, fit_.history, check_dtype=False)
        assert back.fits[key].best_epoch == fit_.best_epoch
    assert back.arms == curve.arms and back.counts == curve.counts == [30]
    assert json.loads((tmp_path / RECIPE_FILE).read_text()) == {"any": "recipe"}


def test_an_unfinished_folder_says_how_to_finish_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="did not finish.*launch finetune --chapter 5"):
        store.load_curve(tmp_path)


def test_the_notebook_reads_only_a_curve_of_its_own_recipe(curve, tmp_data_dir, monkeypatch):
    recipe = _recipe()
    assert store.saved_curve(recipe)[0] is None  # nothing saved yet
    folder = store.curve_folder(recipe)
    store.save_curve(curve, folder, recipe)
    found, where = store.saved_curve(recipe)
    assert where == folder and found is not None and found.arms == curve.arms
    assert store.saved_curve(_recipe(seed=1))[0] is None  # another seed, another folder
    other = {**recipe, "code": "0" * 16}  # older code: another folder
    assert store.curve_folder(other) != folder and store.saved_curve(other)[0] is None

    def not_to_be_run(*args, **kwargs):
        raise AssertionError("the saved curve should have been read")

    monkeypatch.setattr(store, "efficiency_curve", not_to_be_run)
    settings = Ch5Config.resolve("smoke", tiny=True)
    read, sentence = store.curve_for([], None, settings, "cpu", 0, "synthetic")
    assert read.arms == curve.arms and sentence.startswith(f"read from {folder}")
    # a folder whose recipe file disagrees (edited by hand) is not read
    (folder / RECIPE_FILE).write_text(json.dumps({**recipe, "seed": 7}))
    assert store.saved_curve(recipe)[0] is None
    with pytest.raises(AssertionError, match="should have been read"):
        store.curve_for([], None, settings, "cpu", 0, "synthetic")


def test_the_recipe_changes_with_any_setting_and_with_the_code():
    base = _recipe()
    assert set(base) == {"built_by", "settings", "seed", "data provenance", "code"}
    changed = store.curve_recipe(
        Ch5Config.resolve("smoke", tiny=True, finetune_steps=5), 0, "synthetic"
    )
    assert store.curve_folder(changed) != store.curve_folder(base)
    assert store.code_digest() != store.code_digest(store.CURVE_CODE[:-1])


def test_the_launcher_saves_the_curve_where_the_notebook_reads_it(tmp_data_dir):
    import course_lib.datasets  # noqa: F401  (registers the data sets)
    from course_lib import launch, registry

    settings = Ch5Config.resolve("smoke", tiny=True)
    provenance = registry.load("utr_testsets").provenance
    folder = store.curve_folder(store.curve_recipe(settings, 0, provenance))
    jobs = launch.chapter_jobs(5, "smoke", tiny=True, command="finetune")
    assert [job.folder for job in jobs] == [folder]
    assert folder.parent.name == store.CURVE_CACHE
    with pytest.raises(ValueError, match=r"chapter 3 has nothing to finetune.*\[5\]"):
        launch.chapter_jobs(3, "smoke", command="finetune")


def test_the_launcher_runs_the_chapter_s_training_and_the_notebook_finds_it(tmp_data_dir):
    """One process, tiny sizes: backbones, then the curve, saved; a second run finds it."""
    import course_lib.datasets  # noqa: F401  (registers the data sets)
    from course_lib import launch, registry

    [folder] = launch.train_chapter(5, "smoke", tiny=True, command="finetune")
    settings = Ch5Config.resolve("smoke", tiny=True)
    recipe = store.curve_recipe(settings, 0, registry.load("utr_testsets").provenance)
    curve, where = store.saved_curve(recipe)
    assert where == folder and curve is not None
    assert set(curve.arms) >= {"(b) MLM, natural UTRs", "(a) no pretraining: random weights"}
    assert curve.counts == sorted(settings.efficiency_counts)
    assert launch.train_chapter(5, "smoke", tiny=True, command="finetune") == [folder]
