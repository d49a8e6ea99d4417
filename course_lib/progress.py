"""Progress bars that suit both a live notebook and a papermill run.

In Jupyter, :func:`progress` is ``tqdm.auto`` (a widget). The runner behind ``make book`` sets
``COURSE_PROGRESS=text`` so executed notebooks hold a few plain-text lines instead of widget
state; ``COURSE_PROGRESS=off`` silences the bars.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any


def progress(iterable: Iterable | None = None, **kwargs: Any):
    """A tqdm progress bar honouring ``$COURSE_PROGRESS`` (``auto``, ``text`` or ``off``)."""
    mode = os.environ.get("COURSE_PROGRESS", "auto")
    if mode == "off":
        kwargs["disable"] = True
    if mode == "text":
        from tqdm.std import tqdm

        kwargs.setdefault("file", sys.stdout)
        kwargs.setdefault("mininterval", 10.0)
        kwargs.setdefault("ascii", True)
        kwargs.setdefault("ncols", 100)
        return tqdm(iterable, **kwargs)
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)
