"""The clinic's identity settings as text, both ways: the holiday region, the address,
the calendar events' title, the DEA registration number and the crisis message a patient is
shown after answering PHQ-9 item 9 above 0.

They are stored at the top level of the clinic's ``settings`` JSON (``holiday_region``,
``address``, ``calendar_title``, ``dea_registration``, ``crisis_message``), where the calendar
(:func:`~ketaplan.services.clinic_settings_stored.own_calendar`), the course calendar file
(:mod:`~ketaplan.services.course_calendar`) and the ledger's printed records
(:mod:`~ketaplan.services.ledger_printing`) and the patient's questionnaire link
(:mod:`~ketaplan.services.patient_links`) read them over the catalog's defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.catalog import ClinicDefaults
from ketaplan.errors import InputError, InputProblems

MAX_ADDRESS_LENGTH = 300
MAX_TITLE_LENGTH = 100
MAX_CRISIS_MESSAGE_LENGTH = 1000
"""The catalog's 988 message is about 330 characters; a crisis message is read in a moment."""

_DEA = re.compile(r"^[A-Z]{2}\d{7}$")


@dataclass(frozen=True, slots=True)
class ClinicIdentity:
    """The values in force (``holiday_region`` ``""``: no public holidays closed)."""

    holiday_region: str
    address: str
    calendar_title: str
    dea_registration: str
    crisis_message: str


@dataclass(frozen=True, slots=True)
class IdentityInput:
    """As typed; a field left out (``None``) keeps the value in force."""

    holiday_region: str | None = None
    address: str | None = None
    calendar_title: str | None = None
    dea_registration: str | None = None
    crisis_message: str | None = None


def _bad(field: str, message: str, value: str) -> InputError:
    return InputError(
        message, code="input.invalid_setting", fields={"field": field, "value": value}
    )


def dea_check_digit(digits: str) -> int:
    """The check digit of a DEA registration's first six digits: the first, third and fifth
    added, plus twice the second, fourth and sixth added; the last digit of that sum.

    The rule as pharmacists verify a prescriber's number (e.g. takerx.com/verify.html, worked
    example AP5836727: 5 + 3 + 7 = 15, 2 × (8 + 6 + 2) = 32, 15 + 32 = 47, check digit 7);
    the catalog's example registration ``AB1234563`` (``clinic.toml``) passes it.

    >>> dea_check_digit("583672")
    7
    >>> dea_check_digit("123456")
    3
    """
    values = [int(d) for d in digits]
    return (values[0] + values[2] + values[4] + 2 * (values[1] + values[3] + values[5])) % 10


def parse_dea_registration(text: str) -> str:
    """Blank (not recorded), or two letters and seven digits whose last is the check digit."""
    code = text.strip().upper().replace(" ", "")
    if not code:
        return ""
    if not _DEA.match(code):
        raise _bad(
            "dea_registration",
            f"DEA registration {text.strip()!r} is not two letters and seven digits "
            "(e.g. AB1234563), or leave it blank",
            text,
        )
    if dea_check_digit(code[2:8]) != int(code[8]):
        raise _bad(
            "dea_registration",
            f"DEA registration {code}: its last digit should be {dea_check_digit(code[2:8])} "
            "(the check digit of the six before it); check it against the registration "
            "certificate",
            text,
        )
    return code


def parse_holiday_region(text: str) -> str:
    """Blank (no public holidays closed), or a region the ``holidays`` library knows."""
    from ketaplan.public_holidays import region_holidays

    code = text.strip().upper()
    if not code:
        return ""
    try:
        return region_holidays(code, field="holiday_region").region
    except InputError as refused:
        message = refused.message.replace("holiday_region", "the public holiday region", 1)
        raise _bad("holiday_region", f"{message}; or leave it blank for none", text) from None


def _line(field: str, what: str, text: str, limit: int, *, required: bool) -> str:
    value = " ".join(text.split())
    if required and not value:
        raise _bad(field, f"{what} cannot be blank (up to {limit} characters)", text)
    if len(value) > limit:
        raise _bad(field, f"{what} must be at most {limit} characters (it has {len(value)})", text)
    return value


def parse_crisis_message(text: str) -> str:
    """Plain text of up to :data:`MAX_CRISIS_MESSAGE_LENGTH` characters, never blank (a patient
    who endorses item 9 is always shown where to get help), with no markup: the page shows it
    as typed, so ``<`` and ``>`` would only ever be a pasted tag."""
    value = _line(
        "crisis_message",
        "the crisis message",
        text,
        MAX_CRISIS_MESSAGE_LENGTH,
        required=True,
    )
    if "<" in value or ">" in value:
        raise _bad(
            "crisis_message",
            "the crisis message is plain text: no HTML or other markup (no < or >); a "
            "telephone number or web address is written as it is, e.g. 988lifeline.org",
            text,
        )
    return value


def parse_identity(typed: IdentityInput, problems: InputProblems) -> dict[str, str]:
    """The typed fields checked (each refusal kept in ``problems``), by stored key; the
    fields left out are not in it."""
    parsers = {
        "holiday_region": parse_holiday_region,
        "address": lambda t: _line("address", "the address", t, MAX_ADDRESS_LENGTH, required=False),
        "calendar_title": lambda t: _line(
            "calendar_title", "the calendar title", t, MAX_TITLE_LENGTH, required=True
        ),
        "dea_registration": parse_dea_registration,
        "crisis_message": parse_crisis_message,
    }
    parsed: dict[str, str] = {}
    for key, parse in parsers.items():
        text = getattr(typed, key)
        if text is not None:
            value = problems.check(parse, text)
            if value is not None:
                parsed[key] = value
    return parsed


def own_identity(
    own: Mapping[str, Any], defaults: ClinicDefaults, calendar: ClinicCalendar
) -> ClinicIdentity:
    """The values in force: the clinic's own over the catalog's (the region over the default
    calendar's)."""
    region = own.get("holiday_region")
    if region is None:
        region = calendar.public_holidays.region if calendar.public_holidays else ""
    return ClinicIdentity(
        holiday_region=str(region),
        address=str(own.get("address", defaults.address)),
        calendar_title=str(own.get("calendar_title", defaults.calendar_title)),
        dea_registration=str(own.get("dea_registration", defaults.dea_registration)).strip(),
        crisis_message=own_crisis_message(own, defaults.crisis_message),
    )


def own_crisis_message(own: Mapping[str, Any], default: str) -> str:
    """The clinic's crisis message, or the catalog's (988 in the US, cited there)."""
    return str(own.get("crisis_message") or default)
