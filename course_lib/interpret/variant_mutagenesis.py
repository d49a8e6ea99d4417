"""In-silico saturation mutagenesis (ISM): every single-nucleotide variant of a window.

Variant numbering (the one convention used throughout the course)::

    variant v = 4 * position + base        position = v // 4,   base = v % 4

with ``base`` an index into ``"AGCT"`` (Beluga's one-hot order). Variants ``4p .. 4p+3`` are
the four bases at position ``p``; the one equal to the reference base is included (its effect
is zero), as in the published Multiplexer training code.

The layout of an ISM map is ``[features, 4, L]``: ``ism[f, b, p]`` is the log-odds change of
feature ``f`` when position ``p`` holds base ``b``. Going from a per-variant array
``[4L, features]`` to that map is therefore ``reshape(L, 4, F).permute(2, 1, 0)``
(:func:`variants_to_map`). The published training notebook instead transposes to ``[F, 4L]``
and reshapes straight to ``[F, 4, L]``, which reads the variant axis as base-major
(``v = base * L + position``): with the position-major construction above, that places the
effect of variant ``v`` at base ``v // L``, position ``v % L`` -- a scrambled map. The
manuscript (and the published command-line tool, which indexes ``output[:, base, position]``)
means the layout used here.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

#: Base order of a variant (Beluga's one-hot order): base ``b`` of variant ``4p + b``.
VARIANT_BASES = "AGCT"
EPSILON = 1e-6


def variant_index(position: int | np.ndarray, base: int | np.ndarray) -> int | np.ndarray:
    """Number of the variant with ``base`` (index into ``"AGCT"``) at ``position``: ``4p + b``."""
    return 4 * position + base


def variant_position_base(variant: int | np.ndarray) -> tuple:
    """Inverse of :func:`variant_index`: ``(position, base) = divmod(variant, 4)``."""
    return divmod(variant, 4)


def make_variants(reference: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """One-hot variants ``start .. stop-1`` of one window, built without a loop over positions.

    Parameters
    ----------
    reference
        One-hot window ``[4, L]`` (A, G, C, T channels).
    start, stop
        Variant numbers, ``0 <= start < stop <= 4L``.

    Returns
    -------
    torch.Tensor
        ``[stop - start, 4, L]``: copies of the reference with position ``v // 4`` set to base
        ``v % 4``.
    """
    if reference.dim() != 2 or reference.shape[0] != 4:
        raise ValueError(f"reference must be one-hot [4, L], got {tuple(reference.shape)}")
    n_variants = 4 * reference.shape[1]
    if not 0 <= start < stop <= n_variants:
        raise ValueError(f"variant range {start}..{stop} outside 0..{n_variants}")
    variants = torch.arange(start, stop, device=reference.device)
    return _mutate_(reference.expand(stop - start, -1, -1).clone(), variants)


def _mutate_(out: torch.Tensor, variants: torch.Tensor) -> torch.Tensor:
    """Apply variant ``variants[i]`` to row ``i`` of fresh copies ``out [n, 4, L]``, in place."""
    rows = torch.arange(out.shape[0], device=out.device)
    position, base = variants // 4, variants % 4
    out[rows, :, position] = 0
    out[rows, base, position] = 1
    return out


def iter_variant_batches(
    references: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """All ``4L`` variants of each of ``n`` windows, ``batch_size`` at a time.

    Only one batch exists at any moment: the ``[n * 4L, 4, L]`` tensor is never built.

    Parameters
    ----------
    references
        One-hot windows ``[n, 4, L]``.

    Yields
    ------
    (window, variant, batch)
        ``window`` and ``variant`` are ``[b]`` index tensors, ``batch`` is ``[b, 4, L]``.
    """
    if references.dim() != 3 or references.shape[1] != 4:
        raise ValueError(f"references must be one-hot [n, 4, L], got {tuple(references.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    n, _, length = references.shape
    per_window = 4 * length
    for start in range(0, n * per_window, batch_size):
        flat = torch.arange(
            start, min(start + batch_size, n * per_window), device=references.device
        )
        window, variant = flat // per_window, flat % per_window
        yield window, variant, _mutate_(references[window], variant)  # indexing copies


def log_odds(alt: torch.Tensor, ref: torch.Tensor, eps: float = EPSILON) -> torch.Tensor:
    """``log((alt + e)(1 - ref + e) / ((1 - alt + e)(ref + e)))``, the Multiplexer target."""
    return torch.log((alt + eps) * (1 - ref + eps)) - torch.log((1 - alt + eps) * (ref + eps))


def variants_to_map(per_variant: torch.Tensor) -> torch.Tensor:
    """``[..., 4L, F]`` per-variant values (variant ``v = 4p + b``) -> ``[..., F, 4, L]`` maps."""
    *lead, n_variants, n_features = per_variant.shape
    if n_variants % 4:
        raise ValueError(f"the variant axis has {n_variants} entries, not a multiple of 4")
    grid = per_variant.reshape(*lead, n_variants // 4, 4, n_features)  # [..., L, 4, F]
    return grid.movedim(-1, -3).transpose(-1, -2)  # [..., F, 4, L]


def _substitutions(references: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(window, variant)`` of every variant that changes its window: ``3L`` per clean window.

    A variant equal to the reference base changes nothing and is left out; every base of a
    position that is not a clean one-hot (an N column) is kept.
    """
    identity = (references == 1) & (references.sum(1, keepdim=True) == 1)  # [n, 4, L]
    window, base, position = torch.nonzero(~identity, as_tuple=True)
    order = torch.argsort(window * identity[0].numel() + variant_index(position, base))
    return window[order], variant_index(position, base)[order]


