"""Infusion sessions: the chart as an append-only event log in the database.

Each event is one ``session_event`` row with the session's next sequence number. Appending:

1. the caller says how many events it has seen (``expected_seq``); if the chart has moved on,
   the append is refused (:class:`~ketaplan.errors.ConflictError`): two nurses charting the
   same session never overwrite or reorder each other's events;
2. the stored events are replayed through the domain's fold (:mod:`ketaplan.clinical.session`)
   and the new event is validated against it *before* anything is written: an impossible
   event (resume without pause, time going backwards, anything after discharge) raises and
   writes nothing, not even an audit row;
3. the row is inserted as ``seq = expected_seq + 1``; the unique ``(session_id, seq)``
   constraint settles a race the check in step 1 cannot see (PostgreSQL: the second insert
   waits for the first transaction and then fails; SQLite: ``BEGIN IMMEDIATE`` already
   serialised the two), and the loser gets the same ConflictError.

The stored event is the JSON the domain parsed (``event_from_dict``), so replaying the rows
rebuilds the same log. Monitoring rules come from the caller (the catalog's) with the clinic's
own thresholds as recorded when the session was opened (``alert_thresholds``, see
:class:`~ketaplan.services.clinic_settings.ChartRules`): alerts are derived on replay, not
stored, and a later settings change does not rewrite the alerts of a chart already taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.monitoring import MonitoringRules
from ketaplan.clinical.session import SessionLog, append, event_from_dict, replay, summarise
from ketaplan.errors import ConflictError, InputError
from ketaplan.services.actors import Actor
from ketaplan.services.clinic_settings import (
    ChartRules,
    clinic_alert_thresholds,
    clinic_chart_rules,
)
from ketaplan.services.courses import find_course
from ketaplan.services.orders import newest_active_order, require_active
from ketaplan.services.patients import current_profile, find_in_clinic, find_patient
from ketaplan.services.plans import find_plan
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import InfusionSession, SessionEvent


@dataclass(frozen=True, slots=True)
class SessionChart:
    """A session's chart as of its last event: how many events, and what they add up to."""

    session_id: int
    patient_id: int
    seq: int
    events: tuple[dict[str, Any], ...]
    summary: dict[str, object]

    @property
    def state(self) -> object:
        return self.summary["state"]


def find_session(uow: UnitOfWork, session_id: int, actor: Actor) -> InfusionSession:
    """A session of a patient in the actor's clinic."""
    return find_in_clinic(uow, InfusionSession, session_id, actor, "session")


_EVENTS = cast(Table, SessionEvent.__table__)
# Built once: charting appends an event to a chart of ~20 on every request, and building these
# per request (and loading the rows as ORM objects) cost more than replaying the chart.
_STORED_EVENTS = (
    select(_EVENTS.c.data)
    .where(_EVENTS.c.session_id == bindparam("session_id"))
    .order_by(_EVENTS.c.seq)
)
_INSERT_EVENT = insert(_EVENTS)


def _stored_events(uow: UnitOfWork, session_id: int) -> list[dict[str, Any]]:
    """The chart's events as stored (their JSON), in order."""
    found = uow.session.connection().execute(_STORED_EVENTS, {"session_id": session_id})
    return list(found.scalars())


def _replayed(
    events: Sequence[Mapping[str, Any]], session: InfusionSession, rules: ChartRules
) -> SessionLog:
    return replay((event_from_dict(data) for data in events), rules.for_session(session))


def _chart(
    session: InfusionSession, events: Sequence[Mapping[str, Any]], log: SessionLog
) -> SessionChart:
    summary = summarise(log, session.weight_kg).to_dict()
    return SessionChart(
        session.id, session.patient_id, len(events), tuple(dict(e) for e in events), summary
    )


def open_session(
    uow: UnitOfWork,
    patient_id: int,
    *,
    condition: str,
    actor: Actor,
    catalog: Catalog,
    course_id: int | None = None,
    plan_id: int | None = None,
    number: int | None = None,
) -> SessionChart:
    """Open an empty chart for an infusion, at the patient's current weight, on an active
    order signed by a prescriber: ``plan_id`` when given (it must be active), otherwise the
    patient's newest active order for the protocol, which for a course is the course's
    newest (a titration decision's order supersedes the one the course started on)."""
    protocol = catalog.protocol(condition)
    doing = "opening a session"
    with uow:
        _version, profile = current_profile(uow, patient_id, actor)
        weight_kg = float(profile["weight_kg"])
        course = find_course(uow, course_id, actor) if course_id is not None else None
        plan = find_plan(uow, plan_id, actor) if plan_id is not None else None
        for kind, found in (("course", course), ("plan", plan)):
            if found is not None and found.patient_id != patient_id:
                raise InputError(
                    f"{kind} {found.id} belongs to another patient",
                    code="input.wrong_patient",
                    fields={f"{kind}_id": found.id},
                )
        if course is not None and course.protocol_key != protocol.key:
            raise InputError(
                f"course {course.id} is a {course.protocol_key} course, not {protocol.key}",
                code="input.wrong_course",
                fields={"course_id": course.id},
            )
        if plan is not None:
            if plan.condition != protocol.key:
                raise InputError(
                    f"plan {plan.id} is a {plan.condition} plan, not {protocol.key}",
                    code="input.wrong_plan",
                    fields={"plan_id": plan.id},
                )
            require_active(uow, plan, doing)
        else:
            plan = newest_active_order(uow, patient_id, protocol.key, doing)
        plan_id = plan.id
        row = InfusionSession(
            patient_id=patient_id,
            course_id=course_id,
            plan_id=plan_id,
            number=number,
            protocol_key=protocol.key,
            category=protocol.category,
            weight_kg=weight_kg,
            created_at=uow.clock(),
            created_by=actor.user_id,
            alert_thresholds=clinic_alert_thresholds(uow, actor, protocol.category),
        )
        uow.session.add(row)
        uow.session.flush()
        uow.audit(
            actor,
            "session.open",
            "session",
            row.id,
            patient_id=patient_id,
            details={
                "protocol": protocol.key,
                "course_id": course_id,
                "plan_id": plan_id,
                "number": number,
            },
        )
        uow.commit()
        return SessionChart(row.id, patient_id, 0, (), summarise(SessionLog(), weight_kg).to_dict())


