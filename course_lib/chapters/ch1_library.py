"""Chapter 1's first look at the MPRA library (``notebooks/01_utr_rnafm.ipynb``).

:func:`plot_library`: lengths and measured MRL by set, read depth with the cut, and the mean
MRL by number of upstream AUGs in and out of frame (the random set), the effect the course's
models must learn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from course_lib.datasets.utr import uaug_table


def plot_library(library: pd.DataFrame, caption: str, min_reads: int = 10) -> Figure:
    """Four panels of ``library`` (``utr``, ``set``, ``len``, ``rl``, ``total_reads``).

    Lengths, MRL and the uAUG effect use the UTRs with at least ``min_reads`` reads; the read
    panel shows every UTR and the cut. uAUG counts of 3 or more share the last point.
    """
    import matplotlib.pyplot as plt

    kept = library[library["total_reads"] >= min_reads]
    uaugs = uaug_table(kept["utr"]).set_index(kept.index)
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    for name, part in kept.groupby("set"):
        axes[0].hist(part["len"], bins=76, range=(25, 101), histtype="step", label=name)
        axes[1].hist(part["rl"], bins=60, histtype="step", density=True, label=name)
    axes[0].set(xlabel="UTR length (nt)", ylabel="UTRs", title=f"Lengths\n{caption}")
    axes[1].set(xlabel="measured MRL", ylabel="density", title=f"MRL by set\n{caption}")
    axes[2].hist(np.log10(library["total_reads"].clip(lower=1)), bins=60)
    axes[2].axvline(np.log10(min_reads), color="k", ls="--", lw=1)
    axes[2].set(
        xlabel="log10 total reads", ylabel="UTRs", title=f"Reads (cut at {min_reads})\n{caption}"
    )
    random_kept = kept["set"] == "random"
    for column, color in (("uaug_out_of_frame", "C3"), ("uaug_in_frame", "C2")):
        counts = uaugs.loc[random_kept, column].clip(upper=3)
        means = kept.loc[random_kept, "rl"].groupby(counts).mean()
        axes[3].plot(means.index, means.values, "o-", color=color, label=column.replace("_", " "))
    axes[3].set(
        xlabel="number of uAUGs (3 = 3 or more)",
        ylabel="mean MRL",
        xticks=[0, 1, 2, 3],
        title=f"uAUG effect (random set)\n{caption}",
    )
    for ax in axes[[0, 1, 3]]:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
