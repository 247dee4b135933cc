"""Small pieces every FHIR resource builder shares: ids, references, times, profiles."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
"""US Core 8.0.1 profiles' canonical base."""

DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

KETAPLAN_URN = "urn:ketaplan:fhir"
"""ketaplan's own identifier systems and canonical URLs start here (an unregistered URN
namespace: ketaplan has no web address of its own that a clinic's export could name)."""

_NOT_ID = re.compile(r"[^A-Za-z0-9.\-]")


def fhir_id(*parts: object) -> str:
    """A FHIR logical id from parts (``"session", 3`` -> ``"session-3"``): letters, digits,
    ``-`` and ``.`` only, at most 64 characters, as the R4 ``id`` type allows."""
    text = "-".join(_NOT_ID.sub("-", str(p)) for p in parts)
    if not 1 <= len(text) <= 64:
        raise ValueError(f"{text!r} is not a FHIR id of 1-64 characters")
    return text


def ref(resource_type: str, resource_id: str, display: str | None = None) -> dict[str, Any]:
    """A relative literal reference (``Patient/3``); the bundle's fullUrls resolve it."""
    reference: dict[str, Any] = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        reference["display"] = display
    return reference


def instant(at: datetime, zone: ZoneInfo) -> str:
    """An aware time in the clinic's zone, to the nearest second, with its offset (FHIR
    ``dateTime`` and ``instant`` both take this form); a stored time is UTC, shown where the
    clinic is. Rounded, not cut: a stretch's end worked out in float minutes may fall a
    microsecond before the second it means."""
    if at.tzinfo is None:
        raise ValueError(f"{at!r} has no time zone")
    nearest = (at + timedelta(microseconds=500_000)).replace(microsecond=0)
    return nearest.astimezone(zone).isoformat()


def profiled(resource_type: str, resource_id: str, *profiles: str) -> dict[str, Any]:
    """The start of a resource: its type, id and the US Core profiles it claims."""
    resource: dict[str, Any] = {"resourceType": resource_type, "id": resource_id}
    if profiles:
        resource["meta"] = {"profile": [US_CORE + p for p in profiles]}
    return resource


def absent(reason: str = "unknown") -> dict[str, Any]:
    """The primitive extension saying why a required value is absent."""
    return {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": reason}]}


def rounded(value: float, places: int = 3) -> float | int:
    """A number as FHIR JSON carries it: rounded, and whole numbers without ``.0``."""
    number = round(float(value), places)
    return int(number) if number == int(number) else number
