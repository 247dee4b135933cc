"""Parameters and shapes shared by routes: ids, bounded texts and numbers, the error body.

Bounds here are about what a request may carry, not clinical limits (the domain checks those and
says which rule): an id fits the databases' 32-bit integers, a number is finite, a text is short
enough to store, a time is one a clinic could mean. Past them a request is a 422, never a 500.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_RECORD_ID = 2**31 - 1
"""Record ids are 32-bit integers in both databases; a larger id is a 422, not a database error."""

RecordId = Annotated[int, Path(ge=1, le=MAX_RECORD_ID, description="A record's id.")]
OptionalRecordId = Annotated[int | None, Field(ge=1, le=MAX_RECORD_ID)]

Condition = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="A protocol's condition key or alias (GET the protocols with the CLI).",
        examples=["depression"],
    ),
]
Reason = Annotated[str, Field(min_length=1, max_length=1000)]

EARLIEST_YEAR = 1900
LATEST_YEAR = 2200
"""Dates and times outside these years are typing mistakes, and past them date arithmetic
(time zones, scheduling ahead) overflows Python's calendar."""


def _plausible_date(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"the year must be {EARLIEST_YEAR} to {LATEST_YEAR}")
    return value


def _plausible_time(value: datetime) -> datetime:
    _plausible_date(value.date())
    return value


ClinicDate = Annotated[date, AfterValidator(_plausible_date)]
ClinicTime = Annotated[
    datetime,
    AfterValidator(_plausible_time),
    Field(description="An ISO 8601 time with its UTC offset, e.g. 2026-12-07T09:00:00-08:00."),
]


class ErrorOut(BaseModel):
    """Every error: a stable ``code`` to match on, a ``message`` for a person, and the
    structured fields behind the message."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (401, "Not signed in"),
        (403, "The role or the CSRF token does not allow it"),
        (404, "No such record in your clinic"),
        (409, "Someone else changed the record first"),
        (422, "The request is not valid, or a dose limit refuses it"),
    )
}
"""The error responses every API route documents (the schema schemathesis checks against)."""
