"""The fold of a session chart: the state each event leads to, and what the next may be.

:func:`apply` is the one step of the fold (sequence rules, vital-sign and pump alerts, alerts
a later reading resolves); :func:`check_terms` the refusals a chart checked against its
:class:`~ketaplan.clinical.chart_rules.ChartTerms` adds (the start's and the discharge's
criteria, :func:`start_blockers`, :func:`discharge_blockers`). The log that folds events with
them, corrections included, is :mod:`ketaplan.clinical.session`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from ketaplan.clinical.chart_events import (
    CHECKLIST_WORDS,
    INFUSION_EVENTS,
    Adjunct,
    CheckIn,
    Correction,
    Discharge,
    Event,
    HoldOverride,
    Note,
    Pause,
    RateChange,
    Resume,
    SideEffect,
    Start,
    Stop,
    TolerabilityRated,
    VitalsTaken,
)
from ketaplan.clinical.chart_rules import (
    Blocker,
    ChartTerms,
    Segment,
    concentration_problem,
    pump_alerts,
    resolve_pump_alerts,
)
from ketaplan.clinical.monitoring import (
    Alert,
    MonitoringRule,
    Phase,
    VitalSigns,
    check_vitals,
    resolve_alerts,
)
from ketaplan.errors import (
    ConflictError,
    HardLimitExceeded,
    InputError,
    SafetyLimitError,
)

State = Literal["checked_in", "infusing", "paused", "stopped", "discharged"]

PRE_INFUSION_VITALS = ("systolic_mmhg", "heart_rate_bpm", "spo2_pct")
"""Readings a start needs first (blood pressure as a pair, heart rate, SpO2), in one set."""
_VITAL_WORDS = "blood pressure, heart rate and SpO2"


class SessionSequenceError(ConflictError):
    """An event that cannot follow the ones before it (resume without pause, start twice...)."""

    default_code = "session.impossible_sequence"


@dataclass(frozen=True, slots=True)
class SessionState:
    """The fold's running state; every field follows from the (non-voided) events so far."""

    state: State = "checked_in"
    started_at: datetime | None = None
    last_at: datetime | None = None
    rate_ml_per_h: float | None = None
    concentration_mg_per_ml: float | None = None
    segment_from: datetime | None = None
    segments: tuple[Segment, ...] = ()
    pauses: int = 0
    rate_changes: int = 0
    alerts: tuple[Alert, ...] = ()
    side_effects: tuple[SideEffect, ...] = ()
    adjuncts: tuple[Adjunct, ...] = ()
    completed: bool | None = None
    tolerability_rating: int | None = None
    stopped_at: datetime | None = None
    stop_reason: str = ""
    pre_infusion_vitals: bool = False
    """A set of pre-infusion readings with blood pressure, heart rate and SpO2 was charted."""
    hold_lifted_at: datetime | None = None
    """When a prescriber last overrode the holds on the start."""
    recovery_vitals: frozenset[str] = frozenset()
    """The vitals read after the stop."""


