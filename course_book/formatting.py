"""How the site writes values: three significant digits, intervals, nested values as text.

The results files hold floats at full precision and nested mappings (fold sizes, per-model
values); the site's pages show neither as such. The chapters' notes are sentences already
(:func:`course_lib.report.chapter_report` refuses a Python dict in one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

INTERVAL_KEYS = {"low", "high", "method"}


def is_interval(value: Any) -> bool:
    """Whether ``value`` is an interval as the results files write it: low, high, method."""
    return isinstance(value, Mapping) and set(value) == INTERVAL_KEYS


#: Below this magnitude a value is float rounding (the spread of identical scores), shown as 0.
ROUNDING = 1e-12


def significant(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits, thousands separated (e-notation below 1e-4).

    A whole number is written as one (a count stored as a float: ``3.0`` is ``"3"``), and a
    magnitude below :data:`ROUNDING` as ``"0"``.

    >>> significant(0.80612), significant(-0.0483), significant(3420.0), significant(2e-5)
    ('0.806', '-0.0483', '3,420', '2e-05')
    >>> significant(3.0), significant(1.36e-16)
    ('3', '0')
    """
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if abs(value) >= 10 ** (digits - 1) or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) < ROUNDING:
        return "0"
    if abs(value) < 1e-4:
        return f"{value:.{digits - 1}g}"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    return f"{value:.{max(decimals, 0)}f}"


def format_value(value: Any) -> str:
    """A value of a results file as table text: numbers, intervals ``[low, high]``, literals."""
    if is_interval(value):
        return f"[{format_value(value['low'])}, {format_value(value['high'])}]"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return significant(value)
    if isinstance(value, int):
        return f"{value:,}"
    if value is None:
        return "n/a"
    if isinstance(value, Mapping | list | tuple):
        return literal_text(value).replace("|", "\\|")
    return str(value).replace("|", "\\|")


def literal_text(value: Any) -> str:
    """A Python value (dict, list, tuple, number) as text a reader sees: no braces or quotes.

    A dict whose values are all equal dicts is said once: ``"each of 0, 1: fit 3,420, val 380"``;
    a pair of numbers is a range ``"0-210,000"``.
    """
    if isinstance(value, Mapping):
        values = list(value.values())
        if (
            len(values) > 1
            and isinstance(values[0], Mapping)
            and values.count(values[0]) == len(values)
        ):
            keys = ", ".join(str(k) for k in value)
            return f"each of {keys}: {literal_text(values[0])}"
        nested = any(isinstance(v, Mapping) for v in values)
        parts = [
            f"{k} ({literal_text(v)})" if isinstance(v, Mapping) else f"{k} {literal_text(v)}"
            for k, v in value.items()
        ]
        return ("; " if nested else ", ").join(parts)
    if isinstance(value, list | tuple):
        if len(value) == 2 and all(isinstance(v, int | float) for v in value):
            return f"{format_value(value[0])}\u2013{format_value(value[1])}"
        return ", ".join(literal_text(v) for v in value)
    return format_value(value)
