"""A catalog table's ``sources`` and ``quotes``, checked: every number has a known source, and
a number citing anything but clinic policy has a quote that states it (the rules are
:mod:`~ketaplan.clinical.catalog.citations`'). An error names the file that changed the number,
its source or its quote: a clinic's own file before the default files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ketaplan.clinical.catalog.citations import check_quotes
from ketaplan.clinical.catalog.layers import DEFAULT_FILES
from ketaplan.clinical.catalog.validation import Table, text
from ketaplan.errors import CatalogError


def flat_texts(t: Table, name: str) -> dict[str, str]:
    """A ``sources`` or ``quotes`` table with sub-tables flattened to dotted keys
    (``series = { sessions = ... }`` and ``"series.sessions" = ...`` are the same)."""
    if name not in t.data:
        return {}
    flat: dict[str, str] = {}
    for key, value in t.table(name).data.items():
        items = value.items() if isinstance(value, dict) else [("", value)]
        for sub, v in items:
            dotted = f"{key}.{sub}" if sub else key
            flat[dotted] = text(t.table(name), dotted, v)
    return flat


def cited_numbers(data: Mapping[str, Any], fields: Iterable[str]) -> dict[str, object]:
    """The numbers (and the monitoring level) a table gives, by dotted field."""
    found: dict[str, object] = {}
    for name in fields:
        value = data.get(name)
        if isinstance(value, dict):
            found.update({f"{name}.{k}": v for k, v in value.items()})
        elif value is not None:
            found[name] = value
    return found


def check_citations(
    t: Table, known: Mapping[str, str], numbers: Mapping[str, object]
) -> tuple[dict[str, str], dict[str, str]]:
    """A table's ``sources`` and ``quotes``, checked: every number has a known source, and a
    number citing anything but clinic policy has a quote that states it (see
    :mod:`~ketaplan.clinical.catalog.citations`)."""
    sources = flat_texts(t, "sources")
    quotes = flat_texts(t, "quotes")
    for key, value in sources.items():
        if value not in known:
            raise t.fail(f"sources.{key}", f"unknown source {value!r}; add it to [sources] first")
    for name in numbers:
        if name not in sources and name.split(".")[0] not in sources:
            raise t.fail(f"sources.{name}", "every number needs a source; this one has none")
    for key in quotes:
        if key not in sources and not any(k.startswith(f"{key}.") for k in sources):
            raise t.fail(f"quotes.{key}", "a quote needs the source it comes from in sources")
    for name, problem in check_quotes(numbers, sources, quotes):
        table = name.split(".")[0]
        raise citation_error(
            t,
            f"quotes.{name}",
            problem,
            (f"quotes.{table}", f"sources.{name}", f"sources.{table}", name),
        )
    return sources, quotes


def citation_error(t: Table, name: str, problem: str, also: Iterable[str]) -> CatalogError:
    """The error for a number its quote does not hold, at field ``name``, naming the file
    that changed the number, its source or its quote (``name`` or one of ``also``): a
    clinic's own file before the default files."""
    changed = [t.origin(p) for p in (name, *also)]
    file = next((f for f in changed if f not in DEFAULT_FILES), changed[0])
    dotted = ".".join((*t.path, name))
    return CatalogError(f"{file}: {dotted}: {problem}", fields={"file": file, "field": dotted})
