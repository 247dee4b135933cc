"""Session charting as an append-only event log, and everything derived from it.

A chart is never edited in place (DESIGN: "append events and derive the current state"): the
nurse appends check-in, start, rate changes, pauses, vital signs, side effects, adjuncts, notes,
stop and discharge; :func:`append` returns a new immutable :class:`SessionLog` or refuses the
event, leaving the log as it was. What the prescriber and the PK simulator need is a pure fold
over the events (:func:`summarise`): delivered mg (the integral of rate x concentration over
the infusing time), infusing minutes, pauses, the state, vital-sign alerts, and the infusion
segments ``(start_min, end_min, rate_mg_per_h)``.

States::

    checked_in ──start──► infusing ◄──resume── paused
         ▲                    │ └────pause──────►│
    (first event)             └──stop──► stopped ◄┘──stop
                                           │ (recovery: vitals, side effects, notes)
                                           └──discharge──► discharged (nothing after)

After ``stop`` the infusion is over: start, rate, pause, resume and stop are refused, while
recovery charting (vitals every 15 min, Dunlop; side effects, adjuncts, the tolerability rating,
notes) and discharge are accepted. After ``discharge`` every event is refused.

Refusals: an event before the previous one (time going backwards), a naive timestamp, a rate
or concentration <= 0 are input errors; an impossible sequence (resume without pause, start
twice, an infusion event after stop, anything after discharge) is a
:class:`SessionSequenceError`, a :class:`~ketaplan.errors.ConflictError`.

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
from typing import Literal

from ketaplan.clinical.monitoring import Alert, MonitoringRule, Phase, VitalSigns, check_vitals
from ketaplan.errors import ConflictError, InputError, KetaplanError

State = Literal["checked_in", "infusing", "paused", "stopped", "discharged"]
SideEffectSeverity = Literal["mild", "moderate", "severe"]
SEVERITIES: tuple[SideEffectSeverity, ...] = ("mild", "moderate", "severe")

KNOWN_SIDE_EFFECTS = (
    "dissociation",
    "nausea",
    "vomiting",
    "raised_blood_pressure",
    "hallucinations",
    "dizziness",
    "headache",
    "confusion",
    "anxiety",
    "blurred_vision",
    "drowsiness",
    "tachycardia",
    "agitation",
    "double_vision",
    "numbness",
)
"""Side effects named by the seeds (``001``, ``002``); other names are accepted as written."""


class SessionSequenceError(ConflictError):
    """An event that cannot follow the ones before it (resume without pause, start twice...)."""

    default_code = "session.impossible_sequence"


EARLIEST_YEAR = 1900
LATEST_YEAR = 2200
"""Event times outside these years are typing mistakes (and near Python's last year, turning
the time into UTC overflows)."""


def _aware(at: datetime, kind: str) -> None:
    if not isinstance(at, datetime):
        raise InputError(
            f"{kind}: 'at' must be a date and time, got {at!r}",
            code="input.not_a_time",
            fields={"field": "at", "value": repr(at)},
        )
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(
            f"{kind} at {at.isoformat()}: the time has no time zone; give it with its offset, "
            "e.g. 2026-12-07T09:00:00-08:00",
            code="input.naive_time",
            fields={"field": "at", "value": at.isoformat()},
        )
    if not EARLIEST_YEAR <= at.year <= LATEST_YEAR:
        raise InputError(
            f"{kind} at {at.isoformat()}: the year must be {EARLIEST_YEAR} to {LATEST_YEAR}",
            code="input.out_of_range",
            fields={"field": "at", "value": at.isoformat()},
        )


def _positive(value: object, name: str, kind: str) -> float:
    if value is None:
        raise InputError(
            f"{kind}: {name} is missing (a number greater than 0)",
            code="input.missing",
            fields={"field": name},
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(
            f"{kind}: {name} {value!r} is not a number",
            code="input.not_a_number",
            fields={"field": name, "value": repr(value)},
        )
    if not math.isfinite(value) or value <= 0:
        raise InputError(
            f"{kind}: {name} must be greater than 0, got {value:g}",
            code="input.out_of_range",
            fields={"field": name, "value": value},
        )
    return float(value)


@dataclass(frozen=True, slots=True)
class CheckIn:
    """Arrival and pre-infusion readings (checked against the pre-infusion rules)."""

    at: datetime
    vitals: VitalSigns = field(default_factory=VitalSigns)
    kind: Literal["check_in"] = "check_in"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)


@dataclass(frozen=True, slots=True)
class Start:
    """The pump starts: rate in mL/h, bag concentration in mg/mL."""

    at: datetime
    rate_ml_per_h: float
    concentration_mg_per_ml: float
    kind: Literal["start"] = "start"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)
        _positive(self.rate_ml_per_h, "rate_ml_per_h", self.kind)
        _positive(self.concentration_mg_per_ml, "concentration_mg_per_ml", self.kind)


@dataclass(frozen=True, slots=True)
class RateChange:
    """The pump is reprogrammed to a new rate (real-time adjustment, seed ``001``)."""

    at: datetime
    rate_ml_per_h: float
    kind: Literal["rate"] = "rate"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)
        _positive(self.rate_ml_per_h, "rate_ml_per_h", self.kind)


@dataclass(frozen=True, slots=True)
class Pause:
    at: datetime
    reason: str = ""
    kind: Literal["pause"] = "pause"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)


@dataclass(frozen=True, slots=True)
class Resume:
    """Resume at the rate in force before the pause."""

    at: datetime
    kind: Literal["resume"] = "resume"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)


@dataclass(frozen=True, slots=True)
class Stop:
    """The infusion ends: ``completed`` when the planned dose ran, otherwise stopped early."""

    at: datetime
    completed: bool = True
    reason: str = ""
    kind: Literal["stop"] = "stop"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)


@dataclass(frozen=True, slots=True)
class VitalsTaken:
    at: datetime
    vitals: VitalSigns
    kind: Literal["vitals"] = "vitals"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)


@dataclass(frozen=True, slots=True)
class SideEffect:
    at: datetime
    name: str
    severity: SideEffectSeverity
    kind: Literal["side_effect"] = "side_effect"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError(
                "side_effect: name is missing (e.g. 'nausea')",
                code="input.missing",
                fields={"field": "name"},
            )
        if self.severity not in SEVERITIES:
            raise InputError(
                f"side_effect: severity {self.severity!r}; accepted: {', '.join(SEVERITIES)}",
                code="input.out_of_range",
                fields={"field": "severity", "value": repr(self.severity)},
            )


@dataclass(frozen=True, slots=True)
class Adjunct:
    """A supportive medication given (e.g. ondansetron for nausea, labetalol for BP)."""

    at: datetime
    drug: str
    dose: str
    kind: Literal["adjunct"] = "adjunct"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)
        if not isinstance(self.drug, str) or not self.drug.strip():
            raise InputError(
                "adjunct: drug is missing", code="input.missing", fields={"field": "drug"}
            )
        if not isinstance(self.dose, str) or not self.dose.strip():
            raise InputError(
                "adjunct: dose is missing (e.g. '4 mg IV')",
                code="input.missing",
                fields={"field": "dose"},
            )


@dataclass(frozen=True, slots=True)
class TolerabilityRated:
    """The nurse's 0-4 tolerability / dissociation rating with the patient (outcomes.py anchors)."""

    at: datetime
    rating: int
    kind: Literal["tolerability"] = "tolerability"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)
        if isinstance(self.rating, bool) or not isinstance(self.rating, int):
            raise InputError(
                f"tolerability: rating {self.rating!r} is not a whole number 0-4",
                code="input.not_a_number",
                fields={"field": "rating", "value": repr(self.rating)},
            )
        if not 0 <= self.rating <= 4:
            raise InputError(
                f"tolerability: rating {self.rating} is outside 0-4 "
                "(0 none, 1 mild, 2 moderate, 3 marked, 4 severe)",
                code="input.out_of_range",
                fields={"field": "rating", "value": self.rating},
            )


