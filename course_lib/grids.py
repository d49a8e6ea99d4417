"""Hyperparameter grids: whether each value chosen on validation lies inside its grid.

A value chosen at a grid's smallest or largest point may be beaten by one beyond it, so the
model it belongs to may be tuned less carefully than its rivals. Chapters 3 and 5 choose their
learning rates on validation and say, with :func:`edge_sentence`, whether the grid brackets
every choice.
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


def edge_sentence(
    chosen: Mapping[str, float],
    grid: Sequence[float],
    what: str = "learning rates",
    parameter: str = "the grid",
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
    inside = (
        f"{len(chosen) - len(ends)} of {len(chosen)} {what} chosen on validation lie inside the "
        f"grid ({values[0]:g} to {values[-1]:g})"
    )
    if not ends:
        return f"{inside}: the grid brackets every choice"
    named = "; ".join(f"{name} ({chosen[name]:g}, the {end})" for name, end in ends.items())
    beyond = f"where a value beyond it might do better (widen {parameter})"
    return f"{inside}; at its edge, {beyond}: {named}"
