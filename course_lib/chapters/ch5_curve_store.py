"""Chapter 5's sample-efficiency curve, saved by a distributed run and read by the notebook.

At ``full`` the curve (every arm, label count, fold and learning rate of
:func:`~course_lib.chapters.ch5_efficiency.efficiency_curve`) is the chapter's longest
training. ``torchrun --nproc_per_node N -m course_lib.launch finetune --chapter 5 --profile full``
runs it across the GPUs of a machine (:mod:`course_lib.chapters.ch5_launch`); rank 0 writes it
with :func:`save_curve` into ``checkpoints/ch5_curve/<recipe hash>/``, and the notebook's
:func:`saved_curve` finds it there by the same recipe: every setting of the chapter, the seed,
the provenance of the data and a digest of the code that fine-tunes (:func:`code_digest`), so a
curve built by other settings or older code is never read. Without such a folder the notebook
runs the curve itself, as before.

Files of a curve folder: ``recipe.json`` (:data:`course_lib.weights.RECIPE_FILE`) and
``curve.npz`` (written last, atomically: its presence marks the folder complete), which holds
the runs, the learning-rate grid and each fit's history as JSON text, and the predictions and
test truth as arrays (no pickled objects).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from course_lib.atomic import atomic_path, write_text_atomic
from course_lib.chapters.ch5_efficiency import Arm, EfficiencyCurve, efficiency_curve
from course_lib.training import FitResult

#: The recipe folders' family under the checkpoints folder.
CURVE_CACHE = "ch5_curve"
#: The modules whose source decides the curve (their digest is part of the recipe).
CURVE_CODE = (
    "course_lib.chapters.ch5_efficiency",
    "course_lib.chapters.ch5_mrl_finetuning",
    "course_lib.chapters.ch5_backbones",
    "course_lib.ridge",
    "course_lib.distributed",
    "course_lib.training",
    "course_lib.pretraining",
    "course_lib.utr_lm_backbone",
    "course_lib.utr_protocol",
    "course_lib.token_batches",
    "course_lib.models.utr_lm",
    "course_lib.models.utr_resnet",
)
CURVE_FILE = "curve.npz"


def code_digest(modules: tuple[str, ...] = CURVE_CODE) -> str:
    """sha256 (first 16 hex digits) of the source files of ``modules``, in order."""
    digest = hashlib.sha256()
    for name in modules:
        digest.update(Path(importlib.import_module(name).__file__).read_bytes())
    return digest.hexdigest()[:16]


def curve_recipe(settings: Any, seed: int, provenance: str) -> dict[str, Any]:
    """Everything that decides the curve: ``settings`` (a :class:`Ch5Config`, every field),
    ``seed``, the data ``provenance`` and :func:`code_digest`; JSON-ready."""
    fields = dataclasses.asdict(settings)
    return {
        "built_by": __name__,
        "settings": json.loads(json.dumps(fields, default=str)),
        "seed": int(seed),
        "data provenance": provenance,
        "code": code_digest(),
    }


def curve_folder(recipe: Mapping[str, Any]) -> Path:
    """``checkpoints/ch5_curve/<recipe hash>`` (:func:`course_lib.weights.recipe_folder`)."""
    from course_lib.weights import recipe_folder

    return recipe_folder(CURVE_CACHE, recipe)


def save_curve(curve: EfficiencyCurve, folder: str | Path, recipe: Mapping[str, Any]) -> Path:
    """Write ``curve`` and ``recipe`` into ``folder`` (``curve.npz`` last); return the file."""
    from course_lib.weights import RECIPE_FILE

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / RECIPE_FILE, json.dumps(recipe, indent=1, sort_keys=True))
    predictions = [list(key) for key in curve.predictions]
    truth = [list(key) for key in curve.truth]
    fits = {
        json.dumps(list(key)): {
            "history": fit_.history.to_dict(orient="list"),
            "best_epoch": int(fit_.best_epoch),
            "best_value": float(fit_.best_value),
            "monitor": fit_.monitor,
            "stopped_early": bool(fit_.stopped_early),
            "seconds": float(fit_.seconds),
        }
        for key, fit_ in curve.fits.items()
    }
    meta = {
        "runs": curve.runs.to_dict(orient="list"),
        "lr_grid": curve.lr_grid.to_dict(orient="list"),
        "predictions": predictions,
        "truth": truth,
        "fits": fits,
    }
    arrays = {f"p{i}": curve.predictions[tuple(k)] for i, k in enumerate(predictions)}
    for i, key in enumerate(truth):
        y, lengths, utrs = curve.truth[tuple(key)]
        arrays |= {f"y{i}": y, f"len{i}": lengths, f"utr{i}": np.asarray(utrs, dtype=str)}
    with atomic_path(folder / CURVE_FILE) as part, open(part, "wb") as handle:
        np.savez(handle, meta=np.asarray(json.dumps(meta, default=float)), **arrays)
    return folder / CURVE_FILE


def load_curve(folder: str | Path) -> EfficiencyCurve:
    """The curve :func:`save_curve` wrote into ``folder``.

    Raises
    ------
    FileNotFoundError
        ``folder`` holds no ``curve.npz`` (the run did not finish: run the launcher again).
    """
    path = Path(folder) / CURVE_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"no {CURVE_FILE} in {folder}: the run that builds it did not finish; run "
            "`python -m course_lib.launch finetune --chapter 5` again (or torchrun it)"
        )
    with np.load(path, allow_pickle=False) as saved:
        meta = json.loads(str(saved["meta"]))
        predictions = {
            _key(k): saved[f"p{i}"].astype(np.float64) for i, k in enumerate(meta["predictions"])
        }
        truth = {
            _key(k): (saved[f"y{i}"], saved[f"len{i}"], saved[f"utr{i}"].tolist())
            for i, k in enumerate(meta["truth"])
        }
    fits = {}
    for key, fit_ in meta["fits"].items():
        fit_ = dict(fit_)
        history = pd.DataFrame(fit_.pop("history"))
        fits[_key(json.loads(key))] = FitResult(history, **fit_)
    runs, grid = pd.DataFrame(meta["runs"]), pd.DataFrame(meta["lr_grid"])
    return EfficiencyCurve(runs, predictions, truth, grid, fits)


def _key(values: list) -> tuple:
    """A saved key (JSON list) back to the tuple the curve uses (label counts, folds: int)."""
    return tuple(
        int(v) if isinstance(v, int | float) and float(v).is_integer() else v for v in values
    )


def saved_curve(recipe: Mapping[str, Any]) -> tuple[EfficiencyCurve | None, Path]:
    """The curve saved for ``recipe`` (``None`` when there is none) and its folder.

    A folder whose ``recipe.json`` differs from ``recipe`` (a hash collision, a hand-edited
    folder) is not read.
    """
    from course_lib.weights import RECIPE_FILE

    folder = curve_folder(recipe)
    try:
        found = json.loads((folder / RECIPE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None, folder
    if found != json.loads(json.dumps(recipe, sort_keys=True)):
        return None, folder
    try:
        return load_curve(folder), folder
    except FileNotFoundError:
        return None, folder


def curve_for(
    arms: Sequence[Arm],
    protocol: Any,
    settings: Any,
    device: Any,
    seed: int,
    provenance: str,
) -> tuple[EfficiencyCurve, str]:
    """The curve a distributed run saved for this recipe (:func:`saved_curve`), else
    :func:`~course_lib.chapters.ch5_efficiency.efficiency_curve` run here; and a sentence that
    says which."""
    curve, folder = saved_curve(curve_recipe(settings, seed, provenance))
    if curve is not None:
        return curve, f"read from {folder}, where a launcher run of the same recipe saved it"
    curve = efficiency_curve(arms, protocol, settings, device, seed)
    return curve, "trained in this run (no launcher run of this recipe was found)"