@dataclass(frozen=True, slots=True)
class Note:
    at: datetime
    text: str
    kind: Literal["note"] = "note"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)


@dataclass(frozen=True, slots=True)
class Discharge:
    """The patient leaves with an escort; no more events."""

    at: datetime
    note: str = ""
    kind: Literal["discharge"] = "discharge"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)


Event = (
    CheckIn
    | Start
    | RateChange
    | Pause
    | Resume
    | Stop
    | VitalsTaken
    | SideEffect
    | Adjunct
    | TolerabilityRated
    | Note
    | Discharge
)

_INFUSION_EVENTS = (Start, RateChange, Pause, Resume, Stop)


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of constant rate, in minutes from the first start (for the PK simulator)."""

    start_min: float
    end_min: float
    rate_mg_per_h: float

    @property
    def delivered_mg(self) -> float:
        return self.rate_mg_per_h * (self.end_min - self.start_min) / 60.0

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.start_min, self.end_min, self.rate_mg_per_h)


@dataclass(frozen=True, slots=True)
class SessionState:
    """The fold's running state; every field follows from the events so far."""

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


def _minutes(start: datetime, at: datetime) -> float:
    return (at.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 60.0


def _close_segment(state: SessionState, at: datetime) -> tuple[Segment, ...]:
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


def _refuse(event: Event, state: SessionState, why: str) -> SessionSequenceError:
    return SessionSequenceError(
        f"{event.kind} at {event.at.isoformat()} refused: {why}",
        fields={"event": event.kind, "at": event.at.isoformat(), "state": state.state},
    )


def _phase(state: SessionState) -> Phase:
    if state.state == "checked_in":
        return "pre_infusion"
    if state.state in ("infusing", "paused"):
        return "in_infusion"
    return "recovery"


def apply(state: SessionState, event: Event, rules: Sequence[MonitoringRule] = ()) -> SessionState:
    """The state after one more event, or an error; the given state is never changed."""
    if state.state == "discharged":
        raise _refuse(event, state, "the patient was discharged; the chart is closed")
    if state.last_at is not None and _minutes(state.last_at, event.at) < 0:
        raise InputError(
            f"{event.kind} at {event.at.isoformat()} is before the previous event at "
            f"{state.last_at.isoformat()}; time cannot go backwards",
            code="input.time_backwards",
            fields={"event": event.kind, "at": event.at.isoformat()},
        )
    if state.state == "stopped" and isinstance(event, _INFUSION_EVENTS):
        raise _refuse(event, state, "the infusion was stopped; only recovery charting follows")
    moved = replace(state, last_at=event.at)
    match event:
        case Start():
            if state.state != "checked_in":
                raise _refuse(event, state, "the infusion has already started")
            return replace(
                moved,
                state="infusing",
                started_at=event.at,
                segment_from=event.at,
                rate_ml_per_h=event.rate_ml_per_h,
                concentration_mg_per_ml=event.concentration_mg_per_ml,
            )
        case RateChange():
            if state.state not in ("infusing", "paused"):
                raise _refuse(event, state, "there is no running infusion to change")
            if state.state == "paused":
                return replace(
                    moved, rate_ml_per_h=event.rate_ml_per_h, rate_changes=state.rate_changes + 1
                )
            return replace(
                moved,
                segments=_close_segment(state, event.at),
                segment_from=event.at,
                rate_ml_per_h=event.rate_ml_per_h,
                rate_changes=state.rate_changes + 1,
            )
        case Pause():
            if state.state != "infusing":
                raise _refuse(event, state, "only a running infusion can be paused")
            return replace(
                moved,
                state="paused",
                segments=_close_segment(state, event.at),
                segment_from=None,
                pauses=state.pauses + 1,
            )
        case Resume():
            if state.state != "paused":
                raise _refuse(event, state, "resume needs a paused infusion")
            return replace(moved, state="infusing", segment_from=event.at)
        case Stop():
            if state.state not in ("infusing", "paused"):
                raise _refuse(event, state, "there is no infusion to stop")
            return replace(
                moved,
                state="stopped",
                segments=_close_segment(state, event.at),
                segment_from=None,
                completed=event.completed,
            )
        case CheckIn():
            if state.state != "checked_in" or state.last_at is not None:
                raise _refuse(event, state, "check-in comes first, once")
            alerts = check_vitals(event.vitals, "pre_infusion", rules, event.at)
            return replace(moved, alerts=state.alerts + alerts)
        case VitalsTaken():
            alerts = check_vitals(event.vitals, _phase(state), rules, event.at)
            return replace(moved, alerts=state.alerts + alerts)
        case SideEffect():
            alerts = state.alerts
            if event.severity == "severe":
                alerts = (
                    *alerts,
                    Alert(
                        code="side_effect.severe",
                        message=f"severe {event.name}: pause or lower the infusion, stay with "
                        "the patient and call the prescriber",
                        at=event.at,
                        action="call_prescriber",
                        source="clinic_policy",
                    ),
                )
            return replace(moved, side_effects=(*state.side_effects, event), alerts=alerts)
        case Adjunct():
            return replace(moved, adjuncts=(*state.adjuncts, event))
        case TolerabilityRated():
            return replace(moved, tolerability_rating=event.rating)
        case Note():
            return moved
        case Discharge():
            if state.state != "stopped":
                raise _refuse(event, state, "discharge follows the end of the infusion")
            return replace(moved, state="discharged")
    raise InputError(f"unknown event {event!r}", code="input.unknown_event")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class SessionLog:
    """The append-only chart: the events and the state they fold to.

    ``rules`` are the monitoring rules of the protocol's category, so that the alerts a
    reading raised are part of the chart from the moment it was appended.
    """

    events: tuple[Event, ...] = ()
    state: SessionState = field(default_factory=SessionState)
    rules: tuple[MonitoringRule, ...] = ()


def append(log: SessionLog, event: Event) -> SessionLog:
    """A new log with ``event`` at its end; a refused event raises and changes nothing."""
    return SessionLog((*log.events, event), apply(log.state, event, log.rules), log.rules)


def replay(events: Iterable[Event], rules: Sequence[MonitoringRule] = ()) -> SessionLog:
    """Fold a whole list of events into a log (the first refused event raises)."""
    log = SessionLog(rules=tuple(rules))
    for event in events:
        log = append(log, event)
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

    @property
    def worst_side_effect(self) -> SideEffectSeverity | None:
        ranks = [SEVERITIES.index(s.severity) for s in self.side_effects]
        return SEVERITIES[max(ranks)] if ranks else None

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "delivered_mg": round(self.delivered_mg, 3),
            "delivered_mg_per_kg": round(self.delivered_mg_per_kg, 4),
            "infusing_min": round(self.infusing_min, 2),
            "pauses": self.pauses,
            "rate_changes": self.rate_changes,
            "completed": self.completed,
            "tolerability_rating": self.tolerability_rating,
            "segments": [
                [round(s.start_min, 3), round(s.end_min, 3), round(s.rate_mg_per_h, 4)]
                for s in self.segments
            ],
            "alerts": [a.to_dict() for a in self.alerts],
            "side_effects": [
                {"name": s.name, "severity": s.severity, "at": s.at.isoformat()}
                for s in self.side_effects
            ],
            "adjuncts": [
                {"drug": a.drug, "dose": a.dose, "at": a.at.isoformat()} for a in self.adjuncts
            ],
        }


