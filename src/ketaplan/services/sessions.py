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
:class:`~ketaplan.services.clinic_policy.ChartRules`): alerts are derived on replay, not
stored, and a later settings change does not rewrite the alerts of a chart already taken.

Every chart is checked against its :class:`~ketaplan.clinical.chart_rules.ChartTerms`
(:func:`chart_terms`): the session's weight, the clinic's most concentrated bag, the protocol's
mg/kg/h limits and recovery time, and the order it was opened on (its bag and pump program). A
new event is checked against them and the clock (no event more than a few minutes ahead); the
stored events are folded as they were accepted (``checked=False``), so a chart taken before a
rule existed still reads back. A hold override is a prescriber's; a discharge stores who
ticked its checklist (``checked_by``), written here, never taken from the client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from ketaplan.clinical.chart_rules import ChartTerms, OrderTerms
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.session import (
    SessionLog,
    SessionSummary,
    State,
    append,
    event_from_dict,
    replay,
    summarise,
)
from ketaplan.errors import ConflictError, InputError
from ketaplan.services.actors import Actor, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.clinic_policy import (
    ChartRules,
    clinic_alert_thresholds,
    clinic_chart_rules,
)
from ketaplan.services.courses import find_course
from ketaplan.services.listing import Listed, Window, audited_patient_listing
from ketaplan.services.orders import newest_active_order, require_active
from ketaplan.services.patients import current_profile, find_in_clinic
from ketaplan.services.plans import find_plan
from ketaplan.services.staff_names import names_by_email
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import InfusionPlan, InfusionSession, SessionEvent


@dataclass(frozen=True, slots=True)
class SessionChart:
    """A session's chart as of its last event: how many events, and what they add up to.

    ``summary`` is the domain's value (state, delivered dose, alerts with their advice, what
    may be charted next); each entry point turns it into its own form once, at its edge.
    """

    session_id: int
    patient_id: int
    seq: int
    events: tuple[dict[str, Any], ...]
    summary: SessionSummary
    staff_names: Mapping[str, str] = field(default_factory=dict)
    """Who ticked a discharge checklist (stored as their e-mail, ``checked_by``) as pages
    name them (:mod:`ketaplan.services.staff_names`); filled by :func:`read_chart`."""

    @property
    def state(self) -> State:
        return self.summary.state


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
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)


def _stored_events(uow: UnitOfWork, session_id: int) -> list[dict[str, Any]]:
    """The chart's events as stored (their JSON), in order."""
    found = uow.db.connection().execute(_STORED_EVENTS, {"session_id": session_id})
    return list(found.scalars())


