"""Chapter 4's configuration (``notebooks/04_beluga_multiplexer.ipynb``): parameters per profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from course_lib.config import ChapterConfig, Rule, parameter

_WIDTH = Rule("a width", int, minimum=1)


@dataclass(frozen=True)
class Ch4Config(ChapterConfig):
    """Chapter 4's parameters; field defaults are ``laptop``, other profiles differ by ``PROFILES``.

    Attributes
    ----------
    sequence_length
        Length of each genome window (bp, >= 1; Beluga: 2000).
    n_features
        Chromatin features the teacher predicts (count, >= 1; Beluga: 2002).
    teacher_channels
        Channels of the teacher's convolution blocks (each >= 1).
    teacher_hidden
        Width of the teacher's dense layer (units, >= 1).
    teacher_dropout
        Dropout after each convolution block of the teacher (each a probability, 0-1).
    n_teacher_train
        Synthetic windows the teacher is trained on (count, >= 1).
    n_teacher_val
        Synthetic windows that choose the teacher's epoch (count, >= 1).
    teacher_epochs
        Maximum epochs of the teacher (count, >= 1).
    teacher_batch_size
        Windows per optimizer step of the teacher (count, >= 1).
    teacher_lr
        Learning rate of the teacher (Adam, > 0).
    multiplexer_channels
        Channels of the multiplexer's convolution stages (each >= 1).
    multiplexer_dilations
        Dilations of the multiplexer's dilated convolutions (each >= 1).
    steps
        Optimizer steps of the multiplexer (count, >= 1).
    fresh_windows
        New windows scored by the teacher per step (count, >= 1).
    batch_windows
        Windows per multiplexer step (count, >= 1).
    pool_size
        Windows kept in the replay pool (count, >= 1).
    eval_every
        Steps between validation scores (count, >= 1).
    n_val_windows
        Held-out windows that choose the multiplexer's step (count, >= 1).
    n_test_windows
        Held-out windows of the final metrics (count, >= 1).
    ism_batch_size
        Mutated sequences per teacher forward pass (count, >= 1).
    lr
        Learning rate of the multiplexer (Adam, > 0).
    speed_windows
        Windows timed in the speed comparison (count, >= 1).
    replicates
        Further runs of the whole pipeline, from seeds ``seed + 1`` on, that give the
        multiplexer-minus-Taylor comparison an interval over training runs (count, >= 1).
    """

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "sequence_length": 320,
            "n_features": 4,
            "teacher_channels": (8, 8, 16),
            "teacher_hidden": 16,
            "n_teacher_train": 1500,
            "n_teacher_val": 300,
            "teacher_epochs": 4,
            "teacher_lr": 3e-3,
            "multiplexer_channels": (16, 32),
            "multiplexer_dilations": (2, 4, 8),
            "steps": 120,
            "batch_windows": 4,
            "pool_size": 32,
            "eval_every": 20,
            "n_val_windows": 16,
            "n_test_windows": 32,
            "ism_batch_size": 640,
            "lr": 5e-3,
            "speed_windows": 2,
        },
        "full": {
            "sequence_length": 2000,
            "n_features": 32,
            "teacher_channels": (320, 480, 640),
            "teacher_hidden": 2003,
            "teacher_dropout": (0.2, 0.2, 0.5),
            "n_teacher_train": 50000,
            "n_teacher_val": 5000,
            "teacher_epochs": 10,
            "teacher_batch_size": 128,
            "teacher_lr": 1e-3,
            "multiplexer_channels": (640, 1280),
            "multiplexer_dilations": (4, 16, 64),
            "steps": 10000,
            "fresh_windows": 16,
            "batch_windows": 16,
            "pool_size": 16,
            "eval_every": 200,
            "n_val_windows": 16,
            "n_test_windows": 32,
            "ism_batch_size": 1000,
            "lr": 1e-4,
            "speed_windows": 16,
        },
    }
    TINY: ClassVar[dict[str, Any]] = {
        "sequence_length": 320,
        "n_features": 4,
        "teacher_channels": (8, 8, 16),
        "teacher_hidden": 16,
        "n_teacher_train": 800,
        "n_teacher_val": 100,
        "teacher_epochs": 2,
        "teacher_batch_size": 32,
        "multiplexer_channels": (8, 16),
        "steps": 20,
        "fresh_windows": 2,
        "batch_windows": 2,
        "pool_size": 4,
        "eval_every": 10,
        "n_val_windows": 4,
        "n_test_windows": 6,
        "ism_batch_size": 640,
        "speed_windows": 2,
        "replicates": 1,
    }

    sequence_length: int = parameter(400, "bp per genome window", minimum=1)
    n_features: int = parameter(6, "chromatin features the teacher predicts", minimum=1)
    teacher_channels: tuple[int, ...] = parameter(
        (16, 16, 32), "channels of the teacher's convolution blocks", item=_WIDTH
    )
    teacher_hidden: int = parameter(32, "width of the teacher's dense layer", minimum=1)
    teacher_dropout: tuple[float, ...] = parameter(
        (0.0, 0.0, 0.1),
        "dropout after each convolution block of the teacher",
        item=Rule("a probability", float, minimum=0, maximum=1),
    )
    n_teacher_train: int = parameter(6000, "synthetic training windows", minimum=1)
    n_teacher_val: int = parameter(600, "synthetic validation windows", minimum=1)
    teacher_epochs: int = parameter(6, "maximum epochs of the teacher", minimum=1)
    teacher_batch_size: int = parameter(32, "windows per teacher step", minimum=1)
    teacher_lr: float = parameter(2e-3, "learning rate of the teacher", minimum=1e-8)
    multiplexer_channels: tuple[int, ...] = parameter(
        (32, 64), "channels of the multiplexer's stages", item=_WIDTH
    )
    multiplexer_dilations: tuple[int, ...] = parameter(
        (4, 8, 32), "dilations of the multiplexer", item=Rule("a dilation", int, minimum=1)
    )
    steps: int = parameter(1200, "multiplexer optimizer steps", minimum=1)
    fresh_windows: int = parameter(1, "new teacher-scored windows per step", minimum=1)
    batch_windows: int = parameter(8, "windows per multiplexer step", minimum=1)
    pool_size: int = parameter(256, "windows in the replay pool", minimum=1)
    eval_every: int = parameter(100, "steps between validation scores", minimum=1)
    n_val_windows: int = parameter(32, "held-out validation windows", minimum=1)
    n_test_windows: int = parameter(64, "held-out windows for the final metrics", minimum=1)
    ism_batch_size: int = parameter(800, "mutated sequences per teacher pass", minimum=1)
    lr: float = parameter(2e-3, "learning rate of the multiplexer", minimum=1e-8)
    speed_windows: int = parameter(4, "windows timed in the speed comparison", minimum=1)
    replicates: int = parameter(2, "further runs of the pipeline from other seeds", minimum=1)
