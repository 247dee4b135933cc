"""Per-number citations: a number that cites a seed or a paper carries the words that hold it.

A catalog number names its source by a key of ``sources.toml``. ``clinic_policy`` means no
source gives the number (the clinic chose it). Any other source must be backed by a *quote*:
the exact words of the source that state the number, in the number's unit. The loader refuses a
number whose quote is missing or does not state it (:func:`quote_problem`), so a citation can
never point at a page that says something else.

Whether a quote really occurs in its source is a second check. For the clinic pages cited as
``seed_000``..``seed_004`` it is mechanical (:func:`seed_quote_problems`), but the pages are not
shipped with the package: the loader cannot read them, so the check runs in the test suite
(which reads ``../shared/seeds``) and on demand with ``ketaplan protocols --check-seeds DIR``.
Quotes from papers are checked by a person against the paper; the source's entry says which
text (abstract, guideline) the quote was taken from.

Units come from the field's name (``start_mg_per_kg``, ``infusion_min``, ``interval_weeks``):
a quote states ``0.35 mg/kg/h`` for a ``_mg_per_kg_per_h`` field, never a bare ``0.35``, so a
rate is not mistaken for a dose. Time may be stated in a larger unit (240 min as "4 h", 14
days as "2 weeks"); counts (sessions) may be spelled out ("six infusions").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ketaplan.clinical.catalog.model import Catalog

POLICY = "clinic_policy"
"""The source key of a number no source gives: the clinic's choice, to be reviewed."""


def cited(catalog: Catalog, source_key: str, quote: str | None = None) -> str:
    """A source as a plan shows it: the citation, and the source's words when quoted (a
    clinic-policy number has none: no source states it)."""
    citation = catalog.cite(source_key)
    return f'{citation}: "{quote}"' if quote and source_key != POLICY else citation


_WORDS = {
    "once": 1.0,
    "one": 1.0,
    "twice": 2.0,
    "two": 2.0,
    "three": 3.0,
    "four": 4.0,
    "five": 5.0,
    "six": 6.0,
    "seven": 7.0,
    "eight": 8.0,
    "nine": 9.0,
    "ten": 10.0,
    "twelve": 12.0,
}
_UNITS = {
    "mg/kg/h": "mg/kg/h",
    "mg/kg/hr": "mg/kg/h",
    "mg/kg per hour": "mg/kg/h",
    "mg/kg": "mg/kg",
    "mg/h": "mg/h",
    "mg/hr": "mg/h",
    "mg": "mg",
    "ml": "ml",
    "minutes": "min",
    "minute": "min",
    "min": "min",
    "hours": "h",
    "hour": "h",
    "hr": "h",
    "h": "h",
    "days": "day",
    "day": "day",
    "weeks": "week",
    "week": "week",
}
_NUMBER = r"(\d+(?:\.\d+)?|(?:" + "|".join(_WORDS) + r")\b)"
_UNIT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_STATED = re.compile(
    rf"\b{_NUMBER}(?:\s*(?:-|–|to|or)\s*{_NUMBER})?(?:\s*-?\s*({_UNIT})(?![a-z/]))?",
    re.IGNORECASE,
)

_FIELD_UNITS: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = (
    ("_mg_per_kg_per_h", (("mg/kg/h", 1.0),)),
    ("_mg_per_kg", (("mg/kg", 1.0),)),
    ("_mg_per_h", (("mg/h", 1.0),)),
    ("_mg", (("mg", 1.0),)),
    ("_ml", (("ml", 1.0),)),
    ("_min", (("min", 1.0), ("h", 60.0))),
    ("_days", (("day", 1.0), ("week", 7.0))),
    ("_weeks", (("week", 1.0),)),
)
"""A field's name ending, and the units a quote may state it in, with minutes/days per unit."""

_LEVEL_WORDS = {"anaesthesia_provider": ("anesthesi", "anaesthesi"), "nurse": ("nurse",)}
"""A monitoring level is 'stated' by a quote that names who gives the infusion."""


def _value(token: str) -> float:
    return _WORDS.get(token.lower()) or float(token)


def stated_numbers(quote: str) -> list[tuple[float, str | None]]:
    """Each number a quote states with its unit, if one follows (a range shares its unit).

    >>> stated_numbers("0.1–0.5 mg/kg infused over several hours")
    [(0.1, 'mg/kg'), (0.5, 'mg/kg')]
    >>> stated_numbers("six infusions over the course of two to three weeks")
    [(6.0, None), (2.0, 'week'), (3.0, 'week')]
    """
    found: list[tuple[float, str | None]] = []
    for match in _STATED.finditer(quote):
        unit = _UNITS[match[3].lower()] if match[3] else None
        found.extend((_value(n), unit) for n in (match[1], match[2]) if n)
    return found


