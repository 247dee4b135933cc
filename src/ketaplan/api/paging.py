"""Every list the API answers is a page: ``{items, total_count, limit, next}``.

A client asks for ``limit`` items (1 to :data:`~ketaplan.services.listing.MAX_PAGE`; a
larger or smaller one is a 422 naming ``limit``, never quietly clamped) and gets them with
``total_count``, how many there are in all, and ``next``, the cursor to pass as ``cursor`` for
the following page (null after the last). The count is ``total_count``, not ``total``: in this
API a ``total`` is a questionnaire's score (and the front desk must never see one). A cursor
is opaque to the client: for the patient list it marks the last patient shown (keyset paging,
:mod:`ketaplan.services.patient_pages`); for a patient's plans, courses, sessions,
questionnaires and screenings, a course's booking history and for the staff list it is the
position after this page (those lists are one patient's records or one clinic's staff: short).

The audit trail is the one list with no count (:class:`UncountedPage`): it grows by every read
and write in the clinic, to millions of events, and counting a filtered slice of it for each
page would cost more than the page. Its cursor is the sequence number of the last event shown
(keyset paging, newest first), so a page costs the same however long the trail.

Some answers hold several rows yet are documents, not lists, and are not paged: each is
bounded by its nature, and its OpenAPI description says so (today's chair board, the ledger's
stock, a ledger report).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from ketaplan.errors import InputError
from ketaplan.inputs import MAX_RECORD_ID
from ketaplan.services.listing import MAX_PAGE, Listed, Window

Item = TypeVar("Item")
Row = TypeVar("Row")
AnyPage = TypeVar("AnyPage", bound="Page[Any]")

DEFAULT_LIMIT = 50

Limit = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_PAGE,
        description=f"How many items a page holds at most: 1 to {MAX_PAGE}.",
    ),
]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=10,
        pattern=r"^[0-9]+$",
        description="The `next` of the page before; leave it out for the first page.",
    ),
]


class Page(BaseModel, Generic[Item]):
    """One page of a list."""

    items: list[Item]
    total_count: int = Field(description="How many there are in all, not only on this page.")
    limit: int = Field(description="The most items the page could hold (the request's limit).")
    next: str | None = Field(
        description="Pass it as `cursor` for the next page; null after the last page."
    )


class UncountedPage(BaseModel, Generic[Item]):
    """One page of a list too long to count per page (the audit trail)."""

    items: list[Item]
    total_count: int | None = Field(
        None,
        description="Not counted: always null. The list is too long to count per page; "
        "follow `next` until it is null.",
    )
    limit: int = Field(description="The most items the page could hold (the request's limit).")
    next: str | None = Field(
        description="Pass it as `cursor` for the next page; null after the last page."
    )


def cursor_number(cursor: str | None) -> int | None:
    """The number a cursor holds (a position or a record id), checked against the bound of
    an id (the Query pattern already allows digits only)."""
    if cursor is None:
        return None
    number = int(cursor)
    if number > MAX_RECORD_ID:
        raise InputError(
            f"cursor {cursor} is not one this API gave; start again without one",
            code="input.invalid_cursor",
            fields={"field": "cursor"},
        )
    return number


def window(limit: int, cursor: str | None) -> Window:
    """The window of a per-patient list: ``limit`` items after the position ``cursor``."""
    return Window(limit=limit, offset=cursor_number(cursor) or 0)


def page_of(listed: Listed[Row], convert: Callable[[Row], Any], page: type[AnyPage]) -> AnyPage:
    """A service's :class:`~ketaplan.services.listing.Listed` as the API's page."""
    following = listed.next_offset
    return page(
        items=[convert(row) for row in listed.rows],
        total_count=listed.total,
        limit=listed.window.limit,
        next=None if following is None else str(following),
    )


def page_in_memory(
    rows: Iterable[Row],
    convert: Callable[[Row], Any],
    page: type[AnyPage],
    *,
    limit: int,
    cursor: str | None,
) -> AnyPage:
    """A page of a list the service reads whole because it is short: the clinic's staff, its
    loss cases, one course's booking history (the service audits the read as a whole)."""
    every = list(rows)
    start = cursor_number(cursor) or 0
    shown = every[start : start + limit]
    after = start + len(shown)
    return page(
        items=[convert(row) for row in shown],
        total_count=len(every),
        limit=limit,
        next=str(after) if after < len(every) and shown else None,
    )


__all__ = [
    "DEFAULT_LIMIT",
    "Cursor",
    "Limit",
    "Page",
    "UncountedPage",
    "cursor_number",
    "page_in_memory",
    "page_of",
    "window",
]