def _minutes(start: datetime, at: datetime) -> float:
    return (at.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 60.0


def close_segment(state: SessionState, at: datetime) -> tuple[Segment, ...]:
    """The segments with the running one closed at ``at`` (zero-length stretches dropped)."""
    if state.state != "infusing" or state.segment_from is None or state.started_at is None:
        return state.segments
    assert state.rate_ml_per_h is not None
    assert state.concentration_mg_per_ml is not None
    begin = _minutes(state.started_at, state.segment_from)
    end = _minutes(state.started_at, at)
    if end <= begin:
        return state.segments
    rate_mg_per_h = state.rate_ml_per_h * state.concentration_mg_per_ml
    return (*state.segments, Segment(begin, end, rate_mg_per_h))


def refusal(event: Event, state: SessionState, why: str) -> SessionSequenceError:
    """The error for an event that cannot follow the chart so far (``field``: its type, the
    control a console shows the refusal beside)."""
    return SessionSequenceError(
        f"{event.kind} at {event.at.isoformat()} refused: {why}",
        fields={
            "field": event.kind,
            "event": event.kind,
            "at": event.at.isoformat(),
            "state": state.state,
        },
    )


def _phase(state: SessionState) -> Phase:
    if state.state == "checked_in":
        return "pre_infusion"
    if state.state in ("infusing", "paused"):
        return "in_infusion"
    return "recovery"


def _read(
    state: SessionState, vitals: VitalSigns, rules: Sequence[MonitoringRule], at: datetime
) -> SessionState:
    """The state after a set of readings at ``at``: alerts it resolves and raises, what it
    shows."""
    phase = _phase(state)
    alerts = resolve_alerts(state.alerts, vitals, rules, at) + check_vitals(
        vitals, phase, rules, at
    )
    readings = vitals.readings()
    pre = state.pre_infusion_vitals or (
        phase == "pre_infusion" and all(v in readings for v in PRE_INFUSION_VITALS)
    )
    recovery = state.recovery_vitals
    if phase == "recovery":
        recovery = recovery | frozenset(readings)
    return replace(
        state, last_at=at, alerts=alerts, pre_infusion_vitals=pre, recovery_vitals=recovery
    )


def active_holds(state: SessionState) -> tuple[Alert, ...]:
    """The *hold the start* alerts in force: not resolved by a later reading, not overridden."""
    lifted = state.hold_lifted_at
    return tuple(
        a
        for a in state.alerts
        if a.action == "hold_start" and a.resolved_at is None and (lifted is None or a.at > lifted)
    )


def apply(
    state: SessionState,
    event: Event,
    rules: Sequence[MonitoringRule] = (),
    terms: ChartTerms | None = None,
) -> SessionState:
    """The state after one more event, or an error; the given state is never changed.

    Each event makes one new state (``last_at`` set with the rest): a page replays some 300
    events, and building the state is most of the fold's work."""
    if state.state == "discharged":
        raise refusal(event, state, "the patient was discharged; the chart is closed")
    if state.last_at is not None and _minutes(state.last_at, event.at) < 0:
        raise InputError(
            f"{event.kind} at {event.at.isoformat()} is before the previous event at "
            f"{state.last_at.isoformat()}; time cannot go backwards",
            code="input.time_backwards",
            fields={"field": "at", "event": event.kind, "at": event.at.isoformat()},
        )
    if state.state == "stopped" and isinstance(event, INFUSION_EVENTS):
        raise refusal(event, state, "the infusion was stopped; only recovery charting follows")
    at = event.at
    match event:
        case Start():
            if state.state != "checked_in":
                raise refusal(event, state, "the infusion has already started")
            rate, concentration = event.rate_ml_per_h, event.concentration_mg_per_ml
            alerts = pump_alerts(at, rate, concentration, terms, "start") if terms else ()
            return replace(
                state,
                last_at=at,
                state="infusing",
                started_at=at,
                segment_from=at,
                rate_ml_per_h=rate,
                concentration_mg_per_ml=concentration,
                alerts=state.alerts + alerts,
            )
        case RateChange():
            if state.state not in ("infusing", "paused"):
                raise refusal(event, state, "there is no running infusion to change")
            alerts = state.alerts
            strength = state.concentration_mg_per_ml
            if terms is not None and strength is not None:
                new_rate = event.rate_ml_per_h
                alerts = resolve_pump_alerts(alerts, at, new_rate, strength, terms)
                alerts += pump_alerts(at, new_rate, strength, terms, "rate")
            if state.state == "paused":  # the new rate takes effect on resume
                return replace(
                    state,
                    last_at=at,
                    rate_ml_per_h=event.rate_ml_per_h,
                    rate_changes=state.rate_changes + 1,
                    alerts=alerts,
                )
            return replace(
                state,
                last_at=at,
                rate_ml_per_h=event.rate_ml_per_h,
                rate_changes=state.rate_changes + 1,
                alerts=alerts,
                segments=close_segment(state, at),
                segment_from=at,
            )
        case Pause():
            if state.state != "infusing":
                raise refusal(event, state, "only a running infusion can be paused")
            return replace(
                state,
                last_at=at,
                state="paused",
                segments=close_segment(state, at),
                segment_from=None,
                pauses=state.pauses + 1,
            )
        case Resume():
            if state.state != "paused":
                raise refusal(event, state, "resume needs a paused infusion")
            return replace(state, last_at=at, state="infusing", segment_from=at)
        case Stop():
            if state.state not in ("infusing", "paused"):
                raise refusal(event, state, "there is no infusion to stop")
            return replace(
                state,
                last_at=at,
                state="stopped",
                segments=close_segment(state, at),
                segment_from=None,
                completed=event.completed,
                stopped_at=at,
                stop_reason=event.reason,
            )
        case CheckIn():
            if state.state != "checked_in" or state.last_at is not None:
                raise refusal(event, state, "check-in comes first, once")
            return _read(state, event.vitals, rules, at)
        case VitalsTaken():
            return _read(state, event.vitals, rules, at)
        case SideEffect():
            alerts = state.alerts
            if event.severity == "severe":
                todo = (
                    "pause or lower the infusion, stay with the patient and call the prescriber"
                    if state.state in ("infusing", "paused")
                    else "stay with the patient and call the prescriber"
                )
                alerts = (
                    *alerts,
                    Alert(
                        code="side_effect.severe",
                        message=f"severe {event.name}: {todo}",
                        at=at,
                        action="call_prescriber",
                        source="clinic_policy",
                    ),
                )
            return replace(
                state, last_at=at, side_effects=(*state.side_effects, event), alerts=alerts
            )
        case Adjunct():
            return replace(state, last_at=at, adjuncts=(*state.adjuncts, event))
        case TolerabilityRated():
            return replace(state, last_at=at, tolerability_rating=event.rating)
        case Note():
            return replace(state, last_at=at)
        case HoldOverride():
            if state.state != "checked_in":
                raise refusal(event, state, "a hold override lifts a hold on the start")
            if not active_holds(state):
                raise refusal(event, state, "there is no hold on the start to override")
            return replace(state, last_at=at, hold_lifted_at=at)
        case Discharge():
            if state.state != "stopped":
                raise refusal(event, state, "discharge follows the end of the infusion")
            return replace(state, last_at=at, state="discharged")
        case Correction():
            raise refusal(event, state, "a correction is appended to a log, not folded")
    raise InputError(f"unknown event {event!r}", code="input.unknown_event")  # pragma: no cover


# ------------------------------------------------------------------------ criteria ----


def start_blockers(state: SessionState) -> tuple[Blocker, ...]:
    """Why a start would be refused now (a chart checked against its terms)."""
    if state.state != "checked_in":
        return ()
    found = []
    if not state.pre_infusion_vitals:
        found.append(
            Blocker(
                "session.no_pre_infusion_vitals",
                f"chart the pre-infusion vitals ({_VITAL_WORDS}) before the start",
                "check_in",
            )
        )
    found += [
        Blocker(
            "session.start_on_hold",
            f"the start is on hold: {hold.message}; start when a new reading is back within "
            "limits, or when a prescriber overrides the hold with a reason",
            "hold_override",
        )
        for hold in active_holds(state)
    ]
    return tuple(found)


def discharge_from(state: SessionState, terms: ChartTerms | None) -> datetime | None:
    """The earliest discharge: the protocol's recovery time after the stop."""
    if state.stopped_at is None or terms is None:
        return None
    return state.stopped_at + timedelta(minutes=terms.recovery_min)


def discharge_blockers(
    state: SessionState, terms: ChartTerms | None, at: datetime | None
) -> tuple[Blocker, ...]:
    """Why a discharge at ``at`` would be refused (the checklist is the discharge's own)."""
    if state.state != "stopped":
        return ()
    found = []
    ready = discharge_from(state, terms)
    if ready is not None and (at is None or at < ready):
        assert state.stopped_at is not None
        assert terms is not None
        found.append(
            Blocker(
                "session.recovery_time",
                f"recovery is {terms.recovery_min:g} min after the stop at "
                f"{state.stopped_at:%H:%M}: discharge from {ready:%H:%M}",
                "at",
            )
        )
    missing = [v for v in PRE_INFUSION_VITALS if v not in state.recovery_vitals]
    if missing:
        found.append(
            Blocker(
                "session.no_recovery_vitals",
                f"chart vitals after the stop ({_VITAL_WORDS}) before the discharge",
                "vitals_within_limits",
            )
        )
    stopped = state.stopped_at
    found += [
        Blocker(
            "session.recovery_vitals_out_of_limits",
            f"{alert.message}; discharge when a new reading is back within limits",
            "vitals_within_limits",
        )
        for alert in state.alerts
        if alert.code.startswith("vitals.")
        and alert.resolved_at is None
        and stopped is not None
        and alert.at >= stopped
    ]
    return tuple(found)


def check_terms(state: SessionState, event: Event, terms: ChartTerms) -> None:
    """Refuse an event the chart's terms do not allow (the fold checks the sequence)."""
    if isinstance(event, Start) and state.state == "checked_in":
        blockers = start_blockers(state)
        if blockers:
            first = blockers[0]
            error = SessionSequenceError if first.field == "check_in" else SafetyLimitError
            raise error(
                "start refused: " + "; ".join(b.message for b in blockers),
                code=first.code,
                fields={"field": first.field, "blockers": [b.to_dict() for b in blockers]},
            )
        wrong = concentration_problem(event.concentration_mg_per_ml, terms)
        if wrong is not None:
            error = (
                HardLimitExceeded
                if wrong.code == "session.concentration_above_max"
                else SafetyLimitError
            )
            raise error(
                f"start refused: {wrong.message}",
                code=wrong.code,
                fields={"field": wrong.field, "value": event.concentration_mg_per_ml},
            )
    if isinstance(event, Discharge) and state.state == "stopped":
        blockers = discharge_blockers(state, terms, event.at)
        if blockers:
            raise SafetyLimitError(
                "discharge refused: " + "; ".join(b.message for b in blockers),
                code=blockers[0].code,
                fields={"field": blockers[0].field, "blockers": [b.to_dict() for b in blockers]},
            )
        unticked = event.unticked()
        if unticked:
            raise InputError(
                "discharge refused: the checklist is not complete: "
                + "; ".join(CHECKLIST_WORDS[box] for box in unticked),
                code="session.discharge_checklist",
                fields={"field": unticked[0], "unticked": list(unticked)},
            )
