"""Published 5' UTR models as predictors: the one home of Framepool and Optimus scoring.

The registry's ``framepool_models`` and ``optimus_models`` data sets return their model files
by role (:class:`~course_lib.datasets.published_models.ModelFiles`: ``"Framepool combined"``,
``"Framepool 50-nt"``, ``"Framepool 25-100-nt"``; ``"evolution"``, ``"retrained evolution"``);
this module turns a file into ``predict(utrs) -> [n]`` (a
:data:`~course_lib.training.Predictor`), so no chapter joins a file name to a data set's folder
or writes its own scoring loop. Chapters 1, 2 and 5 score the published models through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from course_lib.datasets.published_models import FRAMEPOOL_EGFP_LIBRARY, ModelFiles
from course_lib.models.framepool import SCORING_BATCH, Average, load_framepool
from course_lib.models.optimus import EVOLUTION_SUFFIX, load_optimus_keras
from course_lib.training import Predictor, make_predictor


def framepool_predictor(
    path: str | Path,
    library: int | None = None,
    average: Average = "sequence",
    batch: int = SCORING_BATCH,
) -> Predictor:
    """``predict(utrs) -> [n]`` MRL of a published Framepool file on UTRs of any length.

    Parameters
    ----------
    path
        A Framepool Keras file, e.g. ``framepool_files["Framepool combined"]``.
    library
        The combined model's library indicator (``None`` for the single-library models).
    average
        How Framepool pools its frames (see :func:`~course_lib.models.framepool.load_framepool`).
    batch
        UTRs per forward pass.

    Returns
    -------
    Predictor
        One-hot ``[batch, L, 4]`` padded on the 5' side (the 3' end touches the start codon,
        as Framepool was trained); returns float64 MRL ``[n]``.
    """
    model = load_framepool(path, average=average).eval()

    def forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net(x) if library is None else net(x, library=library)

    return make_predictor(model, forward, batch_size=batch, padding="left")


def optimus_evolution_predictor(path: str | Path) -> Predictor:
    """``predict(utrs) -> [n]`` of an Optimus evolution model (Sample et al. 2019).

    Each UTR gets ``ATGG`` appended (54 nt for a 50-nt UTR), as its authors trained it. The
    output is a *standardised* MRL (its authors unscaled it with a scaler fitted on 40,000
    rows of the GEO table), so only correlations are meaningful.
    """
    predict = make_predictor(load_optimus_keras(path))

    def with_suffix(utrs: Sequence[str]) -> np.ndarray:
        return predict([u + EVOLUTION_SUFFIX for u in utrs])

    return with_suffix


def published_predictors(framepool: ModelFiles, optimus: ModelFiles) -> dict[str, Predictor]:
    """``{name: predict(utrs) -> [n]}`` for the published models scored on 50-nt UTRs.

    Parameters
    ----------
    framepool, optimus
        The ``data`` of ``registry.load("framepool_models")`` and
        ``registry.load("optimus_models")``: model files by role.

    Returns
    -------
    dict
        ``"Framepool combined"`` (with the eGFP library indicator), ``"Framepool 50-nt"`` (MRL)
        and ``"Optimus evolution"`` (standardised MRL).
    """
    return {
        "Framepool combined": framepool_predictor(
            framepool["Framepool combined"], FRAMEPOOL_EGFP_LIBRARY
        ),
        "Framepool 50-nt": framepool_predictor(framepool["Framepool 50-nt"]),
        "Optimus evolution": optimus_evolution_predictor(optimus["evolution"]),
    }
