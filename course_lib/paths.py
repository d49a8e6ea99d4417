"""Where the course keeps data, results and checkpoints."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "dl-rna-dna-course"


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding ``pyproject.toml``.

    Falls back to ``start`` itself when the course is used outside its repository.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").exists() and (folder / "course_lib").is_dir():
            return folder
    return here


def data_dir() -> Path:
    """``$COURSE_DATA_DIR`` if set, else a per-user cache folder (created if missing)."""
    folder = Path(os.environ.get("COURSE_DATA_DIR") or platformdirs.user_cache_dir(APP_NAME))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def results_dir() -> Path:
    """``$COURSE_RESULTS_DIR`` if set, else ``results/`` in the project root."""
    folder = Path(os.environ.get("COURSE_RESULTS_DIR") or project_root() / "results")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def checkpoints_dir() -> Path:
    """``$COURSE_CHECKPOINT_DIR`` if set, else ``checkpoints/`` in the data folder.

    Put real pretrained weights here (``RNA-FM_pretrained.pth``, ``deepsea.beluga.pth``,
    a ``DNA_bert_3/`` folder) or pass their paths as notebook parameters. The course's UTR-LM
    backbones are saved in ``utr_lm/<recipe hash>/`` here (:mod:`course_lib.utr_lm_backbone`).
    """
    folder = Path(os.environ.get("COURSE_CHECKPOINT_DIR") or data_dir() / "checkpoints")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
