"""Chapter 2's configuration (``notebooks/02_optimus_attention.ipynb``): parameters per profile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from course_lib.config import ChapterConfig, Rule, parameter
from course_lib.datasets.egfp import PUBLISHED_N_TEST, PUBLISHED_N_TRAIN


@dataclass(frozen=True)
class Ch2Config(ChapterConfig):
    """Chapter 2's parameters; field defaults are ``laptop``, other profiles differ by ``PROFILES``.

    Attributes
    ----------
    n_test
        eGFP library UTRs with the most reads that form the test set (count, >= 1; published:
        20,000).
    n_train
        Training and validation UTRs drawn after the test set (count, >= 1).
    n_val
        Validation UTRs carved out of the training pool (count, >= 1).
    epochs
        Maximum epochs per model on the eGFP library (count, >= 1).
    batch_size
        UTRs per optimizer step (count, >= 1).
    lr
        Learning rate (Adam, > 0).
    optimus_filters
        Filters per convolution of the course's Optimus 5-Prime (count, >= 1; published: 120).
    patience
        Epochs without a better validation loss before stopping (count, >= 1; ``None``: never).
    n_scan_utrs
        UTRs scanned in the in-silico experiments (count, >= 1).
    design_steps
        Greedy design rounds per target (count, >= 1).
    n_score
        Real test UTRs scored by the published models (count, >= 1; ``None``: all).
    n_bootstrap
        Bootstrap resamples of each interval (count, >= 1).
    cv_utrs
        Real eGFP test UTRs used for the cross-validation of the course's models (count, >= 1).
    cv_folds
        Folds of that cross-validation (count, >= 2).
    cv_epochs
        Maximum epochs per fold model (count, >= 1).
    design_targets
        Mean ribosome loads the design aims at (each >= 0).
    """

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "smoke": {
            "n_test": 1_000,
            "n_train": 3_500,
            "n_val": 500,
            "batch_size": 64,
            "lr": 3e-3,
            "optimus_filters": 32,
            "patience": None,
            "n_scan_utrs": 100,
            "design_steps": 4,
            "n_score": 4_000,
            "n_bootstrap": 200,
            "cv_utrs": 3_000,
            "cv_folds": 2,
            "design_targets": (4.0, 8.0),
        },
        "full": {
            "n_train": PUBLISHED_N_TRAIN,
            "n_val": 26_000,
            "epochs": 20,
            "patience": 3,
            "n_scan_utrs": 2_000,
            "design_steps": 20,
            "n_bootstrap": 2_000,
            "cv_folds": 10,
            "cv_epochs": 15,
        },
    }
    TINY: ClassVar[dict[str, Any]] = {
        "n_test": 1_000,
        "n_train": 3_000,
        "n_val": 500,
        "epochs": 1,
        "optimus_filters": 16,
        "n_scan_utrs": 40,
        "design_steps": 2,
        "n_score": 2_000,
        "n_bootstrap": 100,
        "cv_utrs": 1_500,
        "cv_folds": 2,
        "cv_epochs": 1,
    }

    n_test: int = parameter(PUBLISHED_N_TEST, "test UTRs with the most reads", minimum=1)
    n_train: int = parameter(50_000, "training + validation UTRs", minimum=1)
    n_val: int = parameter(5_000, "validation UTRs", minimum=1)
    epochs: int = parameter(5, "maximum epochs per model", minimum=1)
    batch_size: int = parameter(128, "UTRs per optimizer step", minimum=1)
    lr: float = parameter(1e-3, "learning rate", minimum=1e-8)
    optimus_filters: int = parameter(120, "filters per Optimus convolution", minimum=1)
    patience: int | None = parameter(
        2, "epochs without improvement before stopping", minimum=1, optional=True
    )
    n_scan_utrs: int = parameter(500, "UTRs scanned in the in-silico experiments", minimum=1)
    design_steps: int = parameter(10, "greedy design rounds per target", minimum=1)
    n_score: int | None = parameter(
        None, "real test UTRs scored by the published models", int, minimum=1, optional=True
    )
    n_bootstrap: int = parameter(1_000, "bootstrap resamples of each interval", minimum=1)
    cv_utrs: int = parameter(PUBLISHED_N_TEST, "real eGFP UTRs in the cross-validation", minimum=1)
    cv_folds: int = parameter(3, "folds of the cross-validation", minimum=2)
    cv_epochs: int = parameter(4, "maximum epochs per fold model", minimum=1)
    design_targets: tuple[float, ...] = parameter(
        (3.0, 5.0, 8.0),
        "mean ribosome loads the design aims at",
        item=Rule("a mean ribosome load", float, minimum=0),
    )
