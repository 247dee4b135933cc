"""The events a session chart is made of, and how they are read from JSON.

Each event is a frozen value that validates itself (a naive time, a rate of 0, a side effect
without a name are :class:`~ketaplan.errors.InputError`); :func:`event_from_dict` reads the JSON
form the API, the web console, the database and ``ketaplan session replay`` all share. What may
follow what, and what a chart adds up to, is :mod:`ketaplan.clinical.session`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from ketaplan.clinical.monitoring import VitalSigns
from ketaplan.errors import InputError, InputProblems

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


def positive_number(value: object, name: str, kind: str) -> float:
    """``value`` as a float greater than 0, or an InputError naming ``name`` (the field)."""
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
        problems = InputProblems()  # both numbers checked before either is refused
        problems.check(positive_number, self.rate_ml_per_h, "rate_ml_per_h", self.kind)
        problems.check(
            positive_number, self.concentration_mg_per_ml, "concentration_mg_per_ml", self.kind
        )
        problems.raise_any()


@dataclass(frozen=True, slots=True)
class RateChange:
    """The pump is reprogrammed to a new rate (real-time adjustment, seed ``001``)."""

    at: datetime
    rate_ml_per_h: float
    kind: Literal["rate"] = "rate"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)
        positive_number(self.rate_ml_per_h, "rate_ml_per_h", self.kind)


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
        if not isinstance(self.completed, bool):
            raise InputError(
                "stop: completed must be true (the planned dose ran) or false (stopped early)",
                code="input.invalid_event",
                fields={"field": "completed"},
            )
        if not self.completed and not (isinstance(self.reason, str) and self.reason.strip()):
            raise InputError(
                "stop: an infusion stopped early needs a reason (e.g. 'patient asked to stop')",
                code="input.missing",
                fields={"field": "reason"},
            )


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


CHECKLIST = ("vitals_within_limits", "oriented_and_steady", "escort_present")
"""The discharge checklist: each box must be ticked (true) before a patient leaves."""

CHECKLIST_WORDS = {
    "vitals_within_limits": "vital signs within the recovery limits",
    "oriented_and_steady": "alert, oriented and steady on their feet",
    "escort_present": "an escort is present to take them home",
}


@dataclass(frozen=True, slots=True)
class Discharge:
    """The patient leaves with an escort; no more events.

    The checklist (:data:`CHECKLIST`) is what the nurse ticked; a chart checked against
    :class:`~ketaplan.clinical.chart_rules.ChartTerms` refuses a discharge with a box unticked.
    """

    at: datetime
    note: str = ""
    vitals_within_limits: bool = False
    oriented_and_steady: bool = False
    escort_present: bool = False
    kind: Literal["discharge"] = "discharge"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)

    def unticked(self) -> tuple[str, ...]:
        """The checklist boxes not ticked, in checklist order."""
        return tuple(box for box in CHECKLIST if getattr(self, box) is not True)


def _reason(value: object, kind: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"{kind}: a reason is required", code="input.missing", fields={"field": "reason"}
        )


@dataclass(frozen=True, slots=True)
class HoldOverride:
    """A prescriber lifts the *hold the start* findings in force, with a reason.

    Only a prescriber may chart it (the service checks the role); it lifts the holds raised
    before it, not a later reading's.
    """

    at: datetime
    reason: str
    kind: Literal["hold_override"] = "hold_override"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)
        _reason(self.reason, self.kind)


@dataclass(frozen=True, slots=True)
class Correction:
    """Voids a mistaken entry of this chart (its 1-based ``voids_seq``), with a reason.

    Nothing is deleted: the voided event stays in the chart, and everything derived from the
    chart (state, delivered dose, alerts) is derived as if it had not been charted. What may be
    voided is :data:`ketaplan.clinical.chart_rules.VOIDABLE`.
    """

    at: datetime
    voids_seq: int
    reason: str
    kind: Literal["correction"] = "correction"

    def __post_init__(self) -> None:
        _aware(self.at, self.kind)
        if isinstance(self.voids_seq, bool) or not isinstance(self.voids_seq, int):
            raise InputError(
                f"correction: voids_seq {self.voids_seq!r} must be the number of the entry "
                "to void (1 for the first)",
                code="input.not_a_number",
                fields={"field": "voids_seq", "value": repr(self.voids_seq)},
            )
        if self.voids_seq < 1:
            raise InputError(
                f"correction: voids_seq {self.voids_seq} must be 1 or more",
                code="input.out_of_range",
                fields={"field": "voids_seq", "value": self.voids_seq},
            )
        _reason(self.reason, self.kind)


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
    | HoldOverride
    | Correction
)

INFUSION_EVENTS = (Start, RateChange, Pause, Resume, Stop)
"""The events that drive the pump; none follows the stop."""


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
    "discharge": ("note", *CHECKLIST),
    "hold_override": ("reason",),
    "correction": ("voids_seq", "reason"),
}
SERVICE_FIELDS: dict[str, tuple[str, ...]] = {"discharge": ("checked_by",)}
"""Fields the service writes into a stored event (who ticked the discharge checklist): read
back from storage, refused from a client."""
EVENT_TYPES: tuple[str, ...] = tuple(_FIELDS)
"""Every event ``type`` :func:`event_from_dict` reads (``complete`` is ``stop`` completed)."""


VITAL_FIELDS = {
    "systolic_mmhg": "systolic",
    "diastolic_mmhg": "diastolic",
    "heart_rate_bpm": "heart_rate",
    "spo2_pct": "spo2",
    "resp_rate_per_min": "resp_rate",
}
"""Each reading's name in :class:`VitalSigns` and in a charted event."""


