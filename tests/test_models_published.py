"""The one home of published-model scoring: Framepool and Optimus files by role as predictors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from course_lib.datasets.published_models import (
    EVOLUTION,
    FRAMEPOOL_EGFP_LIBRARY,
    FRAMEPOOL_FILES,
    ModelFiles,
    synthesize_framepool,
    synthesize_optimus,
)
from course_lib.encoding import one_hot
from course_lib.models.framepool import load_framepool
from course_lib.models.optimus import EVOLUTION_SUFFIX, load_optimus_keras
from course_lib.models.published import (
    framepool_predictor,
    optimus_evolution_predictor,
    published_predictors,
)
from course_lib.training import make_predictor

RNG = np.random.default_rng(3)
UTRS = ["".join(RNG.choice(list("ACGT"), n)) for n in (50, 50, 50, 50, 50)]
VARYING = ["".join(RNG.choice(list("ACGT"), n)) for n in (25, 60, 100, 41)]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[ModelFiles, ModelFiles]:
    """Random-weight Framepool and Optimus files in the real layouts, by role."""
    folder = tmp_path_factory.mktemp("published")
    synthesize_framepool(folder, seed=0)
    synthesize_optimus(folder, seed=0)
    framepool = ModelFiles({name: folder / file for name, file in FRAMEPOOL_FILES.items()})
    return framepool, ModelFiles({"evolution": folder / EVOLUTION})


def test_framepool_predictor_pads_on_the_5_prime_side(files):
    path = files[0]["Framepool 25-100-nt"]
    predicted = framepool_predictor(path, batch=3)(VARYING)
    model = load_framepool(path).eval()
    with torch.no_grad():
        direct = model(torch.from_numpy(one_hot(VARYING, padding="left"))).double().numpy()
    assert predicted.dtype == np.float64 and predicted.shape == (len(VARYING),)
    # batches of 3 pad to their own longest UTR: float32 sums differ in the last digits
    np.testing.assert_allclose(predicted, direct, rtol=1e-5, atol=1e-7)
    assert framepool_predictor(path)([]).shape == (0,)


def test_framepool_predictor_passes_the_library_indicator(files):
    path: Path = files[0]["Framepool combined"]
    predicted = framepool_predictor(path, FRAMEPOOL_EGFP_LIBRARY)(UTRS)
    model = load_framepool(path).eval()
    with torch.no_grad():
        x = torch.from_numpy(one_hot(UTRS))
        direct = model(x, library=FRAMEPOOL_EGFP_LIBRARY).double().numpy()
    np.testing.assert_allclose(predicted, direct, rtol=1e-6, atol=1e-9)


def test_optimus_evolution_predictor_appends_the_start_codon(files):
    path = files[1]["evolution"]
    predicted = optimus_evolution_predictor(path)(UTRS)
    direct = make_predictor(load_optimus_keras(path))([u + EVOLUTION_SUFFIX for u in UTRS])
    np.testing.assert_array_equal(predicted, direct)


def test_published_predictors_by_role(files):
    framepool, optimus = files
    predictors = published_predictors(framepool, optimus)
    assert list(predictors) == ["Framepool combined", "Framepool 50-nt", "Optimus evolution"]
    combined = framepool_predictor(framepool["Framepool combined"], FRAMEPOOL_EGFP_LIBRARY)
    np.testing.assert_array_equal(predictors["Framepool combined"](UTRS), combined(UTRS))
    plain = framepool_predictor(framepool["Framepool 50-nt"])
    np.testing.assert_array_equal(predictors["Framepool 50-nt"](UTRS), plain(UTRS))
    with pytest.raises(KeyError):
        published_predictors(ModelFiles({}), optimus)


def test_make_predictor_padding_side_changes_only_unequal_lengths():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(1))
    model(torch.zeros(1, 6, 4))
    right = make_predictor(model, padding="right")(["ACGTAC", "ACG"])
    left = make_predictor(model, padding="left")(["ACGTAC", "ACG"])
    assert right[0] == left[0] and right[1] != left[1]


def test_published_mrl_names_each_role_once_and_scores_with_its_library(files):
    from course_lib.models.published import PUBLISHED_MRL, published_mrl

    framepool, _ = files
    varying = published_mrl("varying-length")
    assert varying.library == 1 and varying.role in framepool.paths and varying.trained_on
    predicted = varying.predictor(framepool)(VARYING)
    direct = framepool_predictor(framepool[varying.role], 1)(VARYING)
    np.testing.assert_array_equal(predicted, direct)
    assert published_mrl("egfp").library == FRAMEPOOL_EGFP_LIBRARY
    assert all(model.dataset == "framepool_models" for model in PUBLISHED_MRL.values())
    with pytest.raises(KeyError, match="choose from"):
        published_mrl("eGFP")