@torch.no_grad()
def ism_log_odds(model: nn.Module, references: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Saturation mutagenesis of ``model`` on ``n`` windows: the Multiplexer's training target.

    ``3L + 1`` forward passes per window: the reference once and the three substitutions at
    each position (the reference base's effect is exactly zero and is not computed).

    Parameters
    ----------
    model
        Maps ``[b, 4, L]`` one-hot to ``[b, F]`` probabilities (e.g. :class:`Beluga`); it is
        put in eval mode.
    references
        ``[n, 4, L]`` one-hot windows, on the model's device.
    batch_size
        Variants per forward pass.

    Returns
    -------
    torch.Tensor
        ``[n, F, 4, L]`` log-odds changes; ``out[i, f, b, p]`` is window ``i`` with base ``b``
        at position ``p`` (zero where ``b`` is the reference base).
    """
    if references.dim() != 3 or references.shape[1] != 4:
        raise ValueError(f"references must be one-hot [n, 4, L], got {tuple(references.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    model.eval()
    reference_pred = model(references)  # [n, F]
    n, _, length = references.shape
    per_variant = references.new_zeros(n, 4 * length, reference_pred.shape[1])
    windows, variants = _substitutions(references)
    for start in range(0, len(windows), batch_size):
        window, variant = windows[start : start + batch_size], variants[start : start + batch_size]
        batch = _mutate_(references[window], variant)  # indexing copies
        per_variant[window, variant] = log_odds(model(batch), reference_pred[window])
    return variants_to_map(per_variant)


def teacher_passes(length: int, windows: int = 1) -> int:
    """Teacher forward passes (one per sequence) for ISM of ``windows`` clean windows of ``length``.

    ``windows * (3 * length + 1)``: three alternative bases per position plus the reference.
    """
    if length < 1 or windows < 0:
        raise ValueError(f"need length >= 1 and windows >= 0, got {length}, {windows}")
    return windows * (3 * length + 1)


def count_teacher_passes(references: torch.Tensor) -> int:
    """Exact passes of :func:`ism_log_odds` on ``[n, 4, L]`` one-hot windows.

    One per alternative variant (every base that is not the reference; four at an N) plus
    one reference pass per window.
    """
    if references.dim() != 3 or references.shape[1] != 4:
        raise ValueError(f"references must be one-hot [n, 4, L], got {tuple(references.shape)}")
    return int((references == 0).sum()) + references.shape[0]


def loop_variants(sequence: str) -> np.ndarray:
    """The published construction (a Python loop over positions), kept for tests and benchmarks.

    Returns ``[4L, 4, L]`` with variant ``4j + k`` = base ``"AGCT"[k]`` at position ``j``.
    """
    encode = {
        "A": np.array([1, 0, 0, 0]),
        "G": np.array([0, 1, 0, 0]),
        "C": np.array([0, 0, 1, 0]),
        "T": np.array([0, 0, 0, 1]),
        "N": np.array([0, 0, 0, 0]),
    }
    reference = np.zeros((4, len(sequence)))
    for i, char in enumerate(sequence.upper()):
        reference[:, i] = encode[char]
    variants = np.tile(reference, (4 * len(sequence), 1, 1))
    for j in range(len(sequence)):
        for k, base in enumerate(VARIANT_BASES):
            variants[4 * j + k, :, j] = encode[base]
    return variants


def weighted_pearson_r(
    y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Pearson correlation with per-element weights (default ``|y_true|``).

    ``r_w = cov_w(x, y) / sqrt(var_w(x) var_w(y))`` with weighted means; ``nan`` when a weighted
    variance is zero.
    """
    x = np.asarray(y_true, dtype=np.float64).ravel()
    y = np.asarray(y_pred, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"y_true has {x.size} values but y_pred has {y.size}")
    w = np.abs(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != x.shape:
        raise ValueError(f"weights have {w.size} values, expected {x.size}")
    if (w < 0).any():
        raise ValueError("weights must be non-negative")
    total = w.sum()
    if total <= 0:
        return float("nan")
    dx = x - (w * x).sum() / total
    dy = y - (w * y).sum() / total
    var_x, var_y = (w * dx * dx).sum(), (w * dy * dy).sum()
    if var_x <= 0 or var_y <= 0:
        return float("nan")
    return float((w * dx * dy).sum() / np.sqrt(var_x * var_y))


#: The key of :func:`ism_metrics` that chapter 4 selects checkpoints on: a weighted r that
#: sees invented effects (weights ``max(|true|, |predicted|)``), unlike the published one.
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


def ism_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Plain, weighted (``|true|``) and symmetric weighted Pearson r per feature, averaged.

    The published Multiplexer metric, Pearson r weighted by ``|true effect|``, gives (almost)
    no weight to truly null variants, so a student that invents large effects there keeps a
    high score while plain Pearson r collapses (:func:`simulate_invented_effects`). Weighting
    by ``max(|true|, |predicted|)`` treats both maps alike; chapter 4 selects on it
    (:data:`SELECTION_METRIC`) and reports all three side by side.

    Parameters
    ----------
    y_true, y_pred
        ``[n, F, 4, L]`` ISM maps (teacher and multiplexer).

    Returns
    -------
    dict
        ``"Pearson r"``, ``"weighted Pearson r"`` (the published Multiplexer metric),
        ``"symmetric weighted Pearson r"`` and ``"Pearson r (all values)"`` over the flattened
        maps; features that are constant are left out of the averages.
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 4:
        raise ValueError(f"expected two [n, F, 4, L] arrays, got {t.shape} and {p.shape}")
    per_t = t.transpose(1, 0, 2, 3).reshape(t.shape[1], -1)
    per_p = p.transpose(1, 0, 2, 3).reshape(p.shape[1], -1)
    plain = [weighted_pearson_r(a, b, np.ones_like(a)) for a, b in zip(per_t, per_p, strict=True)]
    weighted = [weighted_pearson_r(a, b) for a, b in zip(per_t, per_p, strict=True)]
    symmetric = [symmetric_weighted_pearson_r(a, b) for a, b in zip(per_t, per_p, strict=True)]
    return {
        "Pearson r": _mean_defined(plain),
        "weighted Pearson r": _mean_defined(weighted),
        SELECTION_METRIC: _mean_defined(symmetric),
        "Pearson r (all values)": weighted_pearson_r(t, p, np.ones(t.size)),
    }


def _mean_defined(values: list[float]) -> float:
    defined = [v for v in values if not np.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def max_effect_track(ism: np.ndarray | torch.Tensor) -> np.ndarray:
    """Largest absolute effect at each position: ``max over bases |ism[..., b, p]|``.

    ``[F, 4, L]`` gives ``[F, L]``; ``[4, L]`` (one feature) gives ``[L]``.
    """
    values = ism.detach().cpu().numpy() if torch.is_tensor(ism) else np.asarray(ism)
    if values.ndim < 2 or values.shape[-2] != 4:
        raise ValueError(f"expected an ISM map [..., 4, L], got shape {values.shape}")
    return np.abs(values).max(axis=-2)


def plot_ism_map(ism: np.ndarray, ax=None, title: str = "", limit: float | None = None):
    """Heatmap of one feature's ISM map ``[4, L]``: bases A, G, C, T down, positions across.

    Colours are symmetric around zero (blue: the variant lowers the feature, red: raises it);
    ``limit`` fixes the colour range so that two maps can be compared. Returns the image.
    """
    import matplotlib.pyplot as plt

    values = np.asarray(ism)
    if values.ndim != 2 or values.shape[0] != 4:
        raise ValueError(f"expected one feature's map [4, L], got shape {values.shape}")
    ax = ax or plt.subplots(figsize=(10, 1.8))[1]
    limit = limit or float(np.abs(values).max()) or 1.0
    image = ax.imshow(
        values, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest"
    )
    ax.set_yticks(range(4), list(VARIANT_BASES))
    ax.set(xlabel="position in window", title=title)
    return image


def plot_max_effect(tracks: dict[str, np.ndarray], ax=None, title: str = ""):
    """Line plot of per-position maximum effects ``{label: [L]}`` (see :func:`max_effect_track`)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(10, 2.5))[1]
    for label, track in tracks.items():
        ax.plot(np.asarray(track), label=label, lw=1)
    ax.set(xlabel="position in window", ylabel="max |log-odds change|", title=title)
    ax.legend(fontsize="small")
    return ax


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
