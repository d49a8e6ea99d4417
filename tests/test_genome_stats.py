"""GC tracks and dinucleotide enrichment (chapter 0)."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.chapters.ch0_genome_stats import dinucleotide_obs_exp, gc_track


def test_gc_track_tiles_and_ignores_n() -> None:
    track = gc_track("GGCC" + "AATT" + "GCNN", window=4)
    assert track["start"].tolist() == [0, 4, 8]
    assert track["end"].tolist() == [4, 8, 12]
    assert np.allclose(track["gc"], [1.0, 0.0, 1.0])  # N is not a called base


def test_gc_track_sliding_step_and_errors() -> None:
    track = gc_track("AAGG", window=2, step=1)
    assert np.allclose(track["gc"], [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="shorter than the window"):
        gc_track("ACG", window=5)
    with pytest.raises(ValueError, match="window must be positive"):
        gc_track("ACG", window=0)


def test_dinucleotide_obs_exp_detects_cpg_depletion() -> None:
    rng = np.random.default_rng(0)
    random_seq = "".join(rng.choice(list("ACGT"), 20000))
    uniform = dinucleotide_obs_exp(random_seq)
    assert uniform.index.tolist()[:3] == ["AA", "AC", "AG"] and len(uniform) == 16
    assert abs(uniform["CG"] - 1) < 0.1
    depleted = random_seq.replace("CG", "CA")
    assert dinucleotide_obs_exp(depleted)["CG"] < 0.05


def test_dinucleotide_obs_exp_rejects_all_n() -> None:
    with pytest.raises(ValueError, match="no called bases"):
        dinucleotide_obs_exp("NNNN")
