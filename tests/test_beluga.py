"""Beluga as published: key layout, shapes, and loading checkpoints in the published format."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.models.beluga import (
    MIN_LENGTH,
    Beluga,
    conv_output_length,
    load_beluga,
    small_beluga,
)

#: Keys and shapes of the published ``deepsea.beluga.pth`` (ExPecto), in order.
PUBLISHED_SHAPES = {
    "model.0.0.weight": (320, 4, 1, 8),
    "model.0.0.bias": (320,),
    "model.0.2.weight": (320, 320, 1, 8),
    "model.0.2.bias": (320,),
    "model.0.6.weight": (480, 320, 1, 8),
    "model.0.6.bias": (480,),
    "model.0.8.weight": (480, 480, 1, 8),
    "model.0.8.bias": (480,),
    "model.0.12.weight": (640, 480, 1, 8),
    "model.0.12.bias": (640,),
    "model.0.14.weight": (640, 640, 1, 8),
    "model.0.14.bias": (640,),
    "model.1.2.1.weight": (2003, 67840),
    "model.1.2.1.bias": (2003,),
    "model.1.4.1.weight": (2002, 2003),
    "model.1.4.1.bias": (2002,),
}


class _Reshape(nn.Module):
    """Stand-in for the converted model's parameter-free ``Lambda`` modules."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def published_layout(length: int, channels=(320, 480, 640), hidden=2003, features=2002):
    """The published module tree written independently of course_lib (same indices)."""
    c1, c2, c3 = channels
    flat = c3 * conv_output_length(length)
    return nn.Sequential(
        nn.Sequential(
            nn.Conv2d(4, c1, (1, 8)), nn.ReLU(), nn.Conv2d(c1, c1, (1, 8)), nn.ReLU(),
            nn.Dropout(0.2), nn.MaxPool2d((1, 4), (1, 4)),
            nn.Conv2d(c1, c2, (1, 8)), nn.ReLU(), nn.Conv2d(c2, c2, (1, 8)), nn.ReLU(),
            nn.Dropout(0.2), nn.MaxPool2d((1, 4), (1, 4)),
            nn.Conv2d(c2, c3, (1, 8)), nn.ReLU(), nn.Conv2d(c3, c3, (1, 8)), nn.ReLU(),
        ),
        nn.Sequential(
            nn.Dropout(0.5),
            _Reshape(lambda x: x.view(x.size(0), -1)),
            nn.Sequential(_Reshape(lambda x: x), nn.Linear(flat, hidden)),
            nn.ReLU(),
            nn.Sequential(_Reshape(lambda x: x), nn.Linear(hidden, features)),
        ),
        nn.Sigmoid(),
    )  # fmt: skip


def test_full_size_keys_and_shapes_match_the_published_file():
    with torch.device("meta"):
        model = Beluga()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert list(shapes) == list(PUBLISHED_SHAPES)
    assert shapes == PUBLISHED_SHAPES
    assert sum(p.numel() for p in model.parameters()) == 149_536_251


def test_published_flatten_size():
    assert conv_output_length(2000) == 106
    assert 640 * conv_output_length(2000) == 67_840
    assert MIN_LENGTH == 310
    assert conv_output_length(MIN_LENGTH) == 1 and conv_output_length(MIN_LENGTH - 1) < 1


def test_too_short_input_length_is_refused():
    with pytest.raises(ValueError, match="at least 310"):
        Beluga(sequence_length=300)


def test_forward_shapes_and_both_input_layouts():
    torch.manual_seed(0)
    model = small_beluga(320, 5).eval()
    x = torch.zeros(3, 4, 320)
    x[:, 1] = 1
    out = model(x)
    assert out.shape == (3, 5)
    assert ((out > 0) & (out < 1)).all()
    torch.testing.assert_close(model(x.unsqueeze(2)), out)
    with pytest.raises(ValueError, match="differs"):
        model(torch.zeros(1, 4, 330))
    with pytest.raises(ValueError, match=r"\[batch, 4, L\]"):
        model(torch.zeros(1, 5, 320))


def test_load_a_checkpoint_written_in_the_published_format(tmp_path):
    torch.manual_seed(1)
    length, channels, hidden, features = 330, (6, 8, 10), 12, 7
    published = published_layout(length, channels, hidden, features).eval()
    path = tmp_path / "deepsea.beluga.pth"
    # the published file holds the state_dict of a module whose attribute is ``model``
    torch.save({f"model.{k}": v for k, v in published.state_dict().items()}, path)

    model = load_beluga(path, sequence_length=length)

    assert not model.training
    assert model.n_features == features
    assert model.model[1][2][1].out_features == hidden
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (4, length)), 4).float()
    x = x.transpose(1, 2).contiguous()
    torch.testing.assert_close(model(x), published(x.unsqueeze(2)))


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(2)
    model = small_beluga(320, 4, (8, 8, 16), 16).eval()
    path = tmp_path / "teacher.pth"
    torch.save(model.state_dict(), path)
    loaded = load_beluga(path, sequence_length=320)
    x = torch.rand(2, 4, 320)
    torch.testing.assert_close(loaded(x), model(x))


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="deepsea.beluga.pth"):
        load_beluga(tmp_path / "missing.pth")
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="not a Beluga state_dict"):
        load_beluga(other)
    small = tmp_path / "small.pth"
    torch.save(small_beluga(400, 3).state_dict(), small)
    with pytest.raises(ValueError, match="sequence_length"):
        load_beluga(small, sequence_length=2000)
