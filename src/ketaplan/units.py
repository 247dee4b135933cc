"""Quantities typed by people, turned into canonical units at the boundary.

Inside ketaplan every number is a float in a canonical unit named by its variable
(``weight_kg``, ``height_cm``, ``concentration_mg_per_ml``, ``duration_min``). Text such as
``"176 lb"``, ``"5 ft 9 in"`` or ``"50 mg/mL"`` is parsed here, once. A number without a unit is
refused: in a clinic, ``"80"`` may be kilograms or pounds, and guessing is how overdoses happen.

The conversion factors are exact by definition (1 lb = 0.45359237 kg, 1 in = 2.54 cm); the test
suite checks every one of them against pint's registry. pint itself is not imported here because
loading its registry costs about half a second, which the command line cannot afford.

Examples
--------
>>> round(parse_mass_kg("176 lb"), 6)
79.832257
>>> round(parse_length_cm("5 ft 9 in"), 6)
175.26
>>> parse_concentration_mg_per_ml("50 mg/mL")
50.0
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping

from ketaplan.errors import InputError

KG_PER_LB = 0.45359237
CM_PER_IN = 2.54

MASS_UNITS_TO_KG: Mapping[str, float] = {
    "kg": 1.0,
    "kgs": 1.0,
    "kilo": 1.0,
    "kilos": 1.0,
    "kilogram": 1.0,
    "kilograms": 1.0,
    "g": 0.001,
    "gram": 0.001,
    "grams": 0.001,
    "lb": KG_PER_LB,
    "lbs": KG_PER_LB,
    "pound": KG_PER_LB,
    "pounds": KG_PER_LB,
    "st": 14 * KG_PER_LB,
    "stone": 14 * KG_PER_LB,
}

LENGTH_UNITS_TO_CM: Mapping[str, float] = {
    "cm": 1.0,
    "centimetre": 1.0,
    "centimetres": 1.0,
    "centimeter": 1.0,
    "centimeters": 1.0,
    "mm": 0.1,
    "m": 100.0,
    "metre": 100.0,
    "metres": 100.0,
    "meter": 100.0,
    "meters": 100.0,
    "in": CM_PER_IN,
    "inch": CM_PER_IN,
    "inches": CM_PER_IN,
    '"': CM_PER_IN,
    "ft": 12 * CM_PER_IN,
    "foot": 12 * CM_PER_IN,
    "feet": 12 * CM_PER_IN,
    "'": 12 * CM_PER_IN,
}

CONCENTRATION_UNITS_TO_MG_PER_ML: Mapping[str, float] = {
    "mg/ml": 1.0,
    "g/l": 1.0,
    "mg/l": 0.001,
    "mcg/ml": 0.001,
    "µg/ml": 0.001,
    "ug/ml": 0.001,
    "g/ml": 1000.0,
}

DURATION_UNITS_TO_MIN: Mapping[str, float] = {
    "min": 1.0,
    "mins": 1.0,
    "minute": 1.0,
    "minutes": 1.0,
    "m": 1.0,
    "h": 60.0,
    "hr": 60.0,
    "hrs": 60.0,
    "hour": 60.0,
    "hours": 60.0,
    "s": 1 / 60,
    "sec": 1 / 60,
    "second": 1 / 60,
    "seconds": 1 / 60,
}

RATE_UNITS_TO_ML_PER_H: Mapping[str, float] = {
    "ml/h": 1.0,
    "ml/hr": 1.0,
    "ml/hour": 1.0,
    "ml/min": 60.0,
}

_NUMBER = r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+"
_TERM = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>[^\s0-9.][^0-9]*?)?\s*(?=[0-9.]|$)")


def _accepted(units: Mapping[str, float]) -> str:
    return ", ".join(sorted({u for u in units if u.isalpha() and len(u) <= 3} or set(units)))


def _terms(text: str, field: str, example: str) -> list[tuple[float, str | None]]:
    """Split ``"5 ft 9 in"`` into ``[(5.0, "ft"), (9.0, "in")]``; refuse anything else."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(
            f"{field} is empty; enter a number with its unit, e.g. {example!r}",
            code="input.missing",
            fields={"field": field, "value": text, "example": example},
        )
    lowered = text.strip().lower()
    if re.search(r"\b(nan|inf|infinity)\b", lowered):
        raise InputError(
            f"{field} {text!r} is not a number; enter e.g. {example!r}",
            code="input.not_a_number",
            fields={"field": field, "value": text, "example": example},
        )
    if lowered.startswith("-"):
        raise InputError(
            f"{field} {text!r} is negative; enter a positive value such as {example!r}",
            code="input.out_of_range",
            fields={"field": field, "value": text, "example": example},
        )
    if "," in lowered and re.search(r"[0-9],[0-9]", lowered):
        raise InputError(
            f"{field} {text!r} uses a comma; write the decimal point as '.', e.g. {example!r}",
            code="input.not_a_number",
            fields={"field": field, "value": text, "example": example},
        )
    terms: list[tuple[float, str | None]] = []
    position = 0
    while position < len(lowered):
        match = _TERM.match(lowered, position)
        if match is None or match.end() == position:
            raise InputError(
                f"{field} {text!r} is not a quantity ketaplan can read; enter e.g. {example!r}",
                code="input.not_a_number",
                fields={"field": field, "value": text, "example": example},
            )
        unit = match.group("unit")
        terms.append((float(match.group("number")), unit.strip() if unit else None))
        position = match.end()
    return terms


