"""How to reach a patient and who takes them home: address, phone, e-mail and escort.

None of it is clinical: the front desk keeps it up to date (it is part of the registration,
:data:`ketaplan.services.visibility.REGISTRATION_FIELDS`), and the controlled-substance
ledger prints the address on each administration record, as 21 CFR 1304.22(c) asks for the
patient's name and address (``shared/clinical/RECORDS.md``). The escort is the adult who
drives the patient home after an infusion: clinics do not discharge a patient after ketamine
without one.

Each value is optional and kept as typed (trimmed); what is checked is what a typing slip
produces and a clinic cannot use: a phone number without enough digits, an e-mail without a
domain, an address without a street or a town.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from ketaplan.errors import InputError

ADDRESS_FIELDS: Final = (
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
)
CONTACT_FIELDS: Final = ("phone", "email")
ESCORT_FIELDS: Final = ("escort_name", "escort_phone")
REACH_FIELDS: Final = frozenset(ADDRESS_FIELDS + CONTACT_FIELDS + ESCORT_FIELDS)
"""Every field of this module: all optional text."""

MAX_LENGTHS: Final[dict[str, int]] = {
    "address_line1": 200,
    "address_line2": 200,
    "city": 100,
    "region": 100,
    "postal_code": 12,
    "country": 60,
    "phone": 30,
    "email": 254,
    "escort_name": 200,
    "escort_phone": 30,
}
LABELS: Final[dict[str, str]] = {
    "address_line1": "street address",
    "address_line2": "street address, line 2",
    "city": "city or town",
    "region": "state or region",
    "postal_code": "postal code",
    "country": "country",
    "phone": "phone",
    "email": "e-mail",
    "escort_name": "escort's name",
    "escort_phone": "escort's phone",
}
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15
"""E.164 allows at most 15 digits; fewer than 7 is no dialable number anywhere."""

_PHONE = re.compile(r"\+?[0-9 ().\-/]+(?:\s*(?:x|ext\.?)\s*[0-9]{1,6})?", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_POSTAL = re.compile(r"[0-9A-Za-z][0-9A-Za-z \-]*")


def _problem(field: str, message: str, code: str = "input.invalid") -> InputError:
    return InputError(message, code=code, fields={"field": field})


def _phone_problem(field: str, text: str) -> InputError | None:
    digits = sum(ch.isdigit() for ch in text.split("x")[0].split("ext")[0])
    if not _PHONE.fullmatch(text) or not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        return _problem(
            field,
            f"{LABELS[field]} {text!r} is not a phone number: {MIN_PHONE_DIGITS}-"
            f"{MAX_PHONE_DIGITS} digits, with spaces, dashes, brackets or a leading + "
            "(e.g. '+1 415 555 0134', '(415) 555-0134 ext 12')",
        )
    return None


def contact_problems(values: Mapping[str, str | None]) -> list[InputError]:
    """Every problem with the reach fields in ``values`` (absent or None means not given)."""
    problems: list[InputError] = []
    given = {f: (values.get(f) or "").strip() for f in REACH_FIELDS}
    for field in sorted(REACH_FIELDS):
        text = given[field]
        if len(text) > MAX_LENGTHS[field]:
            problems.append(
                _problem(
                    field,
                    f"the {LABELS[field]} is at most {MAX_LENGTHS[field]} characters",
                    "input.too_long",
                )
            )
            given[field] = ""
    for field in ("phone", "escort_phone"):
        if given[field] and (problem := _phone_problem(field, given[field])):
            problems.append(problem)
    if given["email"] and not _EMAIL.fullmatch(given["email"]):
        problems.append(
            _problem(
                "email",
                f"e-mail {given['email']!r} is not an address: name@domain, e.g. "
                "'alex@example.org'",
            )
        )
    if given["postal_code"] and not _POSTAL.fullmatch(given["postal_code"]):
        problems.append(
            _problem(
                "postal_code",
                f"postal code {given['postal_code']!r} holds characters a postal code has not: "
                "letters, digits, spaces and dashes (e.g. '94110', 'SW1A 1AA')",
            )
        )
    if any(given[f] for f in ADDRESS_FIELDS):
        for needed in ("address_line1", "city"):
            if not given[needed]:
                problems.append(
                    _problem(
                        needed,
                        f"an address needs its {LABELS[needed]} (or leave the whole address empty)",
                        "input.missing",
                    )
                )
    if given["escort_phone"] and not given["escort_name"]:
        problems.append(
            _problem(
                "escort_name",
                "an escort's phone needs the escort's name (who will drive the patient home)",
                "input.missing",
            )
        )
    return problems


def cleaned(value: str | None) -> str | None:
    """A reach field as stored: trimmed, or None when empty."""
    text = (value or "").strip()
    return text or None


NO_ADDRESS = "no address on record"


def address_line(values: Mapping[str, object]) -> str | None:
    """The address on one line (``"12 Elm St, Apt 4, Oakland, CA 94607, USA"``), or None when
    the record holds none; ``values`` are a version's stored inputs."""

    def part(name: str) -> str:
        value = values.get(name)
        return value.strip() if isinstance(value, str) else ""

    place = " ".join(p for p in (part("region"), part("postal_code")) if p)
    parts = [part("address_line1"), part("address_line2"), part("city"), place, part("country")]
    text = ", ".join(p for p in parts if p)
    return text or None
