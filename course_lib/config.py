"""Typed chapter configurations: one frozen dataclass per chapter, validated when built.

A chapter's parameters are the fields of a subclass of :class:`ChapterConfig`, each declared
with :func:`parameter`: its value in the base profile (``laptop``), what it means and its unit,
and what is allowed (a type, an inclusive range, a set of choices, ``None`` or not). The other
profiles are written as differences from that base, and ``tiny`` as sizes only::

    @dataclass(frozen=True)
    class Ch0Config(ChapterConfig):
        PROFILES: ClassVar[dict[str, dict[str, Any]]] = {"smoke": {"n_windows": 200}, ...}
        TINY: ClassVar[dict[str, Any]] = {"n_windows": 100}

        n_windows: int = parameter(2000, "random genome windows to draw", minimum=1)

    settings = Ch0Config.resolve(profile, tiny=tiny, n_windows=n_windows)

:meth:`ChapterConfig.resolve` lays the profile's differences over the base, then (with
``tiny=True``, for ``laptop`` and ``full`` only) the tiny sizes, then every override that is not
``None`` (the notebook's papermill parameters; ``None`` keeps the profile's value, an unknown
name raises). Building the object checks every value and raises a ``ValueError`` naming the
parameter, the value, what is allowed and the papermill flag that fixes it. The object reads as
a mapping too (``settings["epochs"]``, ``settings.get``, ``dict(settings)``), parameters first,
then ``profile`` and ``tiny``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from course_lib.profiles import PROFILE_NAMES, check_profile
from course_lib.text import as_text

#: The base profile: field defaults are its values; the other profiles are differences from it.
BASE_PROFILE = "laptop"

_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "True or False"}


@dataclass(frozen=True)
class Rule:
    """What a parameter may hold.

    Attributes
    ----------
    doc
        Meaning and unit, as a noun phrase ("random genome windows to draw").
    kind
        ``int``, ``float`` (ints accepted), ``str``, ``bool``, ``tuple`` (a sequence, stored as
        a tuple, each item checked by ``item``), ``dict`` (a mapping with exactly the keys of
        ``keys``, each value checked by ``item``) or ``os.PathLike`` (a path or a string).
    minimum, maximum
        Inclusive bounds of a number (of each item for ``tuple`` and ``dict``).
    choices
        The allowed values, when there is a fixed set.
    optional
        Whether ``None`` is allowed.
    item
        The rule of each item of a ``tuple`` or value of a ``dict``.
    keys
        The keys a ``dict`` must have.
    """

    doc: str
    kind: type
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    optional: bool = False
    item: Rule | None = None
    keys: tuple[str, ...] | None = None

    def allowed(self) -> str:
        """What is allowed, as the end of "must be ..."."""
        if self.choices is not None:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind is tuple:
            text = (
                f"a non-empty list, each item {self.item.allowed() if self.item else 'any value'}"
            )
        elif self.kind is dict:
            each = self.item.allowed() if self.item else "any value"
            text = f"a mapping of {', '.join(self.keys or ())}, each {each}"
        elif self.kind is os.PathLike:
            text = "a path"
        else:
            text = _KIND_NAMES[self.kind] + self._range()
        return text + (" or None" if self.optional else "")

    def _range(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f" between {self.minimum} and {self.maximum}"
        if self.minimum is not None:
            return f" >= {self.minimum}"
        if self.maximum is not None:
            return f" <= {self.maximum}"
        return ""

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is allowed."""
        if value is None:
            return self.optional
        if self.choices is not None:
            return any(value == c and type(value) is type(c) for c in self.choices)
        if self.kind is tuple:
            items = isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0
            return items and all(map(self._item_ok, value))
        if self.kind is dict:
            keys = isinstance(value, Mapping) and set(value) == set(self.keys or ())
            return keys and all(map(self._item_ok, value.values()))
        if self.kind is os.PathLike:
            return isinstance(value, str | os.PathLike) and str(value) != ""
        return self._type_ok(value) and self._in_range(value)

    def _item_ok(self, value: Any) -> bool:
        return self.item is None or self.item.accepts(value)

    def _type_ok(self, value: Any) -> bool:
        if isinstance(value, bool):
            return self.kind is bool
        if self.kind is float:
            return isinstance(value, int | float)
        return isinstance(value, self.kind)

    def _in_range(self, value: Any) -> bool:
        low_ok = self.minimum is None or value >= self.minimum
        return low_ok and (self.maximum is None or value <= self.maximum)


