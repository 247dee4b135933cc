"""Session charting as an append-only event log, and everything derived from it.

A chart is never edited in place (DESIGN: "append events and derive the current state"): the
nurse appends check-in, start, rate changes, pauses, vital signs, side effects, adjuncts, notes,
stop and discharge (the events: :mod:`ketaplan.clinical.chart_events`); :func:`append` returns
a new immutable :class:`SessionLog` or refuses the event, leaving the log as it was. What the
prescriber and the PK simulator need is a pure fold over the events (:func:`summarise`):
delivered mg (the integral of rate x concentration over the infusing time, never more than the
bag holds), infusing minutes, pauses, the state, alerts, and the infusion segments
``(start_min, end_min, rate_mg_per_h)``.

States::

    checked_in ──start──► infusing ◄──resume── paused
         ▲                    │ └────pause──────►│
    (first event)             └──stop──► stopped ◄┘──stop
                                           │ (recovery: vitals, side effects, notes)
                                           └──discharge──► discharged (nothing after)

After ``stop`` the infusion is over: start, rate, pause, resume and stop are refused, while
recovery charting (vitals every 15 min, Dunlop; side effects, adjuncts, the tolerability rating,
notes) and discharge are accepted. After ``discharge`` every event is refused.

A ``correction`` voids a mistaken entry by its number: nothing is deleted, and the state, the
dose and the alerts are those of the chart without it (:data:`~ketaplan.clinical.chart_rules.
VOIDABLE` says what may be voided).

Refusals: an event before the previous one (time going backwards), a naive timestamp, a rate
or concentration <= 0 are input errors; an impossible sequence (resume without pause, start
twice, an infusion event after stop, anything after discharge) is a
:class:`SessionSequenceError`, a :class:`~ketaplan.errors.ConflictError`. A chart checked
against :class:`~ketaplan.clinical.chart_rules.ChartTerms` also refuses what
:mod:`ketaplan.clinical.chart_rules` lists (the start's and the discharge's criteria), and
with ``now`` given, an event time in the future.

Examples
--------
>>> from datetime import datetime, timedelta, timezone
>>> t0 = datetime(2026, 12, 7, 9, 0, tzinfo=timezone(timedelta(hours=-8)))
>>> log = SessionLog()
>>> log = append(log, Start(t0, rate_ml_per_h=150, concentration_mg_per_ml=0.35))
>>> log = append(log, Stop(t0 + timedelta(minutes=40)))
>>> summary = summarise(log, weight_kg=70)
>>> round(summary.delivered_mg, 6), summary.infusing_min, summary.state
(35.0, 40.0, 'stopped')
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ketaplan.clinical.chart_events import (
    CHECKLIST,
    KNOWN_SIDE_EFFECTS,
    SEVERITIES,
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
    SideEffectSeverity,
    Start,
    Stop,
    TolerabilityRated,
    VitalsTaken,
    event_from_dict,
    positive_number,
)
from ketaplan.clinical.chart_fold import (
    SessionSequenceError,
    SessionState,
    State,
    active_holds,
    apply,
    check_terms,
    close_segment,
    discharge_blockers,
    discharge_from,
    refusal,
    start_blockers,
)
from ketaplan.clinical.chart_rules import (
    Blocker,
    ChartTerms,
    OrderTerms,
    Segment,
    allowed_events,
    capped,
    check_not_future,
    check_voidable,
    dose_alerts,
)
from ketaplan.clinical.monitoring import Alert, MonitoringRule
from ketaplan.errors import InputError, KetaplanError

__all__ = [
    "CHECKLIST",
    "KNOWN_SIDE_EFFECTS",
    "SEVERITIES",
    "Adjunct",
    "ChartTerms",
    "CheckIn",
    "Correction",
    "Discharge",
    "Event",
    "HoldOverride",
    "Note",
    "OrderTerms",
    "Pause",
    "RateChange",
    "Resume",
    "Segment",
    "SessionLog",
    "SessionSequenceError",
    "SessionState",
    "SessionSummary",
    "SideEffect",
    "SideEffectSeverity",
    "Start",
    "State",
    "Stop",
    "TolerabilityRated",
    "VitalsTaken",
    "append",
    "apply",
    "event_from_dict",
    "infusion_segments",
    "read_event_lines",
    "replay",
    "summarise",
]

# ---------------------------------------------------------------------------- log ----


@dataclass(frozen=True, slots=True)
class SessionLog:
    """The append-only chart: every event charted, and the state the non-voided ones fold to.

    ``rules`` are the monitoring rules of the protocol's category, so that the alerts a
    reading raised are part of the chart from the moment it was appended; ``terms`` what the
    chart is checked against (None: the sequence rules and the vital-sign alerts only).
    ``voided`` holds the 1-based numbers of the events a correction voided.
    """

    events: tuple[Event, ...] = ()
    state: SessionState = field(default_factory=SessionState)
    rules: tuple[MonitoringRule, ...] = ()
    terms: ChartTerms | None = None
    voided: frozenset[int] = frozenset()


def _fold(
    events: Iterable[Event], log: SessionLog, checked: bool, skip: frozenset[int]
) -> SessionState:
    state = SessionState()
    for seq, event in enumerate(events, start=1):
        if seq in skip or isinstance(event, Correction):
            continue
        if checked and log.terms is not None:
            check_terms(state, event, log.terms)
        state = apply(state, event, log.rules, log.terms)
    return state


def _correct(log: SessionLog, correction: Correction, checked: bool) -> SessionLog:
    seq = correction.voids_seq
    if log.state.state == "discharged":
        raise refusal(correction, log.state, "the patient was discharged; the chart is closed")
    if seq > len(log.events):
        raise InputError(
            f"correction refused: the chart has {len(log.events)} entries, no entry {seq}",
            code="input.out_of_range",
            fields={"field": "voids_seq", "value": seq},
        )
    if seq in log.voided:
        raise InputError(
            f"correction refused: entry {seq} is already voided",
            code="session.already_voided",
            fields={"field": "voids_seq", "value": seq},
        )
    later = [
        e
        for n, e in enumerate(log.events[seq:], start=seq + 1)
        if n not in log.voided and not isinstance(e, Correction)
    ]
    check_voidable(log.events[seq - 1].kind, not later, seq)
    voided = log.voided | {seq}
    try:
        state = _fold(log.events, log, checked, voided)
    except KetaplanError as exc:
        raise InputError(
            f"correction refused: without entry {seq} the chart does not hold: {exc.message}",
            code="session.correction_breaks_chart",
            fields={"field": "voids_seq", "value": seq},
        ) from exc
    return replace(log, events=(*log.events, correction), state=state, voided=voided)


def append(
    log: SessionLog, event: Event, now: datetime | None = None, *, checked: bool = True
) -> SessionLog:
    """A new log with ``event`` at its end; a refused event raises and changes nothing.

    With ``now`` an event more than a few minutes after it is refused. ``checked=False``
    folds an event that was accepted when it was charted (a stored chart always reads back,
    whatever the rules have become since): only the sequence rules apply.
    """
    check_not_future(event.at, event.kind, now)
    if isinstance(event, Correction):
        return _correct(log, event, checked)
    if checked and log.terms is not None:
        check_terms(log.state, event, log.terms)
    state = apply(log.state, event, log.rules, log.terms)
    return replace(log, events=(*log.events, event), state=state)


def replay(
    events: Iterable[Event],
    rules: Sequence[MonitoringRule] = (),
    terms: ChartTerms | None = None,
    *,
    now: datetime | None = None,
    checked: bool = True,
) -> SessionLog:
    """Fold a whole list of events into a log (the first refused event raises)."""
    log = SessionLog(rules=tuple(rules), terms=terms)
    for event in events:
        log = append(log, event, now, checked=checked)
    return log


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """What a session delivered and what happened, as of its last event."""

    state: State
    delivered_mg: float
    delivered_mg_per_kg: float
    infusing_min: float
    pauses: int
    rate_changes: int
    segments: tuple[Segment, ...]
    alerts: tuple[Alert, ...]
    side_effects: tuple[SideEffect, ...]
    adjuncts: tuple[Adjunct, ...]
    completed: bool | None
    tolerability_rating: int | None = None
    voided: tuple[int, ...] = ()
    bag_empty: bool = False
    stop_reason: str = ""
    allowed_events: tuple[str, ...] = ()
    start_blockers: tuple[Blocker, ...] = ()
    discharge_blockers: tuple[Blocker, ...] = ()
    discharge_from: datetime | None = None

    @property
    def worst_side_effect(self) -> SideEffectSeverity | None:
        ranks = [SEVERITIES.index(s.severity) for s in self.side_effects]
        return SEVERITIES[max(ranks)] if ranks else None

    @property
    def stopped_early(self) -> bool:
        return self.completed is False

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "delivered_mg": round(self.delivered_mg, 3),
            "delivered_mg_per_kg": round(self.delivered_mg_per_kg, 4),
            "infusing_min": round(self.infusing_min, 2),
            "pauses": self.pauses,
            "rate_changes": self.rate_changes,
            "completed": self.completed,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason or None,
            "tolerability_rating": self.tolerability_rating,
            "segments": [
                [round(s.start_min, 3), round(s.end_min, 3), round(s.rate_mg_per_h, 4)]
                for s in self.segments
            ],
            "bag_empty": self.bag_empty,
            "alerts": [a.to_dict() for a in self.alerts],
            "side_effects": [
                {"name": s.name, "severity": s.severity, "at": s.at.isoformat()}
                for s in self.side_effects
            ],
            "adjuncts": [
                {"drug": a.drug, "dose": a.dose, "at": a.at.isoformat()} for a in self.adjuncts
            ],
            "voided": list(self.voided),
            "allowed_events": list(self.allowed_events),
            "start_blockers": [b.to_dict() for b in self.start_blockers],
            "discharge_blockers": [b.to_dict() for b in self.discharge_blockers],
            "discharge_from": None
            if self.discharge_from is None
            else self.discharge_from.isoformat(),
        }


def _delivery(log: SessionLog) -> tuple[tuple[Segment, ...], bool]:
    state = log.state
    segments = state.segments
    if state.state == "infusing" and state.last_at is not None:
        segments = close_segment(state, state.last_at)
    order = log.terms.order if log.terms is not None else None
    return capped(segments, order.bag_mg if order is not None else None)


def infusion_segments(log: SessionLog) -> tuple[Segment, ...]:
    """The constant-rate stretches so far; one still running is closed at the last event, and
    delivery ends where the order's bag runs empty."""
    return _delivery(log)[0]


