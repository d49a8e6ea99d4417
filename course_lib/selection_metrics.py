"""A selection criterion for ISM students that sees invented effects (chapter 4).

The published Multiplexer metric, Pearson r weighted by ``|true effect|``
(:func:`~course_lib.interpret.variant_mutagenesis.weighted_pearson_r`), gives (almost) no weight to truly null variants,
so a student that invents large effects there keeps a high score while plain Pearson r
collapses. Weighting by ``max(|true|, |predicted|)`` treats the two maps alike: a variant
counts as soon as either map calls it large, so invented effects weigh as much as missed ones.
:func:`ism_selection_metrics` reports plain, weighted and symmetric r side by side;
:func:`simulate_invented_effects` builds the demonstration.
"""

from __future__ import annotations

import numpy as np

from course_lib.interpret.variant_mutagenesis import ism_metrics, weighted_pearson_r

#: The key of :func:`ism_selection_metrics` to select checkpoints on.
SELECTION_METRIC = "symmetric weighted Pearson r"


def symmetric_weighted_pearson_r(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Pearson r weighted by ``max(|y_true|, |y_pred|)``, symmetric in its two arguments.

    Parameters
    ----------
    y_true, y_pred
        Arrays of the same size (flattened), e.g. one feature's ISM map ``[4, L]``.

    Returns
    -------
    float
        ``nan`` when a weighted variance is zero.
    """
    x = np.asarray(y_true, dtype=np.float64).ravel()
    y = np.asarray(y_pred, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"y_true has {x.size} values but y_pred has {y.size}")
    return weighted_pearson_r(x, y, np.maximum(np.abs(x), np.abs(y)))


def ism_selection_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Plain, weighted (``|true|``) and symmetric weighted Pearson r of ISM maps, side by side.

    Parameters
    ----------
    y_true, y_pred
        ``[n, F, 4, L]`` ISM maps (teacher and student).

    Returns
    -------
    dict
        The keys of :func:`~course_lib.interpret.variant_mutagenesis.ism_metrics` (``Pearson r``, ``weighted Pearson r``,
        ``Pearson r (all values)``) plus ``symmetric weighted Pearson r``, each averaged over
        the features where it is defined.
    """
    out = ism_metrics(y_true, y_pred)  # checks the shapes
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    per_t = t.transpose(1, 0, 2, 3).reshape(t.shape[1], -1)
    per_p = p.transpose(1, 0, 2, 3).reshape(p.shape[1], -1)
    symmetric = np.array(
        [symmetric_weighted_pearson_r(a, b) for a, b in zip(per_t, per_p, strict=True)]
    )
    defined = symmetric[~np.isnan(symmetric)]
    out[SELECTION_METRIC] = float(defined.mean()) if defined.size else float("nan")
    return out


def simulate_invented_effects(
    n_variants: int = 20_000,
    real_fraction: float = 0.05,
    invented_fraction: float = 0.025,
    invented_scale: float = 20.0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Two simulated students of one teacher map, for the selection demonstration.

    The teacher has ``real_fraction`` real effects (Laplace, scale 1) and null variants of
    about 0.001. The ``precise`` student predicts real effects with noise sd 0.3 but invents
    effects (normal, sd ``invented_scale``) at ``invented_fraction`` of the null variants; the
    ``honest`` student predicts real effects with noise sd 0.6 and invents nothing. Both add
    noise sd 0.01 at null variants.

    Returns
    -------
    dict
        ``truth``, ``precise``, ``honest``: ``[n_variants]`` effects; ``invented``: the
        ``[n_variants]`` boolean mask of invented effects.
    """
    rng = np.random.default_rng(seed)
    real = rng.random(n_variants) < real_fraction
    truth = np.where(real, rng.laplace(0, 1, n_variants), rng.normal(0, 1e-3, n_variants))
    noise = rng.normal(0, 1, n_variants)
    invented = ~real & (rng.random(n_variants) < invented_fraction)
    precise = truth + noise * np.where(real, 0.3, 0.01)
    precise[invented] = rng.normal(0, invented_scale, int(invented.sum()))
    honest = truth + noise * np.where(real, 0.6, 0.01)
    return {"truth": truth, "precise": precise, "honest": honest, "invented": invented}
