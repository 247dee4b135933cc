"""Vital-sign monitoring: validated readings, and rules (data) that turn them into alerts.

Ketamine raises blood pressure during an infusion (mean peak +16/+11 mmHg at 40 min; severe
hypertension in about 1 % of sessions, Yale 2024), so readings are taken before the start and
every 10 minutes during and every 15 minutes after (Dunlop). The thresholds are catalog data
(``catalog/monitoring.toml``), per protocol category, each citing its source; where no guideline
gives a number it is marked clinic policy and a clinic changes it with its own file.

An alert is an expected finding, returned as data that says what to do (hold the start, pause
and recheck in 5 min, call the prescriber). A reading no monitor can produce (a blood pressure
of 400/20, a systolic not above the diastolic) is an :class:`~ketaplan.errors.InputError`.

Examples
--------
>>> VitalSigns(systolic_mmhg=128, diastolic_mmhg=82, heart_rate_bpm=76).blood_pressure
'128/82'
>>> VitalSigns(systolic_mmhg=80, diastolic_mmhg=90)
Traceback (most recent call last):
...
ketaplan.errors.InputError: blood pressure 80/90: the systolic must be above the diastolic
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from ketaplan.errors import InputError, InputProblems

Phase = Literal["pre_infusion", "in_infusion", "recovery"]
Vital = Literal[
    "systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "spo2_pct", "resp_rate_per_min"
]
Action = Literal[
    "hold_start",
    "weigh_risk",
    "pause_and_recheck",
    "call_prescriber",
    "recovery_recheck",
    "stop_infusion",
    "check_pump",
    "end_infusion",
]
Severity = Literal["info", "caution", "warning", "critical"]

PHASES: tuple[Phase, ...] = ("pre_infusion", "in_infusion", "recovery")
VITALS: tuple[Vital, ...] = (
    "systolic_mmhg",
    "diastolic_mmhg",
    "heart_rate_bpm",
    "spo2_pct",
    "resp_rate_per_min",
)
ACTIONS: tuple[Action, ...] = (
    "hold_start",
    "weigh_risk",
    "pause_and_recheck",
    "call_prescriber",
    "recovery_recheck",
)
"""The actions a vital-sign rule (catalog data) may name; the chart's own checks add
``stop_infusion``, ``check_pump`` and ``end_infusion``."""
SEVERITIES: tuple[Severity, ...] = ("info", "caution", "warning", "critical")
RECOVERY_ACTIONS: tuple[Action, ...] = ("recovery_recheck", "call_prescriber")
"""The actions a rule that applies in recovery may name: the infusion is over, so nothing that
pauses or holds it."""

ACTION_ADVICE: Mapping[str, tuple[Severity, str]] = {
    "hold_start": (
        "warning",
        "Hold the start and call the prescriber: start when a new reading is back within "
        "limits, or when a prescriber overrides the hold with a reason.",
    ),
    "weigh_risk": (
        "caution",
        "Recheck after 5 minutes' rest; the prescriber weighs the risk before the start.",
    ),
    "pause_and_recheck": (
        "warning",
        "Pause the infusion and recheck in 5 minutes; call the prescriber if it persists.",
    ),
    "call_prescriber": ("warning", "Stay with the patient and call the prescriber now."),
    "recovery_recheck": (
        "caution",
        "Keep the patient in the chair and recheck in 15 minutes; call the prescriber if it "
        "persists.",
    ),
    "stop_infusion": (
        "critical",
        "Stop the pump now, check its program and the bag against the order, and call the "
        "prescriber before any restart.",
    ),
    "check_pump": (
        "warning",
        "Check the pump program and the bag against the order; correct the pump, or call the "
        "prescriber if the change was intended.",
    ),
    "end_infusion": ("warning", "The bag is empty: stop the pump and chart the stop."),
}
"""What each alert action (:data:`Action`) asks of the nurse, with its severity: the one
vocabulary the console, the API and the CLI show."""

ACCEPTED_RANGES: Mapping[Vital, tuple[float, float]] = {
    "systolic_mmhg": (50.0, 300.0),
    "diastolic_mmhg": (20.0, 200.0),
    "heart_rate_bpm": (20.0, 250.0),
    "spo2_pct": (50.0, 100.0),
    "resp_rate_per_min": (2.0, 70.0),
}
"""Readings a monitor can plausibly show on a conscious adult; outside them a value is a typing
error, not a finding. Deliberately wide so that real emergencies (SBP 250) still get through."""

_LABELS: Mapping[Vital, str] = {
    "systolic_mmhg": "systolic",
    "diastolic_mmhg": "diastolic",
    "heart_rate_bpm": "heart rate",
    "spo2_pct": "SpO2",
    "resp_rate_per_min": "respiratory rate",
}
_UNITS: Mapping[Vital, str] = {
    "systolic_mmhg": "mmHg",
    "diastolic_mmhg": "mmHg",
    "heart_rate_bpm": "/min",
    "spo2_pct": "%",
    "resp_rate_per_min": "/min",
}


@dataclass(frozen=True, slots=True)
class VitalSigns:
    """One set of readings; any subset may be present, but blood pressure comes as a pair."""

    systolic_mmhg: float | None = None
    diastolic_mmhg: float | None = None
    heart_rate_bpm: float | None = None
    spo2_pct: float | None = None
    resp_rate_per_min: float | None = None

    def __post_init__(self) -> None:
        """Every reading checked, and every one refused at once (one :class:`InputError`, or
        :class:`~ketaplan.errors.InputErrors` when several are), so a nurse sees all of them."""
        problems = InputProblems()
        sbp, dbp = self.systolic_mmhg, self.diastolic_mmhg
        if (sbp is None) != (dbp is None):
            problems.add(
                InputError(
                    "blood pressure needs both systolic and diastolic (e.g. 128/82)",
                    code="input.missing",
                    fields={"field": "blood_pressure"},
                )
            )
        bp_refused = (sbp is None) != (dbp is None)  # the pair's one message is said
        for name in VITALS:
            value = getattr(self, name)
            if value is None:
                continue
            low, high = ACCEPTED_RANGES[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.add(
                    InputError(
                        f"{_LABELS[name]} {value!r} is not a number",
                        code="input.not_a_number",
                        fields={"field": name, "value": repr(value)},
                    )
                )
                bp_refused = bp_refused or name in ("systolic_mmhg", "diastolic_mmhg")
                continue
            if math.isfinite(value) and low <= value <= high:
                continue
            if name in ("systolic_mmhg", "diastolic_mmhg"):
                if not bp_refused:  # one message for the pair
                    s_low, s_high = ACCEPTED_RANGES["systolic_mmhg"]
                    d_low, d_high = ACCEPTED_RANGES["diastolic_mmhg"]
                    problems.add(
                        InputError(
                            f"blood pressure {sbp:g}/{dbp:g} is not a reading ketaplan accepts: "
                            f"systolic {s_low:g}-{s_high:g} mmHg, diastolic "
                            f"{d_low:g}-{d_high:g} mmHg, systolic above diastolic",
                            code="input.out_of_range",
                            fields={"field": "blood_pressure", "value": f"{sbp:g}/{dbp:g}"},
                        )
                    )
                bp_refused = True
                continue
            problems.add(
                InputError(
                    f"{_LABELS[name]} {value:g} {_UNITS[name]} is outside the accepted "
                    f"{low:g}-{high:g} {_UNITS[name]}",
                    code="input.out_of_range",
                    fields={"field": name, "value": value, "accepted": [low, high]},
                )
            )
        if not bp_refused and sbp is not None and dbp is not None and sbp <= dbp:
            problems.add(
                InputError(
                    f"blood pressure {sbp:g}/{dbp:g}: the systolic must be above the diastolic",
                    code="input.out_of_range",
                    fields={"field": "blood_pressure", "value": f"{sbp:g}/{dbp:g}"},
                )
            )
        problems.raise_any()

    @property
    def blood_pressure(self) -> str | None:
        if self.systolic_mmhg is None or self.diastolic_mmhg is None:
            return None
        return f"{self.systolic_mmhg:g}/{self.diastolic_mmhg:g}"

    def readings(self) -> dict[Vital, float]:
        """The readings present, by vital."""
        found: dict[Vital, float] = {}
        for name in VITALS:
            value = getattr(self, name)
            if value is not None:
                found[name] = float(value)
        return found


@dataclass(frozen=True, slots=True)
class MonitoringRule:
    """Fire when ``vital`` is strictly above ``above`` (or below ``below``) in one of ``phases``."""

    code: str
    phases: tuple[Phase, ...]
    vital: Vital
    action: Action
    message: str
    source: str
    above: float | None = None
    below: float | None = None

    def fires(self, value: float) -> bool:
        if self.above is not None and value > self.above:
            return True
        return self.below is not None and value < self.below


@dataclass(frozen=True, slots=True)
class MonitoringRules:
    """The rules of each protocol category (``mood``, ``pain``)."""

    by_category: Mapping[str, tuple[MonitoringRule, ...]]

    def for_category(self, category: str) -> tuple[MonitoringRule, ...]:
        rules = self.by_category.get(category)
        if rules is None:
            raise InputError(
                f"no monitoring rules for category {category!r} "
                f"(known: {', '.join(sorted(self.by_category))})",
                code="input.unknown_category",
                fields={"field": "category", "value": category},
            )
        return rules


Direction = Literal["above", "below"]

THRESHOLD_RANGES: Mapping[tuple[Vital, Direction], tuple[float, float]] = {
    ("systolic_mmhg", "above"): (120.0, 220.0),
    ("systolic_mmhg", "below"): (70.0, 110.0),
    ("diastolic_mmhg", "above"): (70.0, 130.0),
    ("diastolic_mmhg", "below"): (40.0, 70.0),
    ("heart_rate_bpm", "above"): (80.0, 160.0),
    ("heart_rate_bpm", "below"): (35.0, 60.0),
    ("spo2_pct", "below"): (85.0, 97.0),
    ("resp_rate_per_min", "below"): (4.0, 14.0),
    ("resp_rate_per_min", "above"): (16.0, 40.0),
}
"""Alert thresholds a clinic may set, per vital and direction (ketaplan's plausibility bounds,
not a guideline). They keep a typing slip from switching an alert off: a systolic hold at
1800 mmHg would never fire and one at 18 would fire on every reading. Each range contains the
catalog's default (``monitoring.toml``), so the defaults are always acceptable."""