def infusion_segments(log: SessionLog) -> tuple[Segment, ...]:
    """The constant-rate stretches so far; one still running is closed at the last event."""
    state = log.state
    if state.state == "infusing" and state.last_at is not None:
        return _close_segment(state, state.last_at)
    return state.segments


def read_event_lines(
    rows: Iterable[str | Mapping[str, object]],
    rules: Sequence[MonitoringRule] = (),
    name: str = "events",
) -> SessionLog:
    """A log from JSON Lines text (or already-parsed mappings), one event a row.

    Rows are numbered from 1 as given (blank lines count, so numbers match the file); any
    problem, an impossible sequence included, is an InputError naming the row: an invalid log
    is bad input wherever it comes from.
    """
    log = SessionLog(rules=tuple(rules))
    for number, row in enumerate(rows, start=1):
        if isinstance(row, str) and not row.strip():
            continue
        try:
            data = json.loads(row) if isinstance(row, str) else row
            log = append(log, event_from_dict(data))
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


def summarise(log: SessionLog, weight_kg: float) -> SessionSummary:
    """Delivered dose and the rest, from the log alone.

    An infusion still running is counted up to the log's last event: the chart knows nothing
    later, and a summary must not guess.
    """
    weight = _positive(weight_kg, "weight_kg", "session")
    state = log.state
    segments = infusion_segments(log)
    delivered_mg = math.fsum(s.delivered_mg for s in segments)
    infusing_min = math.fsum(s.end_min - s.start_min for s in segments)
    return SessionSummary(
        state=state.state,
        delivered_mg=delivered_mg,
        delivered_mg_per_kg=delivered_mg / weight,
        infusing_min=infusing_min,
        pauses=state.pauses,
        rate_changes=state.rate_changes,
        segments=segments,
        alerts=state.alerts,
        side_effects=state.side_effects,
        adjuncts=state.adjuncts,
        completed=state.completed,
        tolerability_rating=state.tolerability_rating,
    )


