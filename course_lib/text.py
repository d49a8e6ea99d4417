"""Values as a reader reads them: a mapping printed in a chapter becomes a sentence, not a dict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, Mapping):
        return f"({as_text(value)})"
    return str(value)


def as_text(mapping: Mapping[Any, Any], unit: str = "") -> str:
    """``{"train": 3000, "val": 500}`` -> ``"train 3,000, val 500"`` (``unit`` after each value).

    Integers get thousands separators, floats three significant digits, booleans yes/no and
    nested mappings parentheses; an empty mapping reads ``"none"``.
    """
    suffix = f" {unit}" if unit else ""
    return ", ".join(f"{key} {_value(value)}{suffix}" for key, value in mapping.items()) or "none"
