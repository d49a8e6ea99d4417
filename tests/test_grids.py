"""Whether choices made on validation lie inside their grid (``course_lib.grids``)."""

from __future__ import annotations

import pytest

from course_lib.grids import edge_choices, edge_sentence

GRID = (1e-3, 3e-3, 1e-2)


def test_edge_choices_name_the_end_each_choice_sits_at():
    chosen = {"a": 3e-3, "b": 1e-2, "c": 1e-3}
    assert edge_choices(chosen, GRID) == {"b": "largest", "c": "smallest"}
    assert edge_choices(chosen, GRID[::-1]) == {"b": "largest", "c": "smallest"}  # any order
    assert edge_choices({"a": 0.1 * 3e-2}, GRID) == {}  # a product equal up to rounding


def test_a_single_value_grid_has_no_edge_to_report():
    assert edge_choices({"a": 2e-3}, (2e-3,)) == {}
    assert edge_sentence({"a": 2e-3}, (2e-3,)) == (
        "one value in the grid of learning rates (0.002): none was chosen on validation"
    )


def test_a_two_value_grid_puts_every_choice_at_an_edge():
    assert edge_sentence({"a": 1e-3, "b": 1e-3}, (1e-3, 3e-3), parameter="lr_grid") == (
        "two values in the grid of learning rates (0.001, 0.003): each of the 2 chosen on "
        "validation sits at an edge (widen lr_grid to bracket them)"
    )


def test_edge_sentence_counts_the_choices_inside_and_names_those_at_the_edge():
    sentence = edge_sentence({"a": 3e-3, "b": 1e-2, "c": 1e-3}, GRID, parameter="lr_grid")
    assert sentence == (
        "1 of 3 learning rates chosen on validation lie inside the grid (0.001 to 0.01); at its "
        "edge, where a value beyond it might do better (widen lr_grid): b (0.01, the largest); "
        "c (0.001, the smallest)"
    )
    assert edge_sentence({"a": 3e-3}, GRID).endswith(
        "(0.001 to 0.01): the grid brackets every choice"
    )
    assert edge_sentence({}, GRID) == "no learning rates were chosen on validation in this run"


def test_a_smallest_choice_kept_by_the_one_standard_error_rule_is_named_apart():
    chosen = {"a": 1e-3, "b": 1e-2, "c": 1e-3}
    best = {"a": 3e-3, "b": 1e-2, "c": 1e-3}  # a: the rule; b, c: the best at an edge
    sentence = edge_sentence(chosen, GRID, parameter="lr_grid", best=best)
    assert sentence == (
        "0 of 3 learning rates chosen on validation lie inside the grid (0.001 to 0.01); at its "
        "edge, where a value beyond it might do better (widen lr_grid): b (0.01, the largest); "
        "c (0.001, the smallest); at the smallest value by the one-standard-error rule, the best "
        "on validation (in brackets) being less than one error ahead, so the validation rows "
        "could not tell them apart: a (0.001; best 0.003)"
    )
    only_rule = edge_sentence({"a": 1e-3, "d": 3e-3}, GRID, best={"a": 1e-2, "d": 3e-3})
    assert "widen" not in only_rule
    assert only_rule.startswith("1 of 2 learning rates chosen on validation lie inside")
    assert only_rule.endswith("tell them apart: a (0.001; best 0.01)")
    unknown = edge_sentence({"c": 1e-3}, GRID, best={"c": None})  # an untuned arm's best
    assert unknown == edge_sentence({"c": 1e-3}, GRID)


@pytest.mark.parametrize(
    ("chosen", "grid", "message"),
    [({"a": 5e-3}, GRID, "not in the grid"), ({"a": 1e-3}, (), "the grid is empty")],
)
def test_a_choice_from_another_grid_is_refused(chosen, grid, message):
    with pytest.raises(ValueError, match=message):
        edge_choices(chosen, grid)