def _units_of(field: str) -> tuple[tuple[str | None, float], ...]:
    for ending, units in _FIELD_UNITS:
        if field.endswith(ending):
            return units
    return ((None, 1.0),)


def quote_problem(field: str, value: object, quote: str | None) -> str | None:
    """Why ``quote`` does not hold ``value`` for ``field`` (None when it does).

    ``value`` is a number, a list of numbers (each must be stated) or a monitoring level.
    """
    if quote is None:
        return (
            "cites a source but has no quote: give the source's words that state it, "
            "or cite clinic_policy"
        )
    if isinstance(value, str):
        words = _LEVEL_WORDS.get(value, (value,))
        if any(w in quote.lower() for w in words):
            return None
        return f"the quote does not name {value!r}"
    values = value if isinstance(value, list | tuple) else [value]
    stated = stated_numbers(quote)
    units = _units_of(field)
    for v in values:
        if not isinstance(v, int | float):
            continue
        held = any(
            abs(n * per - float(v)) < 1e-9 and (unit is None or u == unit)
            for n, u in stated
            for unit, per in units
        )
        if not held:
            wanted = " or ".join(f"{float(v) / per:g} {u}" if u else f"{v:g}" for u, per in units)
            return f"the quote does not state {wanted}: {quote!r}"
    return None


def check_quotes(
    numbers: Mapping[str, object],
    sources: Mapping[str, str],
    quotes: Mapping[str, str],
) -> Iterable[tuple[str, str]]:
    """``(field, problem)`` for each number whose cited source is not shown to hold it.

    ``numbers`` maps a dotted field (``series.sessions``) to its value; its source is
    ``sources[field]`` or, failing that, its table's (``sources["series"]``), and likewise its
    quote. A number citing :data:`POLICY` needs no quote.
    """
    for field, value in numbers.items():
        table = field.split(".")[0]
        source = sources.get(field, sources.get(table))
        if source is None or source == POLICY:
            continue
        problem = quote_problem(field, value, quotes.get(field, quotes.get(table)))
        if problem:
            yield field, f"{source}: {problem}"


SEED_PREFIX = "seed_"


def seed_file(citation: str) -> str | None:
    """The file a seed's citation names (``"seeds/000_x.txt: ..."`` gives ``000_x.txt``)."""
    match = re.match(r"seeds/([\w.-]+\.txt)", citation)
    return match[1] if match else None


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def seed_quote_problems(
    cited: Iterable[tuple[str, str, str]], citations: Mapping[str, str], seeds_dir: Path
) -> list[str]:
    """Quotes that do not occur word for word in the seed they cite.

    ``cited`` is ``(where, source_key, quote)``; quotes of other sources are skipped.
    Whitespace runs compare equal (the pages' line breaks are not part of the words).
    """
    texts: dict[str, str] = {}
    problems = []
    for where, key, quote in cited:
        if not key.startswith(SEED_PREFIX):
            continue
        name = seed_file(citations.get(key, ""))
        if name is None:
            problems.append(f"{where}: source {key} names no seed file")
            continue
        if name not in texts:
            path = seeds_dir / name
            if not path.is_file():
                problems.append(f"{where}: seed file {path} not found")
                continue
            texts[name] = _squeeze(path.read_text(encoding="utf-8"))
        if _squeeze(quote) not in texts[name]:
            problems.append(f"{where}: quote not found in {name}: {quote!r}")
    return problems


def catalog_quotes(catalog: Catalog) -> list[tuple[str, str, str]]:
    """Every quote the catalog holds, as ``(where, source_key, quote)`` for
    :func:`seed_quote_problems`: protocol numbers (every option of every choice included),
    limits, protocol cautions and the words that name each dose modifier."""
    cited: list[tuple[str, str, str]] = []

    def add(where: str, sources: Mapping[str, str], quotes: Mapping[str, str]) -> None:
        for field, quote in quotes.items():
            key = sources.get(field) or next(
                (v for k, v in sources.items() if k.startswith(f"{field}.") and v != POLICY), POLICY
            )
            cited.append((f"{where}.quotes.{field}", key, quote))

    for protocol in catalog.protocols.values():
        where = f"protocols.{protocol.key}"
        add(where, protocol.sources, protocol.quotes)
        add(f"limit_sets.{protocol.limits.name}", protocol.limits.sources, protocol.limits.quotes)
        for choice in protocol.choices:
            for option in choice.options:
                add(f"{where}.choices.{choice.aspect}.{option.key}", option.sources, option.quotes)
        for caution in protocol.cautions:
            if caution.quote:
                cited.append((f"{where}.cautions.{caution.code}", caution.source, caution.quote))
    for key, modifier in catalog.modifiers.items():
        if modifier.quote:
            cited.append((f"modifiers.{key}.quote", modifier.source, modifier.quote))
    return list(dict.fromkeys(cited))