def order_terms_of(plan: InfusionPlan | None) -> OrderTerms | None:
    """The bag and pump program a plan row orders (None: no plan, or no preparation in it)."""
    if plan is None:
        return None
    body = plan.plan or {}
    preparation = body.get("preparation")
    dose = body.get("dose") or {}
    if not isinstance(preparation, dict):
        return None
    try:
        return OrderTerms(
            order_id=plan.id,
            concentration_mg_per_ml=float(preparation["final_mg_per_ml"]),
            rate_ml_per_h=float(preparation["pump_rate_ml_per_h"]),
            ordered_mg=float(dose.get("total_mg", plan.total_mg)),
            bag_mg=float(preparation["drawn_mg"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def chart_terms(uow: UnitOfWork, session: InfusionSession, policy: ClinicPolicy) -> ChartTerms:
    """What the session's chart is checked against, inside an open unit of work: the
    clinic's maximum concentration, the protocol's limits and recovery time, the order."""
    # The session's plan was checked to be its patient's when it was opened.
    plan = uow.db.get(InfusionPlan, session.plan_id) if session.plan_id is not None else None
    return chart_terms_with(session, plan, policy)


def chart_terms_with(
    session: InfusionSession, plan: InfusionPlan | None, policy: ClinicPolicy
) -> ChartTerms:
    """:func:`chart_terms` with the session's order (``plan``, None without one) already read:
    a reader of many sessions reads each of their orders once (the chair board,
    :func:`~ketaplan.services.chart_replays.replay_charts`)."""
    protocol = policy.catalog.protocol(session.protocol_key)
    limits = protocol.limits
    return ChartTerms(
        weight_kg=session.weight_kg,
        max_concentration_mg_per_ml=policy.max_concentration_mg_per_ml,
        hard_max_mg_per_kg_per_h=limits.hard_max_mg_per_kg_per_h,
        soft_max_mg_per_kg_per_h=limits.soft_max_mg_per_kg_per_h,
        recovery_min=protocol.recovery_min,
        order=order_terms_of(plan),
    )


def stored_events(
    uow: UnitOfWork, session_ids: Sequence[int]
) -> dict[int, list[tuple[datetime, dict[str, Any]]]]:
    """Each session's charted events (when, and the stored JSON), in order, read in one
    statement as columns rather than objects (a course's pages read some 300 of them)."""
    events: dict[int, list[tuple[datetime, dict[str, Any]]]] = {i: [] for i in session_ids}
    for session_id, at, data in uow.db.execute(
        select(SessionEvent.session_id, SessionEvent.at, SessionEvent.data)
        .where(SessionEvent.session_id.in_(session_ids))
        .order_by(SessionEvent.session_id, SessionEvent.seq)
    ):
        events[session_id].append((at, data))
    return events


def replay_stored(
    events: Sequence[Mapping[str, Any]],
    session: InfusionSession,
    rules: ChartRules,
    terms: ChartTerms | None,
) -> SessionLog:
    """A session's stored events (their JSON) folded as they were accepted when charted."""
    return replay(
        (event_from_dict(data, stored=True) for data in events),
        rules.for_session(session),
        terms,
        checked=False,
    )


def _chart(
    session: InfusionSession,
    events: Sequence[Mapping[str, Any]],
    log: SessionLog,
    now: datetime | None = None,
) -> SessionChart:
    summary = summarise(log, session.weight_kg, now)
    return SessionChart(
        session.id, session.patient_id, len(events), tuple(dict(e) for e in events), summary
    )


def open_session(
    uow: UnitOfWork,
    patient_id: int,
    *,
    condition: str,
    actor: Actor,
    policy: ClinicPolicy,
    course_id: int | None = None,
    plan_id: int | None = None,
    number: int | None = None,
) -> SessionChart:
    """Open an empty chart for an infusion, at the patient's current weight, on an active
    order signed by a prescriber: ``plan_id`` when given (it must be active), otherwise the
    patient's newest active order for the protocol, which for a course is the course's
    newest (a titration decision's order supersedes the one the course started on)."""
    require_clinical_facts(actor, "a session's chart")
    protocol = policy.catalog.protocol(condition)
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
        uow.db.add(row)
        uow.db.flush()
        uow.audit(
            actor,
            AuditAction.SESSION_OPEN,
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
        terms = chart_terms(uow, row, policy)
        uow.commit()
        empty = SessionLog(rules=(), terms=terms)
        return SessionChart(row.id, patient_id, 0, (), summarise(empty, weight_kg))


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
    policy: ClinicPolicy,
) -> SessionChart:
    """Chart one event (its JSON form) after the ``expected_seq`` events the caller has seen.

    Refused, writing nothing: an event the domain refuses (sequence, the chart's terms, a time
    more than a few minutes after the clock), a hold override by anyone but a prescriber.
    """
    require_clinical_facts(actor, "a session's chart")
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
        if parsed.kind == "hold_override":
            require_role(actor, ("prescriber",), "overriding a hold on the start")
        rules = clinic_chart_rules(uow, actor, policy.monitoring)
        terms = chart_terms(uow, session, policy)
        now = uow.clock()
        log = append(replay_stored(stored, session, rules, terms), parsed, now)  # refusals raise
        data = dict(event)
        if parsed.kind == "discharge":
            data["checked_by"] = actor.email
        try:
            event_id = (
                uow.db.connection()
                .execute(
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
                .scalar_one()
            )
        except IntegrityError as lost:
            raise _moved_on(session_id, expected_seq, expected_seq + 1) from lost
        uow.wrote(SessionEvent, event_id)
        uow.audit(
            actor,
            AuditAction.SESSION_EVENT_APPEND,
            "session",
            session_id,
            patient_id=session.patient_id,
            details={"seq": expected_seq + 1, "kind": parsed.kind, "state": log.state.state},
        )
        uow.commit()
        return _chart(session, [*stored, data], log, now)


def read_chart(
    uow: UnitOfWork,
    session: InfusionSession,
    rules: ChartRules,
    *,
    actor: Actor,
    policy: ClinicPolicy,
) -> SessionChart:
    """The session's stored events replayed into its chart, inside the caller's transaction
    (which audits the read), checked against the same terms as its events were (discharge
    criteria as of the clock)."""
    chart, _terms, _log = read_folded_chart(uow, session, rules, actor=actor, policy=policy)
    return chart


def read_folded_chart(
    uow: UnitOfWork,
    session: InfusionSession,
    rules: ChartRules,
    *,
    actor: Actor,
    policy: ClinicPolicy,
) -> tuple[SessionChart, ChartTerms, SessionLog]:
    """:func:`read_chart`, with the terms it was checked against and the fold it was read
    from, for a read that derives more from the chart (the console's prediction): reading
    the terms again was a second statement for the order, and folding again a second fold."""
    stored = _stored_events(uow, session.id)
    terms = chart_terms(uow, session, policy)
    log = replay_stored(stored, session, rules, terms)
    chart = _chart(session, stored, log, uow.clock())
    checkers = {str(e["checked_by"]) for e in stored if e.get("checked_by")}
    if checkers:
        chart = replace(chart, staff_names=names_by_email(uow.db, checkers))
    return chart, terms, log


def get_session_chart(
    uow: UnitOfWork,
    session_id: int,
    *,
    actor: Actor,
    policy: ClinicPolicy,
) -> SessionChart:
    """The chart and what it adds up to (delivered dose, alerts...); the read is audited."""
    require_clinical_facts(actor, "a session's chart")
    with uow.reading():
        session = find_session(uow, session_id, actor)
        rules = clinic_chart_rules(uow, actor, policy.monitoring)
        chart = read_chart(uow, session, rules, actor=actor, policy=policy)
        uow.audit(
            actor,
            AuditAction.SESSION_READ,
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


FIRST_PAGE = Window(MAX_LISTED)
"""The page a caller that names none gets (the newest)."""


def list_sessions(
    uow: UnitOfWork, patient_id: int, *, actor: Actor, window: Window = FIRST_PAGE
) -> Listed[SessionListing]:
    """A page of the patient's sessions, newest first, with how many events each chart has,
    and how many sessions there are; audited."""
    require_clinical_facts(actor, "a patient's sessions")
    counts = (  # only this patient's charts: the cost follows the patient, not the clinic
        select(SessionEvent.session_id, func.count().label("events"))
        .join(InfusionSession, InfusionSession.id == SessionEvent.session_id)
        .where(InfusionSession.patient_id == patient_id)
        .group_by(SessionEvent.session_id)
        .subquery()
    )
    newest_first = (
        select(InfusionSession, counts.c.events)
        .outerjoin(counts, counts.c.session_id == InfusionSession.id)
        .where(InfusionSession.patient_id == patient_id)
        .order_by(InfusionSession.id.desc())
        .limit(window.limit)
        .offset(window.offset)
    )
    total = select(func.count()).select_from(InfusionSession)
    total = total.where(InfusionSession.patient_id == patient_id)
    return audited_patient_listing(
        uow,
        patient_id,
        actor=actor,
        action=AuditAction.SESSION_LIST,
        ids_key="session_ids",
        load=lambda _window: (
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
            for row, events in uow.db.execute(newest_first)
        ),
        count=lambda: uow.db.scalar(total) or 0,
        id_of=lambda listed: listed.session_id,
        window=window,
    )
