"""ISM costs 3L + 1 teacher passes per window: the count, and ism_log_odds keeping to it."""

import pytest
import torch
from torch import nn

from course_lib.encoding import one_hot
from course_lib.interpret.variant_mutagenesis import (
    count_teacher_passes,
    ism_log_odds,
    log_odds,
    make_variants,
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


def test_ism_makes_exactly_the_counted_passes_and_zero_at_the_reference():
    torch.manual_seed(0)
    refs = encode(["ACGTTGCAAG", "TTTTTAAAAA", "GACNTGCAAC"])
    model = CountingPWM(torch.randn(2, 4, refs.shape[2]))
    ism = ism_log_odds(model, refs, batch_size=7)
    assert model.sequences == count_teacher_passes(refs) < 3 * (4 * 10 + 1)
    is_reference = refs.bool()[:, None].expand_as(ism)  # [n, F, 4, L]
    assert (ism[is_reference] == 0).all()
    with torch.no_grad():  # one alternative by hand: window 0, base G at position 0
        ref, alt = model(refs[:1]), model(make_variants(refs[0], 1, 2))
    torch.testing.assert_close(ism[0, :, 1, 0], log_odds(alt, ref)[0])
    torch.testing.assert_close(ism_log_odds(model, refs, batch_size=100), ism)
