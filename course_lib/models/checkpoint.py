"""One error for every checkpoint that is not what a loader expects, and a safe ``torch.load``.

Every loader in :mod:`course_lib.models` (RNA-FM, Beluga, DNABERT, UTR-LM, the Keras files of
Optimus and Framepool) raises :class:`CheckpointError` for a file or folder that exists but is
not a checkpoint of the expected architecture (garbage, truncated, another model); the message
names the file, what was expected and the fix. A missing file stays ``FileNotFoundError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


class CheckpointError(ValueError):
    """A file or folder is not a checkpoint of the expected architecture."""


def checkpoint_error(path: str | Path, expected: str, found: str, fix: str) -> CheckpointError:
    """The course's message: which file, what was expected, what was found, how to fix it."""
    return CheckpointError(f"{path} is not {expected}: {found}. {fix}")


def first_line(err: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def load_torch_file(
    path: str | Path, expected: str, fix: str, safe_globals: Iterable[type] = ()
) -> Any:
    """``torch.load(path, weights_only=True)``, with the course's error for a bad file.

    torch's own error for a file that is not a checkpoint advises loading it with
    ``weights_only=False``, which runs arbitrary code from an untrusted file; this never does.

    Parameters
    ----------
    path
        The file.
    expected
        What it should be, for the message ("an RNA-FM checkpoint (RNA-FM_pretrained.pth)").
    fix
        What to do, for the message.
    safe_globals
        Classes besides tensors that the checkpoint may hold (``argparse.Namespace``).

    Raises
    ------
    CheckpointError
        The file is not a PyTorch checkpoint, is truncated, or holds objects that a
        weights-only load refuses.
    """
    import torch  # here: the Keras readers share this module's error without importing torch

    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 -- the unpickler of an arbitrary file fails in any way
        first = first_line(err)
        if "weights_only" in first or "Weights only" in first:
            first = "it holds objects that a safe (weights-only) load refuses"
        raise checkpoint_error(
            path, expected, f"torch cannot read it as a checkpoint ({first})", fix
        ) from None
