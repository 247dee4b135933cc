"""Theft or significant loss of controlled substances: a case with the DEA's two clocks.

From the moment a loss or theft is discovered (88 FR 40707, in force 24 July 2023; 21 CFR
1301.76(b)):

- **written notice** to the DEA field division within **one business day** of discovery: due at
  the end of the next business day (Monday to Friday, the clinic's holidays excepted) in the
  clinic's time zone;
- **DEA Form 106** filed within **45 days** of discovery: due at the end of the 45th day.

A case is a series of steps, each a ledger row written once: opened (when discovered, theft or
loss, what is missing, by whom), the notice sent, Form 106 filed (with its reference), notes,
and the resolution. :func:`fold_case` reads them into a :class:`LossCase`, whose
:meth:`LossCase.deadlines` say, at a given moment, whether each clock was met, is still
running, was met late, or was missed.

Examples
--------
>>> from datetime import datetime
>>> from zoneinfo import ZoneInfo
>>> ny = ZoneInfo("America/New_York")
>>> friday = datetime(2026, 12, 4, 16, 30, tzinfo=ny)
>>> notice_due(friday, ny).isoformat()
'2026-12-07T23:59:59-05:00'
>>> form_106_due(friday, ny).date().isoformat()
'2027-01-18'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo

from ketaplan.clinical.ledger.balance import LedgerRefusal
from ketaplan.errors import InputProblems

LossKind = Literal["theft", "loss"]
LossStep = Literal["open", "notice", "form_106", "note", "resolve"]
DeadlineStatus = Literal["met", "late", "running", "missed"]

FORM_106_DAYS = 45
END_OF_DAY = time(23, 59, 59)


def _next_business_day(day: date, holidays: frozenset[date]) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5 or day in holidays:
        day += timedelta(days=1)
    return day


def notice_due(
    discovered_at: datetime, zone: ZoneInfo, holidays: frozenset[date] = frozenset()
) -> datetime:
    """The end of the business day after the day of discovery, in the clinic's zone."""
    day = _next_business_day(discovered_at.astimezone(zone).date(), holidays)
    return datetime.combine(day, END_OF_DAY, tzinfo=zone)


def form_106_due(discovered_at: datetime, zone: ZoneInfo) -> datetime:
    """The end of the 45th day after the day of discovery, in the clinic's zone."""
    day = discovered_at.astimezone(zone).date() + timedelta(days=FORM_106_DAYS)
    return datetime.combine(day, END_OF_DAY, tzinfo=zone)


@dataclass(frozen=True, slots=True)
class LossEvent:
    """One step of a case, as written in the ledger."""

    entry_id: int
    case_id: int
    """The entry id of the case's ``open`` step (equal to ``entry_id`` for that step)."""
    step: LossStep
    at: datetime
    """When the step happened (discovery, notice sent, form filed); recorded_at is the row's."""
    by: int
    text: str = ""
    kind: LossKind | None = None
    missing: str = ""
    """What is missing (vial numbers, volumes), as discovered."""
    reference: str = ""


@dataclass(frozen=True, slots=True)
class Deadline:
    name: str
    due_at: datetime
    done_at: datetime | None

    def status(self, now: datetime) -> DeadlineStatus:
        if self.done_at is not None:
            return "met" if self.done_at <= self.due_at else "late"
        return "running" if now <= self.due_at else "missed"


@dataclass(frozen=True, slots=True)
class LossCase:
    case_id: int
    kind: LossKind
    discovered_at: datetime
    opened_by: int
    description: str
    missing: str
    notice_sent_at: datetime | None = None
    form_106_filed_at: datetime | None = None
    form_106_reference: str = ""
    notes: tuple[LossEvent, ...] = ()
    resolved_at: datetime | None = None
    resolution: str = ""

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    def deadlines(
        self, zone: ZoneInfo, holidays: frozenset[date] = frozenset()
    ) -> tuple[Deadline, Deadline]:
        return (
            Deadline(
                "written notice to the DEA field division (1 business day)",
                notice_due(self.discovered_at, zone, holidays),
                self.notice_sent_at,
            ),
            Deadline(
                "DEA Form 106 (45 days)",
                form_106_due(self.discovered_at, zone),
                self.form_106_filed_at,
            ),
        )


