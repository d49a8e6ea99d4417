"""Hyperparameter grids: whether each value chosen on validation lies inside its grid.

A value chosen at a grid's smallest or largest point may be beaten by one beyond it, so the
model it belongs to may be tuned less carefully than its rivals; unless the choice was made by
the one-standard-error rule, which keeps the smallest value the validation rows cannot tell
from the best. Chapters 3 and 5 choose their learning rates on validation and say, with
:func:`edge_sentence`, whether the grid brackets every choice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def edge_choices(chosen: Mapping[str, float], grid: Sequence[float]) -> dict[str, str]:
    """``{name: "smallest" | "largest"}`` for each choice at an end of ``grid``.

    Parameters
    ----------
    chosen
        ``{what was tuned: the value chosen on validation}``; each a value of ``grid``.
    grid
        The values tried (at least one; any order).

    Raises
    ------
    ValueError
        ``grid`` is empty, or a chosen value is not in it (it was not chosen from this grid).
    """
    return _ends(chosen, _sorted_grid(grid))


def _sorted_grid(grid: Sequence[float]) -> np.ndarray:
    """``grid`` as sorted floats ``[g]``; ``ValueError`` when it is empty."""
    values = np.sort(np.asarray(grid, dtype=float))
    if values.size == 0:
        raise ValueError("the grid is empty: pass the values that were tried")
    return values


def _ends(chosen: Mapping[str, float], values: np.ndarray) -> dict[str, str]:
    """:func:`edge_choices` on the sorted grid ``values`` ``[g]``."""
    outside = {name: v for name, v in chosen.items() if not np.isclose(values, v).any()}
    if outside:
        raise ValueError(
            f"chosen values {outside} are not in the grid {values.tolist()}: pass the grid "
            "they were chosen from"
        )
    ends = {}
    for name, value in chosen.items():
        if values.size > 1 and np.isclose(value, values[0]):
            ends[name] = "smallest"
        elif values.size > 1 and np.isclose(value, values[-1]):
            ends[name] = "largest"
    return ends


def _kept_by_rule(
    chosen: Mapping[str, float], ends: Mapping[str, str], best: Mapping[str, float | None]
) -> dict[str, float]:
    """``{name: best value}`` for each choice at the smallest end that is not the best value:
    kept there by the one-standard-error rule (:func:`edge_sentence`)."""
    return {
        name: best[name]
        for name, end in ends.items()
        if end == "smallest"
        and best.get(name) is not None
        and not np.isclose(best[name], chosen[name])
    }


def edge_sentence(
    chosen: Mapping[str, float],
    grid: Sequence[float],
    what: str = "learning rates",
    parameter: str = "the grid",
    best: Mapping[str, float | None] | None = None,
) -> str:
    """Whether the grid brackets every choice, in one sentence that names each at its edge.

    Parameters
    ----------
    chosen, grid
        As :func:`edge_choices`.
    what
        What the values are, plural (``"learning rates"``).
    parameter
        The setting that widens the grid, named in the sentence (e.g. ``"lr_grid"``).
    best
        For choices made by the one-standard-error rule (the smallest value whose validation
        score lies within one standard error of the best one's): ``{name: the value with the
        best validation score}``. A choice at the grid's smallest value that is not the best
        one was kept by the rule: the validation rows could not tell it from the best, so it is
        named apart, without the advice to widen the grid. ``None``: every choice is the best.
    """
    if not chosen:
        return f"no {what} were chosen on validation in this run"
    values = _sorted_grid(grid)
    ends = _ends(chosen, values)
    if values.size == 1:
        return f"one value in the grid of {what} ({values[0]:g}): none was chosen on validation"
    if values.size == 2:
        return (
            f"two values in the grid of {what} ({values[0]:g}, {values[1]:g}): each of the "
            f"{len(chosen)} chosen on validation sits at an edge (widen {parameter} to bracket "
            "them)"
        )
    ruled = _kept_by_rule(chosen, ends, best or {})
    parts = [
        f"{len(chosen) - len(ends)} of {len(chosen)} {what} chosen on validation lie inside the "
        f"grid ({values[0]:g} to {values[-1]:g})"
    ]
    limited = [
        f"{name} ({chosen[name]:g}, the {end})" for name, end in ends.items() if name not in ruled
    ]
    if limited:
        parts.append(
            f"at its edge, where a value beyond it might do better (widen {parameter}): "
            + "; ".join(limited)
        )
    if ruled:
        parts.append(
            "at the smallest value by the one-standard-error rule, the best on validation "
            "(in brackets) being less than one error ahead, so the validation rows could not "
            "tell them apart: "
            + "; ".join(f"{name} ({chosen[name]:g}; best {b:g})" for name, b in ruled.items())
        )
    if not ends:
        return f"{parts[0]}: the grid brackets every choice"
    return "; ".join(parts)
