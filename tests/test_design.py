"""In-silico AUG scans and UTR design on hand-built predictors with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn

from course_lib.chapters.ch2_design import (
    aug_insertion_scan,
    gradient_design,
    greedy_design,
    in_cds_frame,
    plot_aug_scan,
    single_substitutions,
    substitute,
    substitution_gains,
)
from course_lib.datasets.utr import uaug_table
from course_lib.encoding import one_hot
from course_lib.training import make_predictor


def _uaug_rule(utrs):
    """A planted predictor: -2 per out-of-frame uAUG, -1 per in-frame uAUG."""
    table = uaug_table(list(utrs))
    return -2.0 * table["uaug_out_of_frame"].to_numpy() - 1.0 * table["uaug_in_frame"].to_numpy()


def _aug_free_utrs(n, length=20, seed=0):
    rng = np.random.default_rng(seed)
    utrs = []
    while len(utrs) < n:
        u = "".join(rng.choice(list("ACGT"), length))
        if "ATG" not in u and not u.endswith("AT") and not u.endswith("A"):
            utrs.append(u)
    return utrs


class _Linear(nn.Module):
    """out = sum(x * W) + b over a one-hot [n, L, 4] input."""

    def __init__(self, weights: np.ndarray, bias: float = 0.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(weights, dtype=torch.float32))
        self.b = nn.Parameter(torch.tensor(bias))

    def forward(self, x):
        return (x * self.w).sum(dim=(1, 2)) + self.b


def test_substitute_and_frame():
    assert substitute("AAAAAA", "ATG", 2) == "AAATGA"
    assert substitute("AAAAAA", "ATG", 3) == "AAAATG"
    with pytest.raises(ValueError, match="0..3"):
        substitute("AAAAAA", "ATG", 4)
    # 50-nt UTR: AUG at 47 ends right before the CDS ATG (in frame), 48 is not
    assert in_cds_frame(47, 50) and in_cds_frame(2, 50)
    assert not in_cds_frame(48, 50) and not in_cds_frame(46, 50)
    np.testing.assert_array_equal(in_cds_frame(np.array([0, 1, 2]), 6), [True, False, False])


def test_aug_scan_recovers_planted_frame_effects_exactly():
    utrs = _aug_free_utrs(12)
    scan = aug_insertion_scan(_uaug_rule, utrs)
    assert list(scan["position"]) == list(range(18))
    in_frame = scan["frame"] == "in frame"
    assert list(scan.loc[in_frame, "position"]) == [2, 5, 8, 11, 14, 17]
    np.testing.assert_allclose(scan.loc[in_frame, "mean_change"], -1.0)
    np.testing.assert_allclose(scan.loc[~in_frame, "mean_change"], -2.0)
    np.testing.assert_allclose(scan["sem_change"], 0.0)


def test_aug_scan_rejects_mixed_lengths():
    with pytest.raises(ValueError, match="same length"):
        aug_insertion_scan(_uaug_rule, ["ACGTAC", "ACG"])


def test_plot_aug_scan_draws_one_bar_per_position():
    import matplotlib

    matplotlib.use("Agg")
    scan = aug_insertion_scan(_uaug_rule, _aug_free_utrs(3))
    ax = plot_aug_scan(scan, title="t")
    assert len(ax.patches) == len(scan)


def test_make_predictor_batches_and_unscales():
    weights = np.zeros((6, 4))
    weights[:, 3] = 1.0  # counts T
    model = _Linear(weights, bias=0.5)
    scaler = StandardScaler().fit(np.array([[1.0], [3.0]]))  # mean 2, sd 1
    predict = make_predictor(model, scaler=scaler, batch_size=2)
    out = predict(["TTTTTT", "AAAAAA", "TTAAAA"])
    np.testing.assert_allclose(out, [6.5 + 2, 0.5 + 2, 2.5 + 2], rtol=1e-6)
    raw = make_predictor(model)(["TTAAAA"])
    np.testing.assert_allclose(raw, [2.5], rtol=1e-6)


def test_single_substitutions_lists_all_variants():
    variants, edits = single_substitutions("AC")
    assert len(variants) == 6 and len(set(variants)) == 6
    assert variants[0] == "CC" and edits[0] == (0, "A", "C")
    assert edits[-1] == (1, "C", "T")


def test_greedy_design_removes_uaugs_and_stops():
    start = "CCATGCCCCCCATGCCCCCC"  # two uAUGs
    design = greedy_design(_uaug_rule, start, n_steps=10)
    assert design.start_score < design.score == 0.0
    assert "ATG" not in design.sequence
    assert len(design.edits) == 2  # no edit improves a UTR without uAUG
    assert np.all(np.diff(design.trajectory) > 0)
    assert design.gain == pytest.approx(design.score - design.start_score)
    with pytest.raises(ValueError, match="A/C/G/T"):
        greedy_design(_uaug_rule, "ACGX")
    with pytest.raises(ValueError, match="n_steps"):
        greedy_design(_uaug_rule, "ACGT", n_steps=0)


def test_substitution_gains_are_exact_for_a_linear_model():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(8, 4))
    model = _Linear(weights)
    seq = "ACGTACGT"
    gains = substitution_gains(model, seq)
    current = weights[np.arange(8), [("ACGT").index(b) for b in seq]]
    np.testing.assert_allclose(gains, weights - current[:, None], rtol=1e-5, atol=1e-6)
    # the estimate equals the real change of a linear model
    variant = seq[:3] + "A" + seq[4:]
    x = torch.from_numpy(one_hot([seq, variant]))
    out = model(x).detach().numpy()
    assert out[1] - out[0] == pytest.approx(gains[3, 0], rel=1e-5)


def test_gradient_design_matches_greedy_on_a_linear_model():
    rng = np.random.default_rng(1)
    model = _Linear(rng.normal(size=(10, 4)))
    seq = "ACGTACGTAC"
    by_gradient = gradient_design(model, seq, n_steps=3, top_k=1)
    by_greedy = greedy_design(make_predictor(model), seq, n_steps=3)
    assert by_gradient.edits == by_greedy.edits
    assert by_gradient.score == pytest.approx(by_greedy.score, rel=1e-5)
    assert by_gradient.score > by_gradient.start_score
    with pytest.raises(ValueError, match="top_k"):
        gradient_design(model, seq, top_k=0)
