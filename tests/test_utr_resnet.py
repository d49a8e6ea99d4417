"""Tests of the RNA-FM tutorial's 1-D ResNet head."""

import numpy as np
import pytest
import torch

from course_lib.encoding import one_hot
from course_lib.models.utr_resnet import Human5PrimeUTRPredictor, ResBlock1d


@pytest.fixture
def one_thread():
    """Small models train faster on one thread (and stay fast on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("input_types", "kwargs"),
    [(("seq",), {"seq"}), (("emb-rnafm",), {"emb"}), (("seq", "emb-rnafm"), {"seq", "emb"})],
)
def test_output_shape_for_each_input_type(input_types, kwargs):
    model = Human5PrimeUTRPredictor(input_types, embed_dim=12).eval()
    inputs = {"seq": torch.rand(3, 100, 4), "emb": torch.rand(3, 100, 12)}
    out = model(**{k: v for k, v in inputs.items() if k in kwargs})
    assert out.shape == (3,)


def test_architecture_matches_tutorial():
    model = Human5PrimeUTRPredictor(("seq", "emb-rnafm"), embed_dim=640)
    assert model.reduction.in_features == 640 and model.reduction.out_features == 32
    assert model.predictor[0].in_channels == 36 and model.predictor[0].out_channels == 64
    blocks = [m for m in model.predictor if isinstance(m, ResBlock1d)]
    assert [b.body[2].stride[0] for b in blocks] == [2, 1, 2, 1, 2, 1]
    assert model.predictor[-2].p == 0.2
    # the tutorial's init: linear layers N(0, 0.001), zero bias
    assert model.predictor[-1].weight.std() < 0.003 and model.reduction.bias.abs().sum() == 0
    x = torch.rand(2, 64, 100)
    assert blocks[0](x).shape == (2, 64, 50)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="subset"):
        Human5PrimeUTRPredictor(("kmer",))
    model = Human5PrimeUTRPredictor(("seq", "emb-rnafm"), embed_dim=8)
    with pytest.raises(ValueError, match="pass emb"):
        model(seq=torch.rand(2, 100, 4))
    with pytest.raises(ValueError, match="same length"):
        model(seq=torch.rand(2, 100, 4), emb=torch.rand(2, 90, 8))


def test_learns_planted_uaug_count(one_thread):
    """Label = number of ATGs; a small head must learn it from one-hot input."""
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(1200)]
    y = torch.tensor([s.count("ATG") for s in seqs], dtype=torch.float32)
    x = torch.from_numpy(one_hot(seqs, length=32))
    torch.manual_seed(0)
    model = Human5PrimeUTRPredictor(("seq",), channels=16, strides=(1, 2, 1), dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    train, test = slice(0, 1000), slice(1000, None)
    for _ in range(8):
        for batch in torch.randperm(1000).split(50):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(seq=x[train][batch]), y[train][batch])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(seq=x[test])
    r = np.corrcoef(pred.numpy(), y[test].numpy())[0, 1]
    assert r > 0.8