def parameter(
    base: Any,
    doc: str,
    kind: type | None = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[Any] | None = None,
    optional: bool = False,
    item: Rule | None = None,
    keys: Sequence[str] | None = None,
) -> Any:
    """A field of a :class:`ChapterConfig`: its base value, meaning and rule.

    Parameters
    ----------
    base
        The value in the base profile (:data:`BASE_PROFILE`).
    doc
        Meaning and unit, a noun phrase used in error messages.
    kind
        The type (see :class:`Rule`); default the type of ``base`` (give it when ``base`` is
        ``None`` or a float field's base is an int).
    minimum, maximum, choices, optional, item, keys
        As in :class:`Rule`.

    Returns
    -------
    dataclasses.Field
        The field, its rule in ``metadata["rule"]`` (a dict base gets a copy per object).
    """
    rule = Rule(
        doc,
        kind or type(base),
        minimum,
        maximum,
        tuple(choices) if choices is not None else None,
        optional,
        item,
        tuple(keys) if keys is not None else None,
    )
    if isinstance(base, dict):
        return field(default_factory=lambda: dict(base), metadata={"rule": rule})
    return field(default=base, metadata={"rule": rule})


@dataclass(frozen=True)
class ChapterConfig(Mapping):
    """Base of a chapter's configuration; subclasses declare fields with :func:`parameter`.

    Attributes
    ----------
    PROFILES
        ``{profile: {field: value}}``: each profile's differences from the base (``laptop``).
    TINY
        Sizes laid over ``laptop`` and ``full`` when ``tiny=True`` (never a model's kind or
        whether a step runs).
    profile
        The profile resolved (one of :data:`course_lib.profiles.PROFILE_NAMES`).
    tiny
        Whether the tiny sizes were applied.
    """

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {}
    TINY: ClassVar[dict[str, Any]] = {}

    profile: str = field(default=BASE_PROFILE, metadata={"rule": Rule("profile", str)})
    tiny: bool = field(
        default=False, metadata={"rule": Rule("laptop/full at tiny sizes (CI)", bool)}
    )

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """The chapter's parameters (every field but ``profile`` and ``tiny``), in order."""
        return tuple(f.name for f in fields(cls) if f.name not in ("profile", "tiny"))

    @classmethod
    def profile_values(cls, profile: str, tiny: bool = False) -> dict[str, Any]:
        """The parameters of ``profile`` (tiny sizes laid over ``laptop``/``full``)."""
        check_profile(profile)
        cls._check_tables()
        base = {f.name: _field_default(f) for f in fields(cls)}
        values = {name: base[name] for name in cls.parameter_names()}
        values.update(cls.PROFILES.get(profile, {}))
        if tiny and profile != "smoke":
            values.update(cls.TINY)
        return values

    @classmethod
    def _check_tables(cls) -> None:
        """Raise if ``PROFILES`` names an unknown profile or a table an unknown parameter."""
        extra = sorted(set(cls.PROFILES) - set(PROFILE_NAMES))
        if extra:
            raise ValueError(f"{cls.__name__}.PROFILES has unknown profile(s) {extra}")
        for label, table in [*cls.PROFILES.items(), ("TINY", cls.TINY)]:
            unknown = sorted(set(table) - set(cls.parameter_names()))
            if unknown:
                raise ValueError(f"{cls.__name__}: {label} sets unknown parameter(s) {unknown}")

    def by_profile(self) -> dict[str, dict[str, Any]]:
        """Every parameter's meaning, its value in each profile and in this run.

        Returns
        -------
        dict
            ``{parameter: {"meaning": doc, "smoke": v, "laptop": v, "full": v, "this run": v}}``
            (``pd.DataFrame(settings.by_profile()).T`` shows it as a table), so that prose
            never retypes a profile's sizes. A mapping value reads as text
            (:func:`course_lib.text.as_text`), not as a Python dict.
        """
        columns = {p: self.profile_values(p) for p in PROFILE_NAMES}
        rules = {f.name: f.metadata["rule"] for f in fields(self)}

        def shown(value: Any) -> Any:
            return as_text(value) if isinstance(value, Mapping) else value

        return {
            name: {"meaning": rules[name].doc}
            | {p: shown(columns[p][name]) for p in PROFILE_NAMES}
            | {"this run": shown(getattr(self, name))}
            for name in self.parameter_names()
        }

    @classmethod
    def resolve(cls, profile: str, tiny: bool = False, **overrides: Any) -> ChapterConfig:
        """The configuration of ``profile``, with the notebook's parameters laid over it.

        Parameters
        ----------
        profile
            One of :data:`course_lib.profiles.PROFILE_NAMES`.
        tiny
            Lay the chapter's tiny sizes over ``laptop`` or ``full`` (``smoke`` is unchanged).
        overrides
            Values from the notebook's parameters cell; ``None`` keeps the profile's value.

        Raises
        ------
        ValueError
            An unknown profile, an unknown parameter name or a value that is not allowed.
        """
        check_profile(profile)
        if not isinstance(tiny, bool):
            raise ValueError(f"tiny={tiny!r} is not allowed: use True or False (-p tiny True)")
        unknown = sorted(set(overrides) - set(cls.parameter_names()))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown}; {cls.__name__} knows "
                f"{', '.join(cls.parameter_names())}"
            )
        values = cls.profile_values(profile, tiny)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(profile=profile, tiny=tiny and profile != "smoke", **values)

    def __post_init__(self) -> None:
        check_profile(self.profile)
        for f in fields(self):
            rule: Rule = f.metadata["rule"]
            value = getattr(self, f.name)
            if not rule.accepts(value):
                raise ValueError(self._refusal(f.name, value, rule))
            if value is not None and rule.kind in (tuple, dict):  # lists from -y; own copies
                object.__setattr__(self, f.name, rule.kind(value))
        for names, problem in self.conflicts():
            flags = " and ".join(f"{self._flag(name)} {name}" for name in names)
            shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
            raise ValueError(f"{shown} do not go together: {problem}; change {flags}")

    @classmethod
    def _flag(cls, name: str) -> str:
        """Papermill's flag for ``name``: ``-y`` (YAML) for lists and mappings, else ``-p``."""
        rule = {f.name: f.metadata["rule"] for f in fields(cls)}[name]
        return "-y" if rule.kind in (tuple, dict) else "-p"

    def conflicts(self) -> list[tuple[tuple[str, ...], str]]:
        """Parameters whose values are allowed alone but not together (none by default).

        A configuration overrides it to return ``[(names, problem), ...]``, e.g.
        ``[(("hidden_size", "num_heads"), "num_heads must divide hidden_size")]`` when that
        happens; building the object then raises a ``ValueError`` naming them and the flags.
        """
        return []

    def _refusal(self, name: str, value: Any, rule: Rule) -> str:
        """The error message for ``name=value``: what is allowed and the flag that fixes it."""
        text = f"{name}={value!r} is not allowed: {rule.doc} must be {rule.allowed()}; "
        own = None
        if name not in ("profile", "tiny"):
            own = self.profile_values(self.profile, self.tiny).get(name)
        if own is None or not rule.accepts(own):
            return text + f"fix it by dropping -p {name} to use the profile's value"
        if isinstance(own, tuple | dict):
            flag, fix = "-y", f"-y '{name}: {json.dumps(own)}'"
        else:
            flag, fix = "-p", f"-p {name} {own}"
        return text + (
            f"fix it with `papermill ... {fix}` (or drop {flag} {name} to use the profile's value)"
        )

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return (*cls.parameter_names(), "profile", "tiny")


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default
