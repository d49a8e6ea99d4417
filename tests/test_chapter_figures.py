"""Figures of chapters 1 and 4 drawn by chapter helpers: what they show, on tiny inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from course_lib.chapters.ch1_library import plot_library
from course_lib.chapters.ch4_figures import plot_strongest_window, strongest_cell


def test_library_figure_shows_the_uaug_effect_of_the_random_set_only():
    rng = np.random.default_rng(0)
    utrs = ["".join(rng.choice(list("ACGT"), 40)) for _ in range(200)]
    library = pd.DataFrame(
        {
            "utr": utrs,
            "set": ["random"] * 150 + ["human"] * 50,
            "len": [len(u) for u in utrs],
            "rl": rng.normal(5, 1, 200),
            "total_reads": rng.integers(1, 100, 200),
        }
    )
    fig = plot_library(library, "synthetic data", min_reads=20)
    axes = fig.axes
    assert len(axes) == 4 and "cut at 20" in axes[2].get_title()
    assert axes[2].lines[0].get_xdata()[0] == np.log10(20)
    kept = library[(library["total_reads"] >= 20) & (library["set"] == "random")]
    out_of_frame = axes[3].lines[0]
    from course_lib.datasets.utr import uaug_table

    counts = uaug_table(kept["utr"])["uaug_out_of_frame"].clip(upper=3).to_numpy()
    expected = kept["rl"].groupby(counts).mean()
    np.testing.assert_allclose(out_of_frame.get_ydata(), expected.to_numpy())
    plt.close(fig)


def test_strongest_window_is_the_teachers_largest_effect_and_every_source_is_drawn():
    teacher = torch.zeros(3, 2, 4, 10)
    teacher[2, 1, 3, 7] = -5.0
    teacher[0, 0, 0, 0] = 4.0
    assert strongest_cell(teacher) == (2, 1)
    student = teacher * 0.5
    maps = {"teacher": ("Teacher ISM", teacher), "student": ("Student", student)}
    fig = plot_strongest_window(maps, 2, 1, ["f0", "f1"], "synthetic data")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["Teacher ISM: f1", "Student", "Per-position maximum effect"]
    image = fig.axes[1].images[0]
    assert image.get_clim() == (-5.0, 5.0)  # the teacher's range for every map
    np.testing.assert_array_equal(image.get_array(), student[2, 1].numpy())
    tracks = {line.get_label(): line.get_ydata() for line in fig.axes[2].lines}
    assert tracks["teacher"][7] == 5.0 and tracks["student"][7] == 2.5
    plt.close(fig)