# ------------------------------------------------------------------ events from JSON ----

_FIELDS: dict[str, tuple[str, ...]] = {
    "check_in": ("systolic", "diastolic", "heart_rate", "spo2", "resp_rate"),
    "start": ("rate_ml_per_h", "concentration_mg_per_ml"),
    "rate": ("rate_ml_per_h",),
    "pause": ("reason",),
    "resume": (),
    "stop": ("reason", "completed"),
    "complete": ("reason",),
    "vitals": ("systolic", "diastolic", "heart_rate", "spo2", "resp_rate"),
    "side_effect": ("name", "severity"),
    "adjunct": ("drug", "dose"),
    "tolerability": ("rating",),
    "note": ("text",),
    "discharge": ("note",),
}


def _vitals_from(data: Mapping[str, object]) -> VitalSigns:
    def number(key: str) -> float | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(
                f"{key} {value!r} is not a number",
                code="input.not_a_number",
                fields={"field": key, "value": repr(value)},
            )
        return float(value)

    return VitalSigns(
        systolic_mmhg=number("systolic"),
        diastolic_mmhg=number("diastolic"),
        heart_rate_bpm=number("heart_rate"),
        spo2_pct=number("spo2"),
        resp_rate_per_min=number("resp_rate"),
    )


def _text_field(data: Mapping[str, object], key: str, kind: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise InputError(
            f"{kind}: {key} must be text, got {value!r}",
            code="input.missing" if value is None else "input.not_text",
            fields={"field": key},
        )
    return value


def event_from_dict(data: object) -> Event:
    """One charted event from its JSON form (``{"at": ..., "type": ..., ...}``), validated.

    ``at`` is an ISO 8601 time with its UTC offset; ``type`` is one of check_in, start, rate,
    pause, resume, stop, complete, vitals, side_effect, adjunct, tolerability (``rating`` 0-4),
    note, discharge. Unknown fields are refused, so a typo (``"rate_ml_h"``) never passes
    silently.
    """
    if not isinstance(data, Mapping):
        raise InputError("an event must be a JSON object", code="input.invalid_event")
    kind = data.get("type")
    if kind not in _FIELDS:
        raise InputError(
            f"unknown event type {kind!r} (accepted: {', '.join(_FIELDS)})",
            code="input.invalid_event",
            fields={"field": "type", "value": repr(kind)},
        )
    unknown = sorted(set(data) - {"at", "type", *_FIELDS[kind]})
    if unknown:
        raise InputError(
            f"{kind}: unknown field(s) {', '.join(unknown)} "
            f"(accepted: at, type, {', '.join(_FIELDS[kind]) or 'nothing else'})",
            code="input.invalid_event",
            fields={"field": unknown[0]},
        )
    raw_at = data.get("at")
    if not isinstance(raw_at, str):
        raise InputError(
            f"{kind}: 'at' is missing; give an ISO time with offset, "
            "e.g. 2026-12-07T09:00:00-08:00",
            code="input.missing",
            fields={"field": "at"},
        )
    try:
        at = datetime.fromisoformat(raw_at)
    except ValueError:
        raise InputError(
            f"{kind}: 'at' {raw_at!r} is not an ISO 8601 time (e.g. 2026-12-07T09:00:00-08:00)",
            code="input.not_a_time",
            fields={"field": "at", "value": raw_at},
        ) from None
    match kind:
        case "check_in":
            return CheckIn(at, _vitals_from(data))
        case "start":
            return Start(at, data.get("rate_ml_per_h"), data.get("concentration_mg_per_ml"))  # type: ignore[arg-type]
        case "rate":
            return RateChange(at, data.get("rate_ml_per_h"))  # type: ignore[arg-type]
        case "pause":
            return Pause(at, _text_field(data, "reason", kind, ""))
        case "resume":
            return Resume(at)
        case "stop" | "complete":
            completed = data.get("completed", True)
            if not isinstance(completed, bool):
                raise InputError(
                    "stop: completed must be true or false", code="input.invalid_event"
                )
            return Stop(at, completed, _text_field(data, "reason", kind, ""))
        case "vitals":
            vitals = _vitals_from(data)
            if not vitals.readings():
                raise InputError(
                    "vitals: no reading given (systolic and diastolic, heart_rate, spo2, "
                    "resp_rate)",
                    code="input.missing",
                    fields={"field": "vitals"},
                )
            return VitalsTaken(at, vitals)
        case "side_effect":
            return SideEffect(
                at,
                _text_field(data, "name", kind).strip().lower().replace(" ", "_"),
                _text_field(data, "severity", kind),  # type: ignore[arg-type]
            )
        case "adjunct":
            return Adjunct(at, _text_field(data, "drug", kind), _text_field(data, "dose", kind))
        case "tolerability":
            return TolerabilityRated(at, data.get("rating"))  # type: ignore[arg-type]
        case "note":
            return Note(at, _text_field(data, "text", kind))
        case _:
            return Discharge(at, _text_field(data, "note", kind, ""))