def vitals_from(data: Mapping[str, object]) -> VitalSigns:
    """The readings of an event, each refused at once whether it cannot be read (not a
    number) or is out of range, so one answer names every reading to fix: a reading that is
    not a number reaches :class:`VitalSigns` as it was given, and is refused there beside the
    others' range checks (and a blood pressure with an unreadable half is not called
    incomplete or out of range)."""
    readings = {name: data.get(key) for name, key in VITAL_FIELDS.items()}
    return VitalSigns(**cast(dict[str, Any], readings))


def _text_field(data: Mapping[str, object], key: str, kind: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise InputError(
            f"{kind}: {key} must be text, got {value!r}",
            code="input.missing" if value is None else "input.not_text",
            fields={"field": key},
        )
    return value


def _flag(data: Mapping[str, object], key: str, kind: str, default: bool | None) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise InputError(
            f"{kind}: {key} must be true or false"
            + (", and is required" if value is None else f", got {value!r}"),
            code="input.missing" if value is None else "input.invalid_event",
            fields={"field": key},
        )
    return value


def event_from_dict(data: object, *, stored: bool = False) -> Event:
    """One charted event from its JSON form (``{"at": ..., "type": ..., ...}``), validated.

    ``at`` is an ISO 8601 time with its UTC offset; ``type`` is one of check_in, start, rate,
    pause, resume, stop (``completed`` true or false, required; ``reason`` required when
    false), complete (a completed stop), vitals, side_effect, adjunct, tolerability
    (``rating`` 0-4), note, discharge (``note`` and the checklist booleans
    ``vitals_within_limits``, ``oriented_and_steady``, ``escort_present``), hold_override
    (``reason``), correction (``voids_seq``, ``reason``). Unknown fields are refused, so a typo
    (``"rate_ml_h"``) never passes silently.

    ``stored=True`` reads an event charted before ``completed`` and the discharge checklist
    were required: a stop without ``completed`` is a completed stop, a discharge without its
    checklist has its boxes unticked, and the fields the service wrote (:data:`SERVICE_FIELDS`)
    are accepted. A chart already taken must always read back.
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
    written = SERVICE_FIELDS.get(kind, ()) if stored else ()
    unknown = sorted(set(data) - {"at", "type", *_FIELDS[kind], *written})
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
            return CheckIn(at, vitals_from(data))
        case "start":
            return Start(at, data.get("rate_ml_per_h"), data.get("concentration_mg_per_ml"))  # type: ignore[arg-type]
        case "rate":
            return RateChange(at, data.get("rate_ml_per_h"))  # type: ignore[arg-type]
        case "pause":
            return Pause(at, _text_field(data, "reason", kind, ""))
        case "resume":
            return Resume(at)
        case "stop":
            completed = _flag(data, "completed", kind, True if stored else None)
            return Stop(at, completed, _text_field(data, "reason", kind, ""))
        case "complete":
            return Stop(at, True, _text_field(data, "reason", kind, ""))
        case "vitals":
            vitals = vitals_from(data)
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
        case "hold_override":
            return HoldOverride(at, _text_field(data, "reason", kind))
        case "correction":
            return Correction(at, data.get("voids_seq"), _text_field(data, "reason", kind))  # type: ignore[arg-type]
        case _:
            default = False if stored else None
            ticked = [_flag(data, box, kind, default) for box in CHECKLIST]
            return Discharge(
                at, _text_field(data, "note", kind, ""), ticked[0], ticked[1], ticked[2]
            )