def rule_direction(rule: MonitoringRule) -> Direction:
    """Whether the rule fires above or below its threshold."""
    return "above" if rule.above is not None else "below"


def rule_threshold(rule: MonitoringRule) -> float:
    """The number the rule compares a reading with."""
    value = rule.above if rule.above is not None else rule.below
    assert value is not None  # the loader requires exactly one of above / below
    return value


def threshold_text(vital: Vital, direction: Direction) -> str:
    """What a clinic may set for one kind of threshold, for forms and messages."""
    low, high = THRESHOLD_RANGES[(vital, direction)]
    return f"{_LABELS[vital]} {direction} {low:g}-{high:g} {_UNITS[vital]}"


def _with_threshold(rule: MonitoringRule, value: float) -> MonitoringRule:
    """The rule at a new threshold, its message saying the new number.

    Messages name their threshold ("systolic above 180 mmHg: pause ..."); the number after
    "above"/"below" is replaced so that the alert a nurse reads never states an old limit.
    """
    direction = rule_direction(rule)
    old = rule_threshold(rule)
    pattern = rf"\b{direction} {re.escape(f'{old:g}')}(?![\d.])"
    message, found = re.subn(pattern, f"{direction} {value:g}", rule.message, count=1)
    if not found:
        message = f"{direction} {value:g} {_UNITS[rule.vital]} (clinic setting): {rule.message}"
    if direction == "above":
        return replace(rule, message=message, above=value)
    return replace(rule, message=message, below=value)