def read_event_lines(
    rows: Iterable[str | Mapping[str, object]],
    rules: Sequence[MonitoringRule] = (),
    name: str = "events",
    *,
    terms: ChartTerms | None = None,
    now: datetime | None = None,
) -> SessionLog:
    """A log from JSON Lines text (or already-parsed mappings), one event a row.

    Rows are numbered from 1 as given (blank lines count, so numbers match the file); any
    problem, an impossible sequence or a refusal by ``terms`` included, is an InputError naming
    the row: an invalid log is bad input wherever it comes from.
    """
    log = SessionLog(rules=tuple(rules), terms=terms)
    for number, row in enumerate(rows, start=1):
        if isinstance(row, str) and not row.strip():
            continue
        try:
            data = json.loads(row) if isinstance(row, str) else row
            log = append(log, event_from_dict(data), now)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{name} line {number}: not valid JSON: {exc.msg}",
                code="input.invalid_json",
                fields={"line": number},
            ) from exc
        except KetaplanError as exc:
            raise InputError(
                f"{name} line {number}: {exc.message}",
                code=exc.code,
                fields={**exc.fields, "line": number},
            ) from exc
    if not log.events:
        raise InputError(f"{name}: no events", code="input.missing")
    return log


def summarise(log: SessionLog, weight_kg: float, now: datetime | None = None) -> SessionSummary:
    """Delivered dose and the rest, from the log alone.

    An infusion still running is counted up to the log's last event: the chart knows nothing
    later, and a summary must not guess. Delivery stops where the order's bag runs empty.
    ``discharge_blockers`` are as of ``now`` (default: the last event).
    """
    weight = positive_number(weight_kg, "weight_kg", "session")
    state = log.state
    segments, bag_empty = _delivery(log)
    delivered_mg = math.fsum(s.delivered_mg for s in segments)
    infusing_min = math.fsum(s.end_min - s.start_min for s in segments)
    alerts = state.alerts
    if log.terms is not None:
        extra = dose_alerts(state.started_at, segments, bag_empty, log.terms)
        alerts = tuple(sorted((*alerts, *extra), key=lambda a: a.at.astimezone(UTC)))
    allowed = allowed_events(state.state)
    if state.last_at is not None:  # check-in comes first, once
        allowed = tuple(kind for kind in allowed if kind != "check_in")
    if not active_holds(state):  # an override lifts a hold; with none, it is refused
        allowed = tuple(kind for kind in allowed if kind != "hold_override")
    checked = log.terms is not None
    return SessionSummary(
        state=state.state,
        delivered_mg=delivered_mg,
        delivered_mg_per_kg=delivered_mg / weight,
        infusing_min=infusing_min,
        pauses=state.pauses,
        rate_changes=state.rate_changes,
        segments=segments,
        alerts=alerts,
        side_effects=state.side_effects,
        adjuncts=state.adjuncts,
        completed=state.completed,
        tolerability_rating=state.tolerability_rating,
        voided=tuple(sorted(log.voided)),
        bag_empty=bag_empty,
        stop_reason=state.stop_reason,
        allowed_events=allowed,
        start_blockers=start_blockers(state) if checked else (),
        discharge_blockers=(
            discharge_blockers(state, log.terms, now or state.last_at) if checked else ()
        ),
        discharge_from=discharge_from(state, log.terms),
    )