def _moved_on(session_id: int, expected_seq: int, seq: int) -> ConflictError:
    return ConflictError(
        f"session {session_id}'s chart has {seq} events, but this event was charted after "
        f"event {expected_seq}: someone else charted in the meantime; reload the chart and "
        "chart the event again if it is still right",
        code="conflict.chart_moved_on",
        fields={"session_id": session_id, "expected_seq": expected_seq, "seq": seq},
    )


def append_session_event(
    uow: UnitOfWork,
    session_id: int,
    event: Mapping[str, object],
    *,
    expected_seq: int,
    actor: Actor,
    monitoring: MonitoringRules,
) -> SessionChart:
    """Chart one event (its JSON form) after the ``expected_seq`` events the caller has seen."""
    if isinstance(expected_seq, bool) or not isinstance(expected_seq, int) or expected_seq < 0:
        raise InputError(
            f"expected_seq {expected_seq!r} must be the number of events already seen (0 or more)",
            code="input.out_of_range",
            fields={"field": "expected_seq"},
        )
    with uow:
        session = find_session(uow, session_id, actor)
        stored = _stored_events(uow, session_id)
        if len(stored) != expected_seq:
            raise _moved_on(session_id, expected_seq, len(stored))
        parsed = event_from_dict(event)
        rules = clinic_chart_rules(uow, actor, monitoring)
        log = append(_replayed(stored, session, rules), parsed)  # refusals raise here
        data = dict(event)
        try:
            uow.session.connection().execute(
                _INSERT_EVENT,
                {
                    "session_id": session_id,
                    "seq": expected_seq + 1,
                    "kind": parsed.kind,
                    "at": parsed.at.astimezone(UTC),
                    "data": data,
                    "recorded_at": uow.clock(),
                    "recorded_by": actor.user_id,
                },
            )
        except IntegrityError as lost:
            raise _moved_on(session_id, expected_seq, expected_seq + 1) from lost
        uow.audit(
            actor,
            "session.event.append",
            "session",
            session_id,
            patient_id=session.patient_id,
            details={"seq": expected_seq + 1, "kind": parsed.kind, "state": log.state.state},
        )
        uow.commit()
        return _chart(session, [*stored, data], log)


def read_chart(uow: UnitOfWork, session: InfusionSession, rules: ChartRules) -> SessionChart:
    """The session's stored events replayed into its chart, inside the caller's transaction
    (which audits the read)."""
    stored = _stored_events(uow, session.id)
    return _chart(session, stored, _replayed(stored, session, rules))


def get_session_chart(
    uow: UnitOfWork, session_id: int, *, actor: Actor, monitoring: MonitoringRules
) -> SessionChart:
    """The chart and what it adds up to (delivered dose, alerts...); the read is audited."""
    with uow:
        session = find_session(uow, session_id, actor)
        chart = read_chart(uow, session, clinic_chart_rules(uow, actor, monitoring))
        uow.audit(
            actor,
            "session.read",
            "session",
            session_id,
            patient_id=session.patient_id,
            details={"seq": chart.seq},
        )
        uow.commit()
        return chart


@dataclass(frozen=True, slots=True)
class SessionListing:
    """A line of a patient's session list: which session, for what, and how far charted."""

    session_id: int
    patient_id: int
    course_id: int | None
    plan_id: int | None
    number: int | None
    protocol_key: str
    events: int
    created_at: datetime


MAX_LISTED = 200


def list_sessions(uow: UnitOfWork, patient_id: int, *, actor: Actor) -> list[SessionListing]:
    """The patient's sessions, newest first, with how many events each chart has; audited."""
    with uow:
        find_patient(uow, patient_id, actor)
        counts = (
            select(SessionEvent.session_id, func.count().label("events"))
            .group_by(SessionEvent.session_id)
            .subquery()
        )
        found = [
            SessionListing(
                row.id,
                row.patient_id,
                row.course_id,
                row.plan_id,
                row.number,
                row.protocol_key,
                events or 0,
                row.created_at,
            )
            for row, events in uow.session.execute(
                select(InfusionSession, counts.c.events)
                .outerjoin(counts, counts.c.session_id == InfusionSession.id)
                .where(InfusionSession.patient_id == patient_id)
                .order_by(InfusionSession.id.desc())
                .limit(MAX_LISTED)
            )
        ]
        uow.audit(
            actor,
            "session.list",
            "patient",
            patient_id,
            patient_id=patient_id,
            details={"session_ids": [s.session_id for s in found]},
        )
        uow.commit()
        return found
