"""Saturation mutagenesis: variant construction, the index mapping, targets and metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.encoding import one_hot
from course_lib.interpret.variant_mutagenesis import (
    ism_log_odds,
    ism_metrics,
    iter_variant_batches,
    log_odds,
    loop_variants,
    make_variants,
    max_effect_track,
    variant_index,
    variant_position_base,
    variants_to_map,
    weighted_pearson_r,
)


def encode(seq: str) -> torch.Tensor:
    return torch.from_numpy(one_hot(seq, alphabet="AGCT", channels_first=True)[0])


def test_vectorized_variants_equal_the_published_loop():
    seq = "ACGTNAGGCTTA"
    expected = loop_variants(seq)
    assert expected.shape == (48, 4, 12)
    built = make_variants(encode(seq), 0, 48).numpy()
    np.testing.assert_array_equal(built, expected)
    np.testing.assert_array_equal(make_variants(encode(seq), 13, 30).numpy(), expected[13:30])


def test_variant_numbering_is_position_major():
    # variant 4p + b puts base "AGCT"[b] at position p
    assert variant_index(0, 0) == 0 and variant_index(2, 3) == 11
    assert variant_position_base(11) == (2, 3)
    v = np.arange(40)
    p, b = variant_position_base(v)
    np.testing.assert_array_equal(variant_index(p, b), v)
    ref = encode("AAAAA")
    x = make_variants(ref, 0, 20)
    assert x[11, :, 2].tolist() == [0, 0, 0, 1]  # T at position 2
    assert x[6, :, 1].tolist() == [0, 0, 1, 0]  # C at position 1
    assert torch.equal(x[8], ref)  # A at position 2 is the reference itself


def test_batches_cover_every_variant_once_and_stay_small():
    refs = torch.stack([encode("ACGTA"), encode("GGGCC"), encode("TTAAC")])
    seen = []
    for window, variant, batch in iter_variant_batches(refs, batch_size=7):
        assert batch.shape[0] <= 7 and batch.shape[1:] == (4, 5)
        for w, v, x in zip(window.tolist(), variant.tolist(), batch, strict=True):
            assert torch.equal(x, make_variants(refs[w], v, v + 1)[0])
            seen.append((w, v))
    assert sorted(seen) == [(w, v) for w in range(3) for v in range(20)]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"\[4, L\]"):
        make_variants(torch.zeros(5, 10), 0, 4)
    with pytest.raises(ValueError, match="outside"):
        make_variants(encode("ACGT"), 0, 17)
    with pytest.raises(ValueError, match="batch_size"):
        next(iter_variant_batches(encode("ACGT")[None], 0))
    with pytest.raises(ValueError, match="multiple of 4"):
        variants_to_map(torch.zeros(6, 2))


def test_variants_to_map_and_the_published_reshape():
    length, features = 5, 3
    v = torch.arange(4 * length)
    p, b = v // 4, v % 4
    f = torch.arange(features)
    # per-variant value encodes (feature, position, base)
    per_variant = (100 * f[None, :] + 10 * p[:, None] + b[:, None]).float()  # [4L, F]
    grid = variants_to_map(per_variant)
    assert grid.shape == (features, 4, length)
    for ff, bb, pp in [(0, 0, 0), (2, 3, 4), (1, 2, 3)]:
        assert grid[ff, bb, pp] == 100 * ff + 10 * pp + bb
    # the published notebook's y.transpose(1, 2).reshape(F, 4, L) scrambles the layout
    published = per_variant.T.reshape(features, 4, length)
    assert not torch.equal(published, grid)
    assert published[0, 1, 0] == 10 * 1 + 1  # shows position 1, base 1 at [base 1, position 0]
    # batched input keeps its leading axis
    assert torch.equal(variants_to_map(per_variant[None].repeat(2, 1, 1))[1], grid)


def test_log_odds_formula():
    alt, ref = torch.tensor([0.9, 0.5]), torch.tensor([0.5, 0.5])
    e = 1e-6
    expected = np.log((0.9 + e) * (0.5 + e) / ((0.1 + e) * (0.5 + e)))
    torch.testing.assert_close(
        log_odds(alt, ref), torch.tensor([expected, 0.0], dtype=torch.float32)
    )


class LinearPWM(nn.Module):
    """sigmoid(sum of per-position base weights): ISM effect = w[b, p] - w[ref, p] in logits."""

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.weights = nn.Parameter(weights)  # [F, 4, L]

    def forward(self, x):
        return torch.sigmoid(torch.einsum("nbl,fbl->nf", x, self.weights))


def test_ism_log_odds_places_each_effect_at_its_base_and_position():
    torch.manual_seed(0)
    seq = "ACGTTGCAAG"
    weights = torch.randn(2, 4, len(seq)) * 0.5
    model = LinearPWM(weights)
    refs = torch.stack([encode(seq), encode("TTTTTAAAAA")])
    out = ism_log_odds(model, refs, batch_size=7)
    assert out.shape == (2, 2, 4, len(seq))
    for i in range(2):
        ref_base = refs[i].argmax(0)  # [L]
        expected = weights - weights[:, ref_base, torch.arange(len(seq))][:, None, :]
        torch.testing.assert_close(out[i], expected, atol=1e-4, rtol=1e-4)
    # reference bases have no effect, and the batch size does not matter
    assert out[0, :, 0, 0].abs().max() < 1e-5  # A at position 0 is the reference
    torch.testing.assert_close(ism_log_odds(model, refs, batch_size=80), out)


def test_weighted_pearson_r():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    np.testing.assert_allclose(weighted_pearson_r(x, y, np.ones(50)), np.corrcoef(x, y)[0, 1])
    # only two points with weight: perfectly (anti)correlated
    w = np.zeros(50)
    w[[3, 7]] = 1
    expected = np.sign((x[3] - x[7]) * (y[3] - y[7]))
    assert weighted_pearson_r(x, y, w) == pytest.approx(expected)
    # default weights |true|: zero-valued truths do not count
    t = np.array([0.0, 0.0, 1.0, -1.0, 2.0])
    p = np.array([5.0, -5.0, 1.0, -1.0, 2.0])
    assert weighted_pearson_r(t, p) == pytest.approx(1.0)
    assert np.isnan(weighted_pearson_r(np.zeros(4), np.arange(4.0)))
    with pytest.raises(ValueError, match="non-negative"):
        weighted_pearson_r(x, y, -np.ones(50))
    with pytest.raises(ValueError, match="values"):
        weighted_pearson_r(x, y[:10])


def test_ism_metrics_per_feature_average():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(3, 2, 4, 6))
    perfect = ism_metrics(truth, truth)
    assert perfect["Pearson r"] == pytest.approx(1.0)
    assert perfect["weighted Pearson r"] == pytest.approx(1.0)
    flipped = truth.copy()
    flipped[:, 1] *= -1  # feature 1 anti-correlated
    m = ism_metrics(truth, flipped)
    assert m["Pearson r"] == pytest.approx(0.0, abs=1e-12)
    assert m["weighted Pearson r"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match=r"\[n, F, 4, L\]"):
        ism_metrics(truth[0], truth[0])


def test_max_effect_track():
    ism = np.zeros((2, 4, 3))
    ism[0, 2, 1] = -3.0
    ism[0, 1, 1] = 2.0
    ism[1, 0, 2] = 0.5
    np.testing.assert_array_equal(max_effect_track(ism), [[0, 3, 0], [0, 0, 0.5]])
    np.testing.assert_array_equal(max_effect_track(torch.from_numpy(ism[1])), [0, 0, 0.5])
    with pytest.raises(ValueError, match="4, L"):
        max_effect_track(np.zeros((3, 5)))
