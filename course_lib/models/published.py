"""Published 5' UTR models as predictors: the one home of Framepool and Optimus scoring.

The registry's ``framepool_models`` and ``optimus_models`` data sets return their model files
by role (:class:`~course_lib.datasets.published_models.ModelFiles`: ``"Framepool combined"``,
``"Framepool 50-nt"``, ``"Framepool 25-100-nt"``; ``"evolution"``, ``"retrained evolution"``);
this module turns a file into ``predict(utrs) -> [n]`` (a
:data:`~course_lib.training.Predictor`), so no chapter joins a file name to a data set's folder
or writes its own scoring loop. Chapters 1, 2 and 5 score the published models through it.

**The published MRL models** are named once, in :data:`PUBLISHED_MRL`: each role a chapter
asks for (``"varying-length"``, ``"egfp"``, and their single-library versions) maps to a
:class:`PublishedModel`: its name in tables and results, the registry data set and file role
holding its weights, the library indicator it is scored with, how its predictor is built and
the rows it trained on. A chapter asks ``published_mrl("egfp")`` and gets all of these, so
swapping Framepool for another published model edits its weights entry
(:mod:`course_lib.datasets.published_models`) and this mapping, no chapter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from course_lib.datasets.published_models import FRAMEPOOL_EGFP_LIBRARY, ModelFiles
from course_lib.models.framepool import SCORING_BATCH, Average, load_framepool
from course_lib.models.optimus import EVOLUTION_SUFFIX, load_optimus_keras
from course_lib.registry import Provenance
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


#: Library indicator of the varying-length (random 25-100 nt) library in Framepool's combined
#: model (index 0 is the eGFP library, ``FRAMEPOOL_EGFP_LIBRARY``).
FRAMEPOOL_VARYING_LIBRARY = 1
_FRAMEPOOL_EGFP_ROWS = (
    "eGFP: rows 40,000+ by reads (test = top 20,000, val = next 20,000); "
    "Human 25k was its validation set (model selection), not training"
)
_FRAMEPOOL_VARYING_ROWS = (
    "varying-length library: trained with the Random7600 and Human7600 test rows held out "
    "(Karollus et al. 2021, Data_Prep/PrepareData.ipynb)"
)


@dataclass(frozen=True)
class PublishedModel:
    """One published MRL model as the chapters score it.

    Attributes
    ----------
    name
        Its name in tables and results, e.g. ``"Framepool combined"``.
    dataset, role
        The registry data set holding its weights and the file's role in that data set's
        :class:`~course_lib.datasets.published_models.ModelFiles`.
    trained_on
        Which rows it was trained on, so a chapter scores it only on held-out rows.
    library
        The library indicator it is scored with (``None``: a single-library model).
    build
        ``build(path, library, average) -> predict(utrs) -> [n]`` (default
        :func:`framepool_predictor`).
    """

    name: str
    dataset: str
    role: str
    trained_on: str
    library: int | None = None
    build: Callable[..., Predictor] = field(default=None, repr=False)  # type: ignore[assignment]

    def predictor(self, files: ModelFiles, average: Average = "sequence") -> Predictor:
        """``predict(utrs) -> [n]`` MRL from ``files``, the ``data`` of its data set."""
        build = self.build or framepool_predictor
        return build(files[self.role], self.library, average)

    def load(self, average: Average = "sequence") -> tuple[Predictor, Provenance]:
        """Its predictor from the registry (real files, else the labelled stand-in) and the
        provenance of its weights."""
        from course_lib import registry

        loaded = registry.load(self.dataset)
        return self.predictor(loaded.data, average), loaded.provenance


#: The published MRL models the chapters score, by role: the combined model and the
#: single-library model of each library (chapter 1 and 5: varying-length; chapter 2: eGFP).
PUBLISHED_MRL = {
    "varying-length": PublishedModel(
        "Framepool combined",
        "framepool_models",
        "Framepool combined",
        _FRAMEPOOL_VARYING_ROWS,
        FRAMEPOOL_VARYING_LIBRARY,
    ),
    "varying-length, one library": PublishedModel(
        "Framepool 25-100-nt", "framepool_models", "Framepool 25-100-nt", _FRAMEPOOL_VARYING_ROWS
    ),
    "egfp": PublishedModel(
        "Framepool combined",
        "framepool_models",
        "Framepool combined",
        _FRAMEPOOL_EGFP_ROWS,
        FRAMEPOOL_EGFP_LIBRARY,
    ),
    "egfp, one library": PublishedModel(
        "Framepool 50-nt",
        "framepool_models",
        "Framepool 50-nt",
        "as Framepool combined (Karollus Data_Prep/PrepareData.ipynb)",
    ),
}


def published_mrl(role: str) -> PublishedModel:
    """The published MRL model of ``role``, one of :data:`PUBLISHED_MRL`'s keys."""
    if role not in PUBLISHED_MRL:
        raise KeyError(f"no published MRL model for {role!r}; choose from {list(PUBLISHED_MRL)}")
    return PUBLISHED_MRL[role]


def published_predictors(framepool: ModelFiles, optimus: ModelFiles) -> dict[str, Predictor]:
    """``{name: predict(utrs) -> [n]}`` for the published models scored on 50-nt UTRs.

    Parameters
    ----------
    framepool, optimus
        The ``data`` of the eGFP models' data set (``registry.load("framepool_models")``)
        and of ``registry.load("optimus_models")``: model files by role.

    Returns
    -------
    dict
        The ``"egfp"`` and ``"egfp, one library"`` models of :data:`PUBLISHED_MRL` (MRL;
        ``"Framepool combined"`` and ``"Framepool 50-nt"``) and ``"Optimus evolution"``
        (standardised MRL).
    """
    egfp = [published_mrl(role) for role in ("egfp", "egfp, one library")]
    return {
        **{model.name: model.predictor(framepool) for model in egfp},
        "Optimus evolution": optimus_evolution_predictor(optimus["evolution"]),
    }
