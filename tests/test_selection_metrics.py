"""Chapter 4's selection criterion sees invented effects (interpret.variant_mutagenesis)."""

import numpy as np
import pytest

from course_lib.interpret.variant_mutagenesis import (
    SELECTION_METRIC,
    ism_metrics,
    simulate_invented_effects,
    symmetric_weighted_pearson_r,
    weighted_pearson_r,
)


def test_symmetric_weighted_r_is_symmetric_and_a_weighted_r():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=200), rng.normal(size=200)
    r = symmetric_weighted_pearson_r(x, y)
    assert r == pytest.approx(symmetric_weighted_pearson_r(y, x))
    assert r == pytest.approx(weighted_pearson_r(x, y, np.maximum(abs(x), abs(y))))
    assert symmetric_weighted_pearson_r(x, 2 * x + 0.1) == pytest.approx(1.0)
    assert np.isnan(symmetric_weighted_pearson_r(np.zeros(5), np.zeros(5)))
    with pytest.raises(ValueError, match="values"):
        symmetric_weighted_pearson_r(x, y[:10])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_symmetric_criterion_rejects_a_student_that_invents_effects(seed):
    sim = simulate_invented_effects(seed=seed)
    truth, precise, honest = sim["truth"], sim["precise"], sim["honest"]
    assert 0.015 < sim["invented"].mean() < 0.035

    def plain(p):
        return weighted_pearson_r(truth, p, np.ones_like(truth))

    # the blindness: plain r collapses, |true|-weighted r stays high and prefers the inventor
    assert plain(precise) < 0.2
    assert weighted_pearson_r(truth, precise) > 0.9
    assert weighted_pearson_r(truth, precise) > weighted_pearson_r(truth, honest)
    # the symmetric criterion prefers the honest student by far
    assert symmetric_weighted_pearson_r(truth, precise) < 0.2
    assert symmetric_weighted_pearson_r(truth, honest) > 0.9


def test_ism_metrics_side_by_side_on_maps():
    sim = simulate_invented_effects(n_variants=2 * 3 * 4 * 500, seed=3)
    shape = (2, 3, 4, 500)  # [n, F, 4, L]
    truth = sim["truth"].reshape(shape)
    scores = {name: ism_metrics(truth, sim[name].reshape(shape)) for name in ("precise", "honest")}
    for score in scores.values():
        assert set(score) == {
            "Pearson r",
            "weighted Pearson r",
            "Pearson r (all values)",
            SELECTION_METRIC,
        }
    assert max(scores, key=lambda s: scores[s]["weighted Pearson r"]) == "precise"
    assert max(scores, key=lambda s: scores[s][SELECTION_METRIC]) == "honest"
    with pytest.raises(ValueError, match="n, F, 4, L"):
        ism_metrics(truth[0], truth[0])
