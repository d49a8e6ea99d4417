"""Tests of course_lib.ism_passes: ISM with 3L + 1 teacher passes, same map as 4L + 1."""

import pytest
import torch
from torch import nn

from course_lib.encoding import one_hot
from course_lib.ism import ism_log_odds, make_variants
from course_lib.ism_passes import (
    alternative_variants,
    count_teacher_passes,
    ism_log_odds_alternatives,
    iter_alternative_batches,
    teacher_passes,
)


def encode(seqs: list[str]) -> torch.Tensor:
    return torch.from_numpy(one_hot(seqs, alphabet="AGCT", channels_first=True))


class CountingPWM(nn.Module):
    """sigmoid of per-position base weights; counts the sequences it is run on."""

    def __init__(self, weights: torch.Tensor):
        super().__init__()
        self.weights = nn.Parameter(weights)  # [F, 4, L]
        self.sequences = 0

    def forward(self, x):
        self.sequences += len(x)
        return torch.sigmoid(torch.einsum("nbl,fbl->nf", x, self.weights))


def test_pass_count_is_3l_plus_1():
    assert teacher_passes(2000) == 6001
    assert teacher_passes(10, windows=3) == 93
    refs = encode(["ACGTTGCAAG", "TTTTTAAAAA"])
    assert count_teacher_passes(refs) == teacher_passes(10, windows=2)
    assert count_teacher_passes(encode(["ACGNT"])) == 3 * 4 + 4 + 1  # N: all four bases
    with pytest.raises(ValueError, match="length"):
        teacher_passes(0)


def test_alternatives_skip_the_reference_and_match_the_full_construction():
    refs = encode(["ACGTA", "GGNCC"])
    window, variant = alternative_variants(refs)
    assert len(variant) == 15 + 4 * 3 + 4  # the N position has four alternatives
    reference_variant = 4 * torch.arange(5) + refs[0].argmax(0)  # A, G, C, T channels
    assert not torch.isin(variant[window == 0], reference_variant).any()
    seen = []
    for w, v, batch in iter_alternative_batches(refs, batch_size=4):
        assert len(batch) <= 4
        for wi, vi, x in zip(w.tolist(), v.tolist(), batch, strict=True):
            assert torch.equal(x, make_variants(refs[wi], vi, vi + 1)[0])
            seen.append((wi, vi))
    assert seen == list(zip(window.tolist(), variant.tolist(), strict=True))


def test_alternative_ism_equals_the_4l_map_with_a_quarter_fewer_passes():
    torch.manual_seed(0)
    refs = encode(["ACGTTGCAAG", "TTTTTAAAAA", "GACNTGCAAC"])
    n, _, length = refs.shape
    weights = torch.randn(2, 4, length)
    full_model, fast_model = CountingPWM(weights), CountingPWM(weights)
    full = ism_log_odds(full_model, refs, batch_size=7)
    fast = ism_log_odds_alternatives(fast_model, refs, batch_size=7)
    is_reference = refs.bool()[:, None].expand_as(full)  # [n, F, 4, L]
    torch.testing.assert_close(fast[~is_reference], full[~is_reference])
    assert (fast[is_reference] == 0).all()
    assert full_model.sequences == n * (4 * length + 1)  # today's construction
    assert fast_model.sequences == count_teacher_passes(refs)
    assert fast_model.sequences < full_model.sequences
    torch.testing.assert_close(ism_log_odds_alternatives(fast_model, refs, batch_size=100), fast)
    with pytest.raises(ValueError, match="one-hot"):
        ism_log_odds_alternatives(fast_model, refs[0])