def with_thresholds(
    rules: MonitoringRules, thresholds: Mapping[str, Mapping[str, float]]
) -> MonitoringRules:
    """The rules with a clinic's own thresholds: ``{category: {rule code: number}}``.

    Only the number changes (phases, vital, action and direction stay the catalog's); a rule
    keeps its source and its message names the new number. An unknown category or rule code, or
    a number outside :data:`THRESHOLD_RANGES`, is an :class:`~ketaplan.errors.InputError`
    whose ``field`` is ``threshold__<category>__<code>``.

    Examples
    --------
    >>> rule = MonitoringRule("in_sbp_hold", ("in_infusion",), "systolic_mmhg",
    ...     "pause_and_recheck", "systolic above 180 mmHg: pause", "clinic_policy", above=180)
    >>> rules = MonitoringRules({"mood": (rule,)})
    >>> with_thresholds(rules, {"mood": {"in_sbp_hold": 170}}).for_category("mood")[0].message
    'systolic above 170 mmHg: pause'
    >>> with_thresholds(rules, {"mood": {"in_sbp_hold": 1800}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ketaplan.errors.InputError: systolic alert threshold 1800 mmHg ... systolic above 120-220 mmHg
    """
    by_category = dict(rules.by_category)
    for category, values in thresholds.items():
        known = {rule.code: rule for rule in rules.for_category(category)}
        changed = dict(known)
        for code, value in values.items():
            field = f"threshold__{category}__{code}"
            rule = known.get(code)
            if rule is None:
                raise InputError(
                    f"no monitoring rule {code!r} for {category} (known: {', '.join(known)})",
                    code="input.unknown_rule",
                    fields={"field": field, "value": code},
                )
            low, high = THRESHOLD_RANGES[(rule.vital, rule_direction(rule))]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or not low <= value <= high
            ):
                shown = f"{value:g}" if isinstance(value, int | float) else repr(value)
                raise InputError(
                    f"{_LABELS[rule.vital]} alert threshold {shown} {_UNITS[rule.vital]} "
                    f"({category}, {code}) is outside the accepted "
                    f"{threshold_text(rule.vital, rule_direction(rule))}",
                    code="input.out_of_range",
                    fields={"field": field, "value": value, "accepted": [low, high]},
                )
            changed[code] = _with_threshold(rule, float(value))
        by_category[category] = tuple(changed[rule.code] for rule in known.values())
    return MonitoringRules(by_category)


