"""Values as typed at the edges: API bodies and parameters, form fields, command-line options.

Every entry point reads what people and programs type through these checks, so that a value
the databases or the domain cannot take is refused where it arrives, with an
:class:`~ketaplan.errors.InputError` that names the field and says what is accepted, and
never reaches a query or a calculation (where it used to be a 500 or a traceback):

* text holds no control characters: PostgreSQL cannot store NUL at all, the other C0/C1
  controls (and lone UTF-16 surrogates, which cannot be encoded) are never meant in a name, a
  weight or a reason, and they hide text in logs and pages. Tab and line breaks are accepted
  where a field is written over several lines (notes, reasons, one medication a line).
* whole numbers are ASCII digits within a stated range (ids fit the databases' 32-bit
  integers): ``"²"`` passes :meth:`str.isdigit` but is no number, and ``"٣"`` is one to
  :func:`int` but not what a form or a clinic means.
* decimal numbers are finite and within a stated range: ``nan`` compares false with every
  limit, and ``1e308`` overflows the first multiplication.
* dates are between :data:`EARLIEST_YEAR` and :data:`LATEST_YEAR`.

The bounds are about what a value may be at all, not clinical limits: the domain checks those
and says which rule refused.

Examples
--------
>>> whole_number("12", field="number", low=1, high=100)
12
>>> whole_number("²", field="number", low=1, high=100)
Traceback (most recent call last):
...
ketaplan.errors.InputError: number '²' is not a whole number: give digits 0-9, from 1 to 100
>>> check_text("Alex\\x00", field="full_name")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ketaplan.errors.InputError: full_name: control character U+0000 at position 5; ...
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import date, time

from ketaplan.errors import InputError

MAX_RECORD_ID = 2**31 - 1
"""Record ids (and counts stored beside them) are 32-bit integers in both databases."""

EARLIEST_YEAR = 1900
LATEST_YEAR = 2200
"""Dates and times outside these years are typing mistakes, and past them date arithmetic
(time zones, scheduling ahead) overflows Python's calendar."""

MAX_REQUESTED_MG_PER_KG = 100.0
"""Far above any protocol's hard limit: the limits refuse and explain; this only keeps the
number a number."""
MAX_SESSION_NUMBER = 100
"""More sessions than any course holds; a larger number is a typing mistake."""
MAX_EVENT_MAGNITUDE = 1_000_000.0
"""A number charted in a session event (a rate, a blood pressure, a rating) is at most this far
from zero: the domain checks each against its own limits; this only keeps it a number."""

LINE_BREAKS = frozenset("\t\n\r")
"""The control characters a field written over several lines may hold."""

_ASCII_DIGITS = re.compile(r"[0-9]+")

LINE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f]*$"
"""The JSON-schema pattern of one line of text (documented in the API schema)."""
MULTILINE_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
"""The JSON-schema pattern of text over several lines (tab, LF and CR allowed)."""


def control_character(value: str, *, multiline: bool = False) -> str | None:
    """What is wrong with ``value`` as text, or None when nothing is.

    >>> control_character("128/82") is None
    True
    >>> control_character("first\\nsecond", multiline=True) is None
    True
    >>> control_character("first\\nsecond")
    'control character U+000A at position 6; only printable text is accepted'
    """
    for position, character in enumerate(value, start=1):
        if multiline and character in LINE_BREAKS:
            continue
        if unicodedata.category(character) in ("Cc", "Cs"):
            accepted = "printable text and line breaks are" if multiline else "printable text is"
            return (
                f"control character U+{ord(character):04X} at position {position}; "
                f"only {accepted} accepted"
            )
    return None


def check_text(value: str, *, field: str, multiline: bool = False) -> str:
    """``value`` unchanged, or an InputError naming ``field`` (the value is not echoed: it
    may be a patient's name)."""
    problem = control_character(value, multiline=multiline)
    if problem is not None:
        raise InputError(
            f"{field}: {problem}",
            code="input.control_character",
            fields={"field": field},
        )
    return value


def whole_number(text: str, *, field: str, low: int, high: int) -> int:
    """A whole number typed as ASCII digits, from ``low`` to ``high``."""
    cleaned = text.strip()
    if _ASCII_DIGITS.fullmatch(cleaned) is None:
        raise InputError(
            f"{field} {text[:40]!r} is not a whole number: give digits 0-9, from {low} to {high}",
            code="input.not_a_number",
            fields={"field": field, "low": low, "high": high},
        )
    value = int(cleaned)
    if not low <= value <= high:
        raise InputError(
            f"{field} {cleaned[:40]} is outside {low} to {high}: give a whole number in that range",
            code="input.out_of_range",
            fields={"field": field, "low": low, "high": high},
        )
    return value


def _accepted(low: float, high: float) -> str:
    return f"up to {high:g}" if low == -math.inf else f"from {low:g} to {high:g}"


def finite_number(value: float, *, field: str, low: float, high: float) -> float:
    """``value`` when finite and from ``low`` to ``high`` (``low`` may be ``-math.inf`` where
    the domain checks the low side itself, in its own words)."""
    if not math.isfinite(value) or not low <= value <= high:
        raise InputError(
            f"{field} {value:g} is outside the accepted range: give a finite number "
            f"{_accepted(low, high)}",
            code="input.out_of_range",
            fields={"field": field, "low": low, "high": high},
        )
    return value


def decimal_number(
    text: str, *, field: str, low: float, high: float, what: str = "a number"
) -> float:
    """A decimal number typed as text (``0.6``, ``1e2``), finite and from ``low`` to ``high``;
    ``what`` names it in the message (``"a dose in mg/kg"``)."""
    cleaned = text.strip()
    try:
        value = float(cleaned) if cleaned.isascii() else math.nan
    except ValueError:
        value = math.nan
    if math.isnan(value):
        raise InputError(
            f"{field} {text[:40]!r} is not {what}: give digits (e.g. 0.6), {_accepted(low, high)}",
            code="input.not_a_number",
            fields={"field": field, "low": low, "high": high},
        )
    return finite_number(value, field=field, low=low, high=high)


def plausible_date(value: date, *, field: str) -> date:
    """``value`` when its year is from :data:`EARLIEST_YEAR` to :data:`LATEST_YEAR`."""
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise InputError(
            f"{field} {value.isoformat()}: the year must be {EARLIEST_YEAR} to {LATEST_YEAR}",
            code="input.out_of_range",
            fields={"field": field},
        )
    return value


def clinic_date(text: str, *, field: str) -> date:
    """A date typed as YYYY-MM-DD, in a year a clinic could mean."""
    cleaned = text.strip()
    try:
        value = date.fromisoformat(cleaned) if cleaned.isascii() else None
    except ValueError:
        value = None
    if value is None:
        raise InputError(
            f"{field} {text[:40]!r} is not a date: give YYYY-MM-DD, e.g. 2026-12-07",
            code="input.not_a_date",
            fields={"field": field},
        )
    return plausible_date(value, field=field)


def clock_time(text: str, *, field: str) -> time:
    """A time of day typed as HH:MM (24-hour), as a form's time field sends it."""
    cleaned = text.strip()
    try:
        value = time.fromisoformat(cleaned) if cleaned.isascii() and len(cleaned) == 5 else None
    except ValueError:
        value = None
    if value is None:
        raise InputError(
            f"{field.replace('_', ' ')} {text[:40]!r} is not a time: give HH:MM, e.g. 09:00",
            code="input.not_a_time",
            fields={"field": field},
        )
    return value