def _refuse(message: str, code: str, field: str) -> LedgerRefusal:
    return LedgerRefusal(message, code=f"ledger.loss.{code}", fields={"field": field})


def fold_case(events: Sequence[LossEvent]) -> LossCase:
    """A case from its steps in written order; refuses an impossible step."""
    case: LossCase | None = None
    for event in events:
        case = _step(case, event)
    if case is None:
        raise _refuse("a loss case starts with its discovery", "not_opened", "case_id")
    return case


def append_step(events: Iterable[LossEvent], event: LossEvent) -> LossCase:
    return fold_case([*events, event])


def step_problems(step: str, *, kind: str | None, text: str, reference: str) -> list[LedgerRefusal]:
    """What a step itself lacks, whatever its case (a kind and a description to open one, a
    reference for Form 106, a text for a note or the resolution): checked beside the case, so
    a form sees every missing field at once."""
    found = []
    if step == "open":
        if kind not in ("theft", "loss"):
            found.append(_refuse("a case is a theft or a loss", "kind", "kind"))
        if not text.strip():
            found.append(_refuse("say what was found missing and how", "description", "text"))
    elif step == "form_106" and not reference.strip():
        found.append(
            _refuse(
                "give the reference DEA's system returned for the Form 106",
                "reference",
                "reference",
            )
        )
    elif step in ("note", "resolve") and not text.strip():
        found.append(_refuse(f"a {step} needs its text", "text", "text"))
    return found


def _case_problems(case: LossCase | None, event: LossEvent) -> list[LedgerRefusal]:
    """What the case's state refuses of the step (opened twice, not opened, resolved, before
    the discovery, a clock already met)."""
    if event.step == "open":
        return (
            [] if case is None else [_refuse("the case is already open", "already_open", "case_id")]
        )
    if case is None:
        return [_refuse("a loss case starts with its discovery", "not_opened", "case_id")]
    if not case.open:
        return [
            _refuse(
                f"loss case {case.case_id} was resolved: open a new case for a new discovery",
                "resolved",
                "case_id",
            )
        ]
    found = []
    if event.step != "note" and event.at < case.discovered_at:
        found.append(
            _refuse(
                f"a {event.step} cannot come before the discovery "
                f"({case.discovered_at.isoformat()})",
                "before_discovery",
                "at",
            )
        )
    if event.step == "notice" and case.notice_sent_at is not None:
        found.append(_refuse("the written notice was already recorded", "notice_twice", "step"))
    if event.step == "form_106" and case.form_106_filed_at is not None:
        found.append(_refuse("Form 106 was already recorded as filed", "form_twice", "step"))
    return found


def _step(case: LossCase | None, event: LossEvent) -> LossCase:
    """The case after one more step; every problem of the step refused at once (one
    :class:`LedgerRefusal`, or :class:`~ketaplan.errors.InputErrors` when several)."""
    problems = InputProblems()
    lacking = step_problems(event.step, kind=event.kind, text=event.text, reference=event.reference)
    for refused in [*_case_problems(case, event), *lacking]:
        problems.add(refused)
    problems.raise_any()
    if event.step == "open":
        return LossCase(
            event.entry_id,
            cast(LossKind, event.kind),
            event.at,
            event.by,
            event.text,
            event.missing,
        )
    assert case is not None  # refused above
    if event.step == "notice":
        return replace(case, notice_sent_at=event.at)
    if event.step == "form_106":
        return replace(case, form_106_filed_at=event.at, form_106_reference=event.reference)
    if event.step == "note":
        return replace(case, notes=(*case.notes, event))
    return replace(case, resolved_at=event.at, resolution=event.text)