def with_recorded_thresholds(
    rules: tuple[MonitoringRule, ...], recorded: Mapping[str, float]
) -> tuple[MonitoringRule, ...]:
    """A category's rules at the thresholds recorded with a session (``{rule code: number}``).

    Unlike :func:`with_thresholds` nothing is refused: the numbers were checked when the clinic
    saved them, and a chart must replay as it was taken even if the accepted ranges have moved
    since. A recorded code the catalog no longer has is left out.

    Examples
    --------
    >>> rule = MonitoringRule("in_sbp_hold", ("in_infusion",), "systolic_mmhg",
    ...     "pause_and_recheck", "systolic above 180 mmHg: pause", "clinic_policy", above=180)
    >>> with_recorded_thresholds((rule,), {"in_sbp_hold": 165, "gone": 1})[0].message
    'systolic above 165 mmHg: pause'
    """
    return tuple(
        _with_threshold(rule, float(recorded[rule.code]))
        if rule.code in recorded and float(recorded[rule.code]) != rule_threshold(rule)
        else rule
        for rule in rules
    )


def action_advice(action: str) -> tuple[Severity, str]:
    """The severity and words of an alert action (a clinic rule's unknown action: a warning
    that says to call the prescriber)."""
    return ACTION_ADVICE.get(action, ACTION_ADVICE["call_prescriber"])


@dataclass(frozen=True, slots=True)
class Alert:
    """A finding a nurse acts on: what fired, the reading, and what to do.

    ``resolved_at`` is the time of a later reading of the same vital back within the rule's
    limit (or, for a pump alert, a later rate within the limit); the alert stays on the chart.
    """

    code: str
    message: str
    at: datetime
    action: str
    source: str = ""
    vital: str | None = None
    value: float | None = None
    threshold: float | None = None
    resolved_at: datetime | None = None

    @property
    def severity(self) -> Severity:
        return action_advice(self.action)[0]

    @property
    def advice(self) -> str:
        return action_advice(self.action)[1]

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "at": self.at.isoformat(),
            "action": self.action,
            "severity": self.severity,
            "advice": self.advice,
            "vital": self.vital,
            "value": self.value,
            "threshold": self.threshold,
            "source": self.source,
            "resolved_at": None if self.resolved_at is None else self.resolved_at.isoformat(),
        }


def check_vitals(
    vitals: VitalSigns, phase: Phase, rules: Iterable[MonitoringRule], at: datetime
) -> tuple[Alert, ...]:
    """The alerts one set of readings raises in a phase, in rule order."""
    readings = vitals.readings()
    alerts = []
    for rule in rules:
        if phase not in rule.phases or rule.vital not in readings:
            continue
        value = readings[rule.vital]
        if rule.fires(value):
            threshold = rule.above if rule.above is not None else rule.below
            alerts.append(
                Alert(
                    code=f"vitals.{rule.code}",
                    message=f"{_LABELS[rule.vital]} {value:g} {_UNITS[rule.vital]}: {rule.message}",
                    at=at,
                    action=rule.action,
                    source=rule.source,
                    vital=rule.vital,
                    value=value,
                    threshold=threshold,
                )
            )
    return tuple(alerts)


def resolve_alerts(
    alerts: tuple[Alert, ...], vitals: VitalSigns, rules: Iterable[MonitoringRule], at: datetime
) -> tuple[Alert, ...]:
    """The alerts with those a reading shows back within their rule's limit marked resolved.

    An alert is resolved by a later reading of its vital that its rule would not fire on; one
    whose rule is no longer among ``rules`` stays as it was.
    """
    readings = vitals.readings()
    by_code = {f"vitals.{rule.code}": rule for rule in rules}
    changed = list(alerts)
    for index, alert in enumerate(alerts):
        rule = by_code.get(alert.code)
        if alert.resolved_at is not None or rule is None or rule.vital not in readings:
            continue
        if alert.at < at and not rule.fires(readings[rule.vital]):
            changed[index] = replace(alert, resolved_at=at)
    return tuple(changed)
