"""Parameters and shapes shared by routes: ids, bounded texts and numbers, the error body.

Bounds here are about what a request may carry, not clinical limits (the domain checks those and
says which rule): an id fits the databases' 32-bit integers, a number is finite, a text is short
enough to store and holds no control characters, a time is one a clinic could mean. Past them a
request is a 422 naming the field, never a 500. Every text a request carries is a :data:`Line`
or a :data:`MultilineText` (the checks are :mod:`ketaplan.inputs`', shared with the pages and
the CLI).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ketaplan.inputs import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    LINE_PATTERN,
    MAX_RECORD_ID,
    MULTILINE_PATTERN,
    control_character,
)
from ketaplan.services.patient_links import MAX_TOKEN_LENGTH


def _one_line(value: str) -> str:
    problem = control_character(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _several_lines(value: str) -> str:
    problem = control_character(value, multiline=True)
    if problem is not None:
        raise ValueError(problem)
    return value


Line = Annotated[str, AfterValidator(_one_line), Field(json_schema_extra={"pattern": LINE_PATTERN})]
"""Text on one line: a name, a weight with its unit, a term, an e-mail address, a password."""
MultilineText = Annotated[
    str, AfterValidator(_several_lines), Field(json_schema_extra={"pattern": MULTILINE_PATTERN})
]
"""Text that may run over several lines: a reason, a note."""

RecordId = Annotated[int, Path(ge=1, le=MAX_RECORD_ID, description="A record's id.")]
LinkToken = Annotated[Line, Path(min_length=1, max_length=MAX_TOKEN_LENGTH)]
"""A patient link's token, as its URL carries it (the API's and the page's)."""
OptionalRecordId = Annotated[int | None, Field(ge=1, le=MAX_RECORD_ID)]

Condition = Annotated[
    Line,
    Field(
        min_length=1,
        max_length=64,
        description="A protocol's condition key or alias (GET the protocols with the CLI).",
        examples=["depression"],
    ),
]
Reason = Annotated[MultilineText, Field(min_length=1, max_length=1000)]


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


class Problem(BaseModel):
    """One thing wrong with a request (one FastAPI could not read, or one of several fields
    the services refused at once): where, and what."""

    field: str = Field(description="Where: a parameter's name or the body's field path.")
    problem: str = Field(description="What is wrong and what is accepted.")
    code: str | None = Field(
        None, description="The refusal's own code, when the services refused several fields."
    )


class ErrorOut(BaseModel):
    """Every error: a stable ``code`` to match on, a ``message`` for a person, and the
    structured fields behind the message. The fields most errors carry are typed here; an
    error may add others of its own (the refused value, what is accepted), so the body stays
    open to more (``additionalProperties``)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["input.invalid_request"])
    message: str
    field: str | None = Field(None, description="The field the error is about, when one is.")
    problems: list[Problem] | None = Field(
        None,
        description="Every problem: a request the API could not read (input.invalid_request), "
        "or several fields the services refused at once (the first one's code on top).",
    )
    retry_after_s: int | None = Field(
        None, description="Seconds to wait (a 429), as in the Retry-After header."
    )