def _single(text: str, field: str, units: Mapping[str, float], example: str) -> float:
    terms = _terms(text, field, example)
    if len(terms) != 1:
        raise InputError(
            f"{field} {text!r} has more than one number; enter one value, e.g. {example!r}",
            code="input.not_a_number",
            fields={"field": field, "value": text, "example": example},
        )
    number, unit = terms[0]
    if unit is None:
        raise InputError(
            f"{field} {text!r} has no unit; a bare number is ambiguous. "
            f"Enter it with its unit, e.g. {example!r} (accepted: {_accepted(units)})",
            code="input.unit_missing",
            fields={"field": field, "value": text, "accepted": sorted(units)},
        )
    factor = units.get(unit.replace(" ", ""))
    if factor is None:
        raise InputError(
            f"{field} {text!r}: unknown unit {unit!r} (accepted: {_accepted(units)})",
            code="input.unit_unknown",
            fields={"field": field, "value": text, "unit": unit, "accepted": sorted(units)},
        )
    value = number * factor
    if not math.isfinite(value):
        raise InputError(
            f"{field} {text!r} is not a finite number",
            code="input.not_a_number",
            fields={"field": field, "value": text},
        )
    return value


def parse_mass_kg(text: str, field: str = "weight") -> float:
    """A mass such as ``"80 kg"``, ``"80kg"``, ``"176 lb"`` or ``"176.4 lbs"``, in kilograms."""
    return _single(text, field, MASS_UNITS_TO_KG, "80 kg")


def parse_concentration_mg_per_ml(text: str, field: str = "concentration") -> float:
    """A concentration such as ``"50 mg/mL"``, in mg/mL."""
    return _single(text, field, CONCENTRATION_UNITS_TO_MG_PER_ML, "50 mg/mL")


def parse_pump_rate_ml_per_h(text: str, field: str = "rate") -> float:
    """A pump rate in mL/h: ``"60"`` in a field labelled mL/h (the unit every volumetric pump
    shows, as the console's rate field takes it), or with its unit, ``"60 mL/h"``.

    >>> parse_pump_rate_ml_per_h("60"), parse_pump_rate_ml_per_h("1.5 mL/min")
    (60.0, 90.0)
    """
    if isinstance(text, str) and re.fullmatch(rf"\s*(?:{_NUMBER})\s*", text):
        return float(text)
    return _single(text, field, RATE_UNITS_TO_ML_PER_H, "60 mL/h")


def parse_duration_min(text: str, field: str = "duration") -> float:
    """A duration such as ``"40 min"`` or ``"4 h"``, in minutes."""
    terms = _terms(text, field, "40 min")
    total = 0.0
    for number, unit in terms:
        if unit is None:
            raise InputError(
                f"{field} {text!r} has no unit; enter e.g. '40 min' or '4 h'",
                code="input.unit_missing",
                fields={"field": field, "value": text, "accepted": sorted(DURATION_UNITS_TO_MIN)},
            )
        factor = DURATION_UNITS_TO_MIN.get(unit)
        if factor is None:
            raise InputError(
                f"{field} {text!r}: unknown unit {unit!r} (accepted: min, h, s)",
                code="input.unit_unknown",
                fields={"field": field, "value": text, "unit": unit},
            )
        total += number * factor
    return total


def parse_length_cm(text: str, field: str = "height") -> float:
    """A length such as ``"175 cm"``, ``"1.75 m"``, ``"69 in"``, ``"5 ft 9 in"`` or ``5'9"``.

    Feet may be followed by inches, with or without the inch unit (``"5 ft 9"``); any other
    combination of several numbers is refused.

    Feet are whole numbers. ``"5.9 ft"`` is usually meant as 5 ft 9 in (175.3 cm) but reads as
    5.9 decimal feet (179.8 cm); ``"5.5 ft"`` may be 5 ft 5 in or 5 ft 6 in; ``"5.11 ft"``
    is 5 ft 11 in or 5 ft 1.3 in. A wrong reading moves the height by several centimetres,
    and with it the BMI and any ideal or adjusted dosing weight, so every feet value with a
    fractional part (``5.9 ft``, ``5.75'``, ``5.5 ft 2 in``) is refused with both readings;
    ``"5.0 ft"`` is 5 ft. Write feet and inches (``5 ft 9 in``, ``5'9"``) or centimetres.
    """
    terms = _terms(text, field, "175 cm")
    _refuse_decimal_feet(text, field, terms)
    if len(terms) == 2 and terms[0][1] in _FEET:
        feet, _ = terms[0]
        inches, inch_unit = terms[1]
        if inch_unit not in {None, "in", "inch", "inches", '"'}:
            raise InputError(
                f"{field} {text!r}: after feet, give inches (e.g. '5 ft 9 in')",
                code="input.unit_unknown",
                fields={"field": field, "value": text},
            )
        if inches >= 12:
            raise InputError(
                f"{field} {text!r}: {inches:g} inches is 12 or more; write e.g. '5 ft 9 in'",
                code="input.out_of_range",
                fields={"field": field, "value": text},
            )
        return feet * LENGTH_UNITS_TO_CM["ft"] + inches * CM_PER_IN
    return _single(text, field, LENGTH_UNITS_TO_CM, "175 cm")


