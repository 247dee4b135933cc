"""The clinic settings form as text, both ways: what an admin typed, checked and read into
values; and the values in force, written back the way the form shows them.

Values are typed as text, the way a form sends them (``"600"``, ``"50, 100, 250"``,
``"10 mg/mL x 20 mL"``), and checked here so that every entry point refuses the same things
with the same messages: a refusal is an :class:`~ketaplan.errors.InputError` whose
``fields["field"]`` names the form field and ``fields["value"]`` holds what was typed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time

from ketaplan.clinical.calendar import WEEKDAYS, ClinicCalendar
from ketaplan.clinical.monitoring import MonitoringRules, rule_direction, threshold_text
from ketaplan.errors import InputError, InputProblems
from ketaplan.services.clinic_identity import IdentityInput, parse_identity
from ketaplan.services.clinic_settings_stored import (
    VialStock,
    calendar_to_json,
    thresholds_by_field,
)
from ketaplan.services.questionnaire_intervals import parse_every_days

MAX_PRICE_USD = 100_000.0
MAX_CHAIRS = 50
"""More infusion chairs than any one clinic runs: a typo, not a clinic."""


MAX_BAG_ML = 2000.0


MAX_NAME_LENGTH = 200


MAX_HOURS_BETWEEN = 168.0
"""Spacing between infusions the calendar accepts: up to a week (a series is 2-3 weeks)."""


MAX_SESSION_TIMES = 12


MAX_HOLIDAYS = 400


HOLIDAY_YEARS = (2000, 2100)


MAX_OVERFILL_PERCENT = 25.0


@dataclass(frozen=True, slots=True)
class CalendarInput:
    """The calendar part of the form as typed: ``("mon", "tue")``, ``"08:00"``,
    ``"09:00, 11:00"``, ``"2026-12-25"`` (one a line or comma-separated), ``"20"``, ``"5"``."""

    open_weekdays: tuple[str, ...]
    open_time: str
    close_time: str
    session_times: str
    holidays: str
    min_hours_between: str
    max_per_week: str


@dataclass(frozen=True, slots=True)
class ClinicSettingsInput:
    """The settings form as typed: ``"600"``, ``"50, 100, 250"``, ``"10 mg/mL x 20 mL"``.

    ``calendar`` and ``thresholds`` (``{"threshold__mood__in_sbp_hold": "170"}``, the form's
    field names) may be left out: the values in force are kept.
    """

    name: str
    price_per_session_usd: str
    bag_sizes_ml: str
    vials: str
    calendar: CalendarInput | None = None
    thresholds: Mapping[str, str] = field(default_factory=dict)
    bag_overfill_percent: str | None = None
    """``"9"`` or ``"9 %"``; left out, the value in force is kept."""
    identity: IdentityInput = field(default_factory=IdentityInput)
    """Holiday region, address, calendar title, DEA number; those left out are kept."""
    chairs: str | None = None
    """``"4"``; left out, the value in force is kept."""
    every_days: Mapping[str, str] | None = None
    """``{"every_days__phq9": "21"}``: the questionnaire intervals (blank: the catalog's);
    left out, those in force are kept."""


def _bad(field: str, message: str, value: str) -> InputError:
    return InputError(
        message, code="input.invalid_setting", fields={"field": field, "value": value}
    )


def _price(text: str) -> float:
    cleaned = text.strip().lstrip("$").replace(",", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise _bad(
            "price_per_session_usd", f"price {text!r} is not a number of dollars (e.g. 600)", text
        ) from None
    if not math.isfinite(value) or not 0 <= value <= MAX_PRICE_USD:
        raise _bad(
            "price_per_session_usd",
            f"price {text!r} must be between 0 and {MAX_PRICE_USD:,.0f} dollars",
            text,
        )
    return round(value, 2)


def _chairs(text: str) -> int:
    cleaned = text.strip()
    if not (cleaned.isascii() and cleaned.isdigit()) or not 1 <= int(cleaned) <= MAX_CHAIRS:
        raise _bad(
            "chairs",
            f"chairs {text!r} must be a whole number of infusion chairs from 1 to {MAX_CHAIRS}",
            text,
        )
    return int(cleaned)


def _bag_sizes(text: str) -> tuple[float, ...]:
    parts = [p.strip().removesuffix("mL").removesuffix("ml").strip() for p in text.split(",")]
    sizes: list[float] = []
    for part in parts:
        try:
            size = float(part)
        except ValueError:
            raise _bad(
                "bag_sizes_ml",
                f"bag size {part!r} is not a volume in mL; list sizes with commas (50, 100, 250)",
                text,
            ) from None
        if not math.isfinite(size) or not 0 < size <= MAX_BAG_ML:
            raise _bad("bag_sizes_ml", f"bag size {part} mL must be 1 to {MAX_BAG_ML:.0f}", text)
        sizes.append(size)
    if not sizes:
        raise _bad("bag_sizes_ml", "list at least one bag size in mL (e.g. 50, 100, 250)", text)
    return tuple(sorted(set(sizes)))


def _overfill_percent(text: str) -> float:
    cleaned = text.strip().removesuffix("%").strip()
    try:
        value = float(cleaned)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= MAX_OVERFILL_PERCENT:
        raise _bad(
            "bag_overfill_percent",
            f"bag overfill {text!r} must be a percentage of the bag's label from 0 to "
            f"{MAX_OVERFILL_PERCENT:g} (e.g. 9 for 100 mL bags holding about 109 mL)",
            text,
        )
    return round(value, 2)


_VIAL = re.compile(
    r"^\s*(?P<conc>\d+(?:\.\d+)?)\s*mg\s*/\s*ml\s*[x×]\s*(?P<vol>\d+(?:\.\d+)?)\s*ml\s*$",
    re.IGNORECASE,
)


def _vials(text: str) -> tuple[VialStock, ...]:
    vials: list[VialStock] = []
    for line in re.split(r"[\n;]", text):
        if not line.strip():
            continue
        match = _VIAL.match(line)
        if match is None:
            raise _bad(
                "vials",
                f"vial {line.strip()!r} is not written as '<mg/mL> mg/mL x <mL> mL' "
                "(e.g. 50 mg/mL x 10 mL), one vial a line",
                text,
            )
        conc, volume = float(match["conc"]), float(match["vol"])
        if not (0 < conc <= 500 and 0 < volume <= 100):
            raise _bad("vials", f"vial {line.strip()!r} is outside 0-500 mg/mL, 0-100 mL", text)
        vials.append(VialStock(conc, volume))
    if not vials:
        raise _bad("vials", "list at least one vial in stock (e.g. 50 mg/mL x 10 mL)", text)
    return tuple(vials)


_CLOCK = re.compile(r"^\s*(?P<h>\d{1,2})[:.](?P<m>\d{2})\s*$")


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _clock(field_name: str, what: str, text: str) -> time:
    match = _CLOCK.match(text)
    if match is None or int(match["h"]) > 23 or int(match["m"]) > 59:
        raise _bad(
            field_name, f"{what} {text.strip()!r} is not a local time HH:MM (e.g. 08:00)", text
        )
    return time(int(match["h"]), int(match["m"]))


def _weekdays(typed: tuple[str, ...]) -> frozenset[int]:
    days = set()
    for day in typed:
        key = day.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise _bad("open_weekdays", f"{day!r} is not a weekday (mon ... sun)", day)
        days.add(WEEKDAYS.index(key))
    if not days:
        raise _bad("open_weekdays", "tick at least one day the clinic gives infusions", "")
    return frozenset(days)


def _session_times(text: str, opens: time | None, closes: time | None) -> tuple[time, ...]:
    """The slots, each inside opening hours (checked only when both hours were valid)."""
    parts = [p for p in re.split(r"[,;\s]+", text) if p]
    if not parts:
        raise _bad("session_times", "list at least one session start time (e.g. 09:00, 11:00)", "")
    if len(parts) > MAX_SESSION_TIMES:
        raise _bad("session_times", f"list at most {MAX_SESSION_TIMES} session times", text)
    slots = sorted({_clock("session_times", "session time", part) for part in parts})
    for slot in slots:
        if opens is not None and closes is not None and not opens <= slot < closes:
            raise _bad(
                "session_times",
                f"session time {slot:%H:%M} is outside opening hours {opens:%H:%M}-{closes:%H:%M}",
                text,
            )
    return tuple(slots)


def _holidays(text: str) -> frozenset[date]:
    holidays = set()
    for part in (p for p in re.split(r"[,;\s]+", text) if p):
        try:
            day_off = date.fromisoformat(part) if _DATE.match(part) else None
        except ValueError:
            day_off = None
        if day_off is None or not HOLIDAY_YEARS[0] <= day_off.year <= HOLIDAY_YEARS[1]:
            raise _bad(
                "holidays",
                f"holiday {part!r} is not a date YYYY-MM-DD between {HOLIDAY_YEARS[0]} and "
                f"{HOLIDAY_YEARS[1]} (one a line, e.g. 2026-12-25)",
                text,
            )
        holidays.add(day_off)
    if len(holidays) > MAX_HOLIDAYS:
        raise _bad("holidays", f"list at most {MAX_HOLIDAYS} holidays", text)
    return frozenset(holidays)


def _hours_between(text: str) -> float:
    try:
        hours = float(text.strip().removesuffix("h").strip())
    except ValueError:
        hours = math.nan
    if not 0 <= hours <= MAX_HOURS_BETWEEN:
        raise _bad(
            "min_hours_between",
            f"hours between infusions {text.strip()!r} must be a number from "
            f"0 to {MAX_HOURS_BETWEEN:g} (e.g. 20)",
            text,
        )
    return hours


def _per_week(text: str) -> int:
    cleaned = text.strip()
    if not (cleaned.isascii() and cleaned.isdigit()) or not 1 <= int(cleaned) <= 7:
        raise _bad(
            "max_per_week",
            f"infusions per 7 days {cleaned!r} must be a whole number from 1 to 7",
            text,
        )
    return int(cleaned)


def _closing(text: str, opens: time | None) -> time:
    closes = _clock("close_time", "closing time", text)
    if opens is not None and closes <= opens:
        raise _bad(
            "close_time",
            f"closing time {closes:%H:%M} must be after opening time {opens:%H:%M}",
            text,
        )
    return closes


def _calendar(
    typed: CalendarInput, default: ClinicCalendar, problems: InputProblems
) -> ClinicCalendar | None:
    """The typed calendar, each field checked so that every message sits beside its field
    (refusals go to ``problems``; ``None`` when any field was refused)."""
    days = problems.check(_weekdays, typed.open_weekdays)
    opens = problems.check(_clock, "open_time", "opening time", typed.open_time)
    closes = problems.check(_closing, typed.close_time, opens)
    slots = problems.check(_session_times, typed.session_times, opens, closes)
    holidays = problems.check(_holidays, typed.holidays)
    hours = problems.check(_hours_between, typed.min_hours_between)
    per_week = problems.check(_per_week, typed.max_per_week)
    if (
        days is None
        or opens is None
        or closes is None
        or slots is None
        or holidays is None
        or hours is None
        or per_week is None
    ):
        return None
    return replace(
        default,
        open_weekdays=days,
        open_time=opens,
        close_time=closes,
        session_times=slots,
        holidays=holidays,
        min_hours_between=hours,
        max_per_week=per_week,
    )


@dataclass(frozen=True, slots=True)
class ParsedSettings:
    """The form's values, checked: all but the alert thresholds, which are checked against the
    rules in force inside the saving transaction (:func:`parse_thresholds`)."""

    name: str
    price_per_session_usd: float
    bag_sizes_ml: tuple[float, ...]
    vials: tuple[VialStock, ...]
    bag_overfill_percent: float | None
    """``None``: left out of the form, the value in force is kept."""
    calendar: ClinicCalendar | None
    """``None``: left out of the form, the calendar in force is kept."""
    identity: dict[str, str] = field(default_factory=dict)
    """Region, address, calendar title and DEA number as typed and checked, by stored key
    (:mod:`~ketaplan.services.clinic_identity`); one left out is kept as it is."""
    chairs: int | None = None
    """``None``: left out of the form, the chair count in force is kept."""
    every_days: dict[str, int] | None = None
    """The clinic's own questionnaire intervals by scale; ``None``: left out, kept."""


def _name(text: str) -> str:
    name = text.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise _bad("name", f"the clinic's name must be 1-{MAX_NAME_LENGTH} characters", text)
    return name


def parse_form(typed: ClinicSettingsInput, default_calendar: ClinicCalendar) -> ParsedSettings:
    """Every field of the form checked, before anything is written: every bad one is refused
    at once (:class:`~ketaplan.errors.InputErrors`), each with its field named.
    ``default_calendar`` is what a typed calendar is laid over."""
    problems = InputProblems()
    name = problems.check(_name, typed.name)
    price = problems.check(_price, typed.price_per_session_usd)
    bags = problems.check(_bag_sizes, typed.bag_sizes_ml)
    vials = problems.check(_vials, typed.vials)
    overfill = (
        None
        if typed.bag_overfill_percent is None
        else problems.check(_overfill_percent, typed.bag_overfill_percent)
    )
    calendar = _calendar(typed.calendar, default_calendar, problems) if typed.calendar else None
    identity = parse_identity(typed.identity, problems)
    chairs = None if typed.chairs is None else problems.check(_chairs, typed.chairs)
    every_days = None if typed.every_days is None else parse_every_days(typed.every_days, problems)
    problems.raise_any()
    assert name is not None
    assert price is not None
    assert bags is not None
    assert vials is not None
    return ParsedSettings(
        name, price, bags, vials, overfill, calendar, identity, chairs, every_days
    )


def _threshold(name: str, text: str, default: MonitoringRules) -> float:
    cleaned = text.strip()
    try:
        value = float(cleaned)
        if not math.isfinite(value):
            raise ValueError(cleaned)
    except ValueError:
        _, category, code = name.split("__", 2)
        rule = next(r for r in default.for_category(category) if r.code == code)
        raise _bad(
            name,
            f"threshold {cleaned!r} is not a number; accepted: "
            f"{threshold_text(rule.vital, rule_direction(rule))}",
            text,
        ) from None
    return value


def parse_thresholds(
    typed: Mapping[str, str], current: MonitoringRules, default: MonitoringRules
) -> dict[str, dict[str, float]]:
    """The thresholds that differ from the defaults, ``{category: {code: number}}``, from the
    typed ones (a field left out keeps the value in force); every bad one refused at once."""
    in_force = thresholds_by_field(current)
    problems = InputProblems()
    own: dict[str, dict[str, float]] = {}
    for name, default_value in thresholds_by_field(default).items():
        text = typed.get(name)
        value: float | None = in_force.get(name, default_value)
        if text is not None:
            value = problems.check(_threshold, name, text, default)
        if value is not None and value != default_value:
            _, category, code = name.split("__", 2)
            own.setdefault(category, {})[code] = value
    for name in typed:
        if name not in in_force:
            problems.add(_bad(name, f"{name!r} is not a monitoring threshold ketaplan knows", name))
    problems.raise_any()
    return own


def vials_as_text(vials: tuple[VialStock, ...]) -> str:
    """Vials as the settings form shows them, one a line."""
    return "\n".join(f"{v.mg_per_ml:g} mg/mL x {v.volume_ml:g} mL" for v in vials)


def thresholds_as_text(rules: MonitoringRules) -> dict[str, str]:
    """Every threshold as the settings form shows it, by field name."""
    return {name: f"{value:g}" for name, value in thresholds_by_field(rules).items()}


def calendar_as_text(calendar: ClinicCalendar) -> dict[str, str]:
    """The calendar as the settings form shows it (weekdays as ``open_<day>`` checkboxes)."""
    data = calendar_to_json(calendar)
    return {
        "open_time": data["open_time"],
        "close_time": data["close_time"],
        "session_times": ", ".join(data["session_times"]),
        "holidays": "\n".join(data["holidays"]),
        "min_hours_between": f"{calendar.min_hours_between:g}",
        "max_per_week": str(calendar.max_per_week),
        **{f"open_{day}": "on" for day in data["open_weekdays"]},
    }
