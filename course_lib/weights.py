"""The registry of pretrained weights: where each set is found, where it comes from, its stand-in.

Published weights that are a few megabytes (Optimus, Framepool) are data sets of
:mod:`course_lib.registry` and are downloaded like them. The large ones a chapter can use when a
user supplies them (RNA-FM, DNABERT-3, Beluga) are registered here with their source, licence,
citation, how to place them by hand and the labelled stand-in a chapter uses without them. The
course never downloads these on its own.

**One way to pass a path.** :func:`locate_weights` takes the notebook's parameter for the
weights (``rnafm_checkpoint``, ``dnabert_path``, ``beluga_checkpoint``): a path wins; ``None``
looks for the registered name in :func:`course_lib.paths.checkpoints_dir`; what is found there
is ``real``, otherwise the chapter builds the ``stand-in``.

**The course's own pretrained backbones** (chapter 5's UTR-LM) are cached under a hash of the
recipe that built them (:func:`recipe_folder`), so a different recipe never reads another's
checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from course_lib.paths import checkpoints_dir

WeightsProvenance = Literal["real", "stand-in"]
#: The file a recipe folder keeps its recipe in.
RECIPE_FILE = "recipe.json"


@dataclass(frozen=True)
class WeightsEntry:
    """A registered set of pretrained weights.

    Attributes
    ----------
    name
        Registry key (``"rnafm"``).
    description
        What the weights are and which chapter uses them.
    location
        File or folder name inside :func:`~course_lib.paths.checkpoints_dir`.
    source
        Where to get them (an address, pinned where the source allows).
    size
        Approximate download size, for the message.
    licence, citation
        As for a data set.
    parameter
        The notebook parameter that passes a path to them.
    stand_in
        What a chapter uses without them (always labelled ``stand-in``).
    is_folder
        The weights are a folder (a Hugging Face model folder), not one file.
    required_files
        Files a folder must hold to count as found.
    redistributable
        Whether the licence lets the course hand the files on (an offline pack copies them).
    """

    name: str
    description: str
    location: str
    source: str
    size: str
    licence: str
    citation: str
    parameter: str
    stand_in: str
    is_folder: bool = False
    required_files: tuple[str, ...] = ()
    redistributable: bool = False

    def how_to_place(self) -> str:
        """The fix for absent weights: where to get them and where to put them."""
        kind = "folder" if self.is_folder else "file"
        return (
            f"get {self.location} ({self.size}) from {self.source} and put the {kind} at "
            f"{checkpoints_dir() / self.location}, or pass its path as {self.parameter}"
        )


WEIGHTS: dict[str, WeightsEntry] = {}


def register_weights(entry: WeightsEntry) -> WeightsEntry:
    """Add ``entry`` to :data:`WEIGHTS` (names are unique)."""
    if entry.name in WEIGHTS and WEIGHTS[entry.name] is not entry:
        raise ValueError(f"weights called {entry.name!r} are already registered")
    WEIGHTS[entry.name] = entry
    return entry


def get_weights(name: str) -> WeightsEntry:
    """The registered weights ``name``; the error lists the known ones.

    Import the catalog first (``import course_lib.datasets``): it registers every entry.
    """
    if name not in WEIGHTS:
        known = ", ".join(sorted(WEIGHTS)) or "none (import course_lib.datasets first)"
        raise KeyError(f"unknown weights {name!r}; known: {known}")
    return WEIGHTS[name]


def _complete(entry: WeightsEntry, path: Path) -> bool:
    if entry.is_folder:
        return path.is_dir() and all((path / f).exists() for f in entry.required_files)
    return path.is_file()


def locate_weights(
    name: str, path: str | Path | None = None
) -> tuple[Path | None, WeightsProvenance]:
    """Where the real weights ``name`` are, or ``(None, "stand-in")`` when they are absent.

    Parameters
    ----------
    name
        A registered weights entry.
    path
        The notebook parameter: a path (absolute, relative to the working folder, or a name
        inside :func:`~course_lib.paths.checkpoints_dir`) or ``None`` for the registered place.

    Raises
    ------
    FileNotFoundError
        ``path`` was given but holds no complete weights; the message says how to get them.
    """
    entry = get_weights(name)
    if path is None:
        default = checkpoints_dir() / entry.location
        return (default, "real") if _complete(entry, default) else (None, "stand-in")
    given = Path(path)
    if not given.is_absolute() and not given.exists():
        given = checkpoints_dir() / given
    if _complete(entry, given):
        return given, "real"
    missing = [f for f in entry.required_files if not (given / f).exists()]
    found = f"lacks {', '.join(missing)}" if given.is_dir() and missing else "does not exist"
    raise FileNotFoundError(
        f"{entry.parameter}={str(path)!r}: {given} {found}; {entry.how_to_place()}, or leave "
        f"{entry.parameter} None to use {entry.stand_in}"
    )


def recipe_hash(recipe: Mapping[str, Any]) -> str:
    """The first 12 hex digits of the sha256 of ``recipe`` as sorted JSON."""
    text = json.dumps(recipe, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def recipe_folder(name: str, recipe: Mapping[str, Any]) -> Path:
    """``checkpoints_dir()/<name>/<recipe hash>``: where the course caches what ``recipe`` built.

    Two recipes that differ in any value (a width, an epoch count, the corpus, the seed) get
    different folders, so a chapter never loads a backbone built by another recipe.
    """
    return checkpoints_dir() / name / recipe_hash(recipe)


def cached_recipes(name: str) -> list[tuple[Path, dict[str, Any]]]:
    """Every complete recipe folder of ``name`` with its recipe (for ``data_scripts list``)."""
    found = []
    for folder in sorted((checkpoints_dir() / name).glob("*/")):
        try:
            found.append((folder, json.loads((folder / RECIPE_FILE).read_text())))
        except (OSError, json.JSONDecodeError):
            continue
    return found
