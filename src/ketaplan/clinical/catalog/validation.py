"""Reading validated values out of parsed TOML, with errors that say where and what is accepted.

Every data file ketaplan loads (the catalog, the monitoring rules and calendar, the PK models)
is a tree of TOML tables that a clinic may edit. Its loader walks that tree with a
:class:`Table` and reads each field with a *reader* (:func:`text`, :func:`number` and the
rest), so that a bad value is refused the same way in every file: a :class:`CatalogError`
naming the file that set the value, the field's dotted path, what was found and what is
accepted. The readers live here, public, so that each loader uses them instead of reaching
into another loader's private helpers.

Examples
--------
>>> t = Table({"rate": 0.5, "name": "Domino"}, ("models", "domino"), {})
>>> t.get("rate", number(positive=True))
0.5
>>> t.get("name", choice("Domino", "Clements"))
'Domino'
>>> t.get("rate", integer())
Traceback (most recent call last):
...
ketaplan.errors.CatalogError: catalog: models.domino.rate: expected a whole number, got 0.5
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from ketaplan.clinical.catalog.model import close_matches
from ketaplan.errors import CatalogError

T = TypeVar("T")
TablePath = tuple[str, ...]
"""Where a table sits in its file: the keys from the root, e.g. ``("protocols", "ptsd")``."""

Reader = Callable[["Table", str, Any], T]
"""Checks one field's raw value and returns it typed, or raises ``table.fail(name, ...)``."""


@dataclass(frozen=True, slots=True)
class Table:
    """A TOML table being validated, with where it came from for error messages.

    ``origins`` maps a path to the file that last set it (a clinic file may override one field
    of a default table), so an error names the file the clinic has to edit.
    """

    data: Mapping[str, Any]
    path: TablePath
    origins: Mapping[TablePath, str]

    def origin(self, name: str | None = None) -> str:
        """The file that set ``name`` (or this table), else ``"catalog"``."""
        path = (*self.path, *name.split(".")) if name else self.path
        while path:
            if path in self.origins:
                return self.origins[path]
            path = path[:-1]
        return "catalog"

    def fail(self, name: str, problem: str) -> CatalogError:
        """The error for field ``name``: ``"<file>: <dotted.path>: <problem>"``."""
        dotted = ".".join((*self.path, name))
        file = self.origin(name)
        return CatalogError(
            f"{file}: {dotted}: {problem}",
            fields={"file": file, "field": dotted},
        )

    def check_keys(self, allowed: Iterable[str]) -> None:
        """Refuse a field this table does not have (a typo would otherwise be ignored)."""
        allowed = list(allowed)
        for key in self.data:
            if key not in allowed:
                near = close_matches(key, allowed)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise self.fail(key, f"unknown field{hint} (accepted: {', '.join(allowed)})")

    def get(self, name: str, kind: Reader[T], default: Any = ...) -> T:
        """Field ``name`` read with ``kind``; missing is an error unless a default is given."""
        if name not in self.data:
            if default is ...:
                raise self.fail(name, "missing")
            return cast(T, default)
        return kind(self, name, self.data[name])

    def table(self, name: str) -> Table:
        """The sub-table ``name``, itself validated the same way."""
        value = self.data.get(name)
        if not isinstance(value, dict):
            raise self.fail(name, "expected a table")
        return Table(value, (*self.path, name), self.origins)


def number(
    lo: float | None = None, hi: float | None = None, positive: bool = False
) -> Reader[float]:
    """A reader of a finite number (an integer is taken as a float) within the bounds given."""

    def read(t: Table, name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise t.fail(name, f"expected a number, got {value!r}")
        found = float(value)
        if found != found:  # NaN
            raise t.fail(name, "expected a number, got NaN")
        if positive and found <= 0:
            raise t.fail(name, f"must be greater than 0, got {found:g}")
        if lo is not None and found < lo:
            raise t.fail(name, f"must be at least {lo:g}, got {found:g}")
        if hi is not None and found > hi:
            raise t.fail(name, f"must be at most {hi:g}, got {found:g}")
        return found

    return read


def integer(lo: int = 0) -> Reader[int]:
    """A reader of a whole number of at least ``lo`` (``true`` is not 1)."""

    def read(t: Table, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise t.fail(name, f"expected a whole number, got {value!r}")
        if value < lo:
            raise t.fail(name, f"must be at least {lo}, got {value}")
        return value

    return read


def text(t: Table, name: str, value: Any) -> str:
    """Read non-empty text (blank text is as good as missing)."""
    if not isinstance(value, str) or not value.strip():
        raise t.fail(name, f"expected non-empty text, got {value!r}")
    return value


def choice(*choices: str) -> Reader[str]:
    """A reader of one of ``choices``, exactly as written."""

    def read(t: Table, name: str, value: Any) -> str:
        if value not in choices:
            raise t.fail(name, f"expected one of {', '.join(choices)}, got {value!r}")
        return cast(str, value)

    return read


def texts(t: Table, name: str, value: Any) -> tuple[str, ...]:
    """Read a list of non-empty texts (possibly an empty list)."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise t.fail(name, f"expected a list of text, got {value!r}")
    return tuple(value)


def numbers(t: Table, name: str, value: Any) -> tuple[float, ...]:
    """Read a non-empty list of positive numbers; an error names the item (``name[2]``)."""
    if not isinstance(value, list) or not value:
        raise t.fail(name, f"expected a non-empty list of numbers, got {value!r}")
    return tuple(number(positive=True)(t, f"{name}[{i}]", v) for i, v in enumerate(value))


def pair(t: Table, name: str, value: Any) -> tuple[float, float]:
    """Read a range ``[low, high]`` of positive numbers with ``low <= high``."""
    found = numbers(t, name, value)
    if len(found) != 2 or found[0] > found[1]:
        raise t.fail(name, f"expected [low, high] with low <= high, got {value!r}")
    return found[0], found[1]
