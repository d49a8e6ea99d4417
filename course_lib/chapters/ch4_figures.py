"""Chapter 4's map figure (``notebooks/04_beluga_multiplexer.ipynb``): the strongest window.

:func:`strongest_cell` finds the test window and feature with the largest teacher effect;
:func:`plot_strongest_window` draws that feature's ``[4, L]`` map from each source (teacher
ISM, multiplexer, Taylor estimate) on one colour scale, and their per-position maximum effects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from course_lib.interpret.variant_mutagenesis import max_effect_track, plot_ism_map, plot_max_effect


def strongest_cell(maps: torch.Tensor) -> tuple[int, int]:
    """``(window, feature)`` of the largest absolute effect in ``maps`` ``[n, F, 4, L]``."""
    strongest = maps.abs().flatten(2).amax(-1)  # [n, F]
    window, feature = np.unravel_index(int(strongest.argmax()), strongest.shape)
    return int(window), int(feature)


def plot_strongest_window(
    maps: Mapping[str, tuple[str, torch.Tensor]],
    window: int,
    feature: int,
    feature_names: Sequence[str] | None,
    caption: str,
) -> Figure:
    """Feature ``feature`` of test window ``window`` from every source of ``maps``.

    Parameters
    ----------
    maps
        ``{label: (panel title, maps [n, F, 4, L])}``; the first is the reference (the
        teacher's ISM): it sets the colour range.
    window, feature
        Which map to draw (e.g. :func:`strongest_cell` of the reference).
    feature_names
        ``F`` names, or ``None`` (features named by number).
    caption
        The data provenance line (:func:`course_lib.plotting.provenance_caption`).
    """
    import matplotlib.pyplot as plt

    chosen = {label: m[window, feature].cpu().numpy() for label, (_, m) in maps.items()}
    limit = float(np.abs(next(iter(chosen.values()))).max())
    name = feature_names[feature] if feature_names is not None else f"feature {feature}"
    n = len(maps)
    fig, axes = plt.subplots(
        n + 1,
        1,
        figsize=(11, 2.1 * n + 2.2),
        sharex=True,
        layout="constrained",
        gridspec_kw={"height_ratios": [1] * n + [1.4]},
    )
    images = [
        plot_ism_map(chosen[label], ax, title if i else f"{title}: {name}", limit)
        for i, (ax, (label, (title, _))) in enumerate(zip(axes, maps.items(), strict=False))
    ]
    for ax in axes[:n]:
        ax.set_xlabel("")
    fig.colorbar(images[0], ax=axes[:n], label="log-odds change", shrink=0.8)
    tracks = {label: max_effect_track(m) for label, m in chosen.items()}
    plot_max_effect(tracks, axes[n], "Per-position maximum effect")
    fig.suptitle(f"Test window {window}\n{caption}", fontsize="small")
    return fig