_FEET = frozenset({"ft", "foot", "feet", "'"})


def _refuse_decimal_feet(text: str, field: str, terms: list[tuple[float, str | None]]) -> None:
    """Refuse feet with a fractional part, naming each reading (see :func:`parse_length_cm`)."""
    feet, unit = terms[0]
    if unit not in _FEET or feet == math.floor(feet):
        return
    whole = math.floor(feet)
    decimal_in = round((feet - whole) * 12, 2)
    decimal = f"{whole} ft {decimal_in:g} in"
    readings = [f"decimal feet ({decimal}, {feet * 12 * CM_PER_IN:.1f} cm)"]
    digits = re.match(r"\s*[0-9]*\.([0-9]+)", text)
    as_inches = int(digits.group(1)) if digits else None
    suggestion = decimal
    if as_inches is not None and as_inches < 12 and as_inches != decimal_in:
        suggestion = f"{whole} ft {as_inches} in"
        readings.insert(
            0, f"feet and inches ({suggestion}, {(whole * 12 + as_inches) * CM_PER_IN:.1f} cm)"
        )
    problem = (
        f"is ambiguous: feet with a decimal point may mean {' or '.join(readings)}"
        if len(readings) > 1
        else f"is in decimal feet ({readings[0].removeprefix('decimal feet (')}, which ketaplan "
        "does not take: a decimal point in feet is too easily read as inches"
    )
    raise InputError(
        f"{field} {text!r} {problem}. "
        f"Did you mean '{suggestion}'? Enter whole feet and inches ('{suggestion}') "
        "or centimetres ('175 cm')",
        code="input.ambiguous_height",
        fields={
            "field": field,
            "value": text,
            "suggestion": suggestion,
            "accepted": ["5 ft 9 in", "5'9\"", "69 in", "175 cm", "1.75 m"],
        },
    )


def typed_number_and_unit(text: str) -> tuple[float, str | None]:
    """The first number and its unit as typed (``"176 lbs"`` → ``(176.0, "lbs")``).

    Used to phrase suggestions ("did you mean 176 kg?") after a value was parsed.
    """
    number, unit = _terms(text, "value", "80 kg")[0]
    return number, unit


def is_pounds(unit: str | None) -> bool:
    """True for the spellings of pounds that :data:`MASS_UNITS_TO_KG` accepts."""
    return unit is not None and MASS_UNITS_TO_KG.get(unit) == KG_PER_LB


def round_half_up(value: float, step: float) -> float:
    """Round to a multiple of ``step``, halves up, without binary noise.

    Clinical rounding is half up (151.05 mL/h → 151.1), not Python's half-to-even, and a value
    such as 0.55 × 35 = 19.249999… must still round to 19.3.

    >>> round_half_up(151.05, 0.1), round_half_up(0.55 * 35, 0.1), round_half_up(0.7, 0.01)
    (151.1, 19.3, 0.7)
    """
    count = math.floor(value / step + 0.5 + 1e-9)
    fraction = _decimal_fraction(step)
    if fraction is not None:
        numerator, denominator = fraction
        scaled = count * numerator
        if -_EXACT_NUMERATOR < scaled < _EXACT_NUMERATOR:
            return scaled / denominator
    return round(count * step, _decimals(step))


_EXACT_NUMERATOR = 2**31
"""Below this, count × step is too close to its decimal value for rounding to move it."""


@functools.lru_cache(maxsize=64)
def _decimals(step: float) -> int:
    """Decimal places that show a multiple of ``step`` exactly (0.1 → 2, 0.01 → 3)."""
    return max(0, -math.floor(math.log10(step)) + 1)


@functools.lru_cache(maxsize=64)
def _decimal_fraction(step: float) -> tuple[int, int] | None:
    """``step`` as (numerator, 10**places) when it is a decimal of at most ``_decimals(step)``
    places (0.1 → (1, 10), 0.25 → (25, 100)); None otherwise (1/3).

    A multiple of such a step is then ``count * numerator / 10**places``: a division of whole
    numbers, which Python rounds correctly to the nearest float. That is the float that
    ``round(count * step, _decimals(step))`` returns, since the product is off its decimal
    value by far less than the rounding moves it; the division costs a tenth of the rounding.
    """
    for places in range(_decimals(step) + 1):
        numerator = round(step * 10**places)
        if numerator / 10**places == step:
            return numerator, 10**places
    return None
