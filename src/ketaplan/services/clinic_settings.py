"""Clinic settings: what an admin edits in the browser (name, price per session, supplies,
the calendar courses are scheduled against, and the vital-sign alert thresholds).

The catalog's ``[clinic]`` section, ``calendar.toml`` and ``monitoring.toml`` give the
defaults; a clinic's own values live in its ``clinic.settings`` JSON and win over them. The
calendar and thresholds are stored only where they differ from the defaults, so a clinic that
never changed them follows the catalog. Services that schedule courses or raise alerts ask
:func:`clinic_calendar` and :func:`clinic_monitoring` for the values in force, whatever the
entry point (API, pages, demo data). An edit names the settings version it was made from
(like a patient update): two admins editing at once cannot silently overwrite each other. Only
the values that changed are recorded in the audit event, with their old and new values (no
patient data here).

Values are typed as text, the way a form sends them, and validated here so that every entry
point refuses the same things with the same messages (``fields["field"]`` names the field).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Table, bindparam, select, update

from ketaplan.clinical.calendar import WEEKDAYS, ClinicCalendar
from ketaplan.clinical.catalog import Catalog, ClinicSettings, Vial
from ketaplan.clinical.monitoring import (
    MonitoringRule,
    MonitoringRules,
    rule_direction,
    rule_threshold,
    threshold_text,
    with_recorded_thresholds,
    with_thresholds,
)
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import ConflictError, InputError, NotFoundError
from ketaplan.public_holidays import region_holidays
from ketaplan.services.actors import Actor, require_role
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import Clinic, InfusionSession

MAX_PRICE_USD = 100_000.0
MAX_BAG_ML = 2000.0
MAX_NAME_LENGTH = 200
MAX_HOURS_BETWEEN = 168.0
"""Spacing between infusions the calendar accepts: up to a week (a series is 2-3 weeks)."""
MAX_SESSION_TIMES = 12
MAX_HOLIDAYS = 400
HOLIDAY_YEARS = (2000, 2100)


@dataclass(frozen=True, slots=True)
class VialStock:
    mg_per_ml: float
    volume_ml: float


@dataclass(frozen=True, slots=True)
class ClinicSettingsRecord:
    """A clinic's settings as in force: its own values over the catalog's defaults."""

    clinic_id: int
    version: int
    name: str
    time_zone: str
    price_per_session_usd: float
    bag_sizes_ml: tuple[float, ...]
    vials: tuple[VialStock, ...]
    calendar: ClinicCalendar
    monitoring: MonitoringRules
    bag_overfill_percent: float = 0.0
    """Diluent above a bag's label, in % of it: the preparation card counts it."""


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


MAX_OVERFILL_PERCENT = 25.0


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


def _calendar(typed: CalendarInput, default: ClinicCalendar) -> ClinicCalendar:
    """The typed calendar, checked field by field so that each message sits beside its field."""
    days = set()
    for day in typed.open_weekdays:
        key = day.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise _bad("open_weekdays", f"{day!r} is not a weekday (mon ... sun)", day)
        days.add(WEEKDAYS.index(key))
    if not days:
        raise _bad("open_weekdays", "tick at least one day the clinic gives infusions", "")
    opens = _clock("open_time", "opening time", typed.open_time)
    closes = _clock("close_time", "closing time", typed.close_time)
    if closes <= opens:
        raise _bad(
            "close_time",
            f"closing time {closes:%H:%M} must be after opening time {opens:%H:%M}",
            typed.close_time,
        )
    parts = [p for p in re.split(r"[,;\s]+", typed.session_times) if p]
    if not parts:
        raise _bad("session_times", "list at least one session start time (e.g. 09:00, 11:00)", "")
    if len(parts) > MAX_SESSION_TIMES:
        raise _bad(
            "session_times", f"list at most {MAX_SESSION_TIMES} session times", typed.session_times
        )
    slots = sorted({_clock("session_times", "session time", part) for part in parts})
    for slot in slots:
        if not opens <= slot < closes:
            raise _bad(
                "session_times",
                f"session time {slot:%H:%M} is outside opening hours {opens:%H:%M}-{closes:%H:%M}",
                typed.session_times,
            )
    holidays = set()
    for part in (p for p in re.split(r"[,;\s]+", typed.holidays) if p):
        try:
            day_off = date.fromisoformat(part) if _DATE.match(part) else None
        except ValueError:
            day_off = None
        if day_off is None or not HOLIDAY_YEARS[0] <= day_off.year <= HOLIDAY_YEARS[1]:
            raise _bad(
                "holidays",
                f"holiday {part!r} is not a date YYYY-MM-DD between {HOLIDAY_YEARS[0]} and "
                f"{HOLIDAY_YEARS[1]} (one a line, e.g. 2026-12-25)",
                typed.holidays,
            )
        holidays.add(day_off)
    if len(holidays) > MAX_HOLIDAYS:
        raise _bad("holidays", f"list at most {MAX_HOLIDAYS} holidays", typed.holidays)
    try:
        hours = float(typed.min_hours_between.strip().removesuffix("h").strip())
    except ValueError:
        hours = math.nan
    if not 0 <= hours <= MAX_HOURS_BETWEEN:
        raise _bad(
            "min_hours_between",
            f"hours between infusions {typed.min_hours_between.strip()!r} must be a number from "
            f"0 to {MAX_HOURS_BETWEEN:g} (e.g. 20)",
            typed.min_hours_between,
        )
    per_week_text = typed.max_per_week.strip()
    if (
        not (per_week_text.isascii() and per_week_text.isdigit())
        or not 1 <= int(per_week_text) <= 7
    ):
        raise _bad(
            "max_per_week",
            f"infusions per 7 days {per_week_text!r} must be a whole number from 1 to 7",
            typed.max_per_week,
        )
    return replace(
        default,
        open_weekdays=frozenset(days),
        open_time=opens,
        close_time=closes,
        session_times=tuple(slots),
        holidays=frozenset(holidays),
        min_hours_between=hours,
        max_per_week=int(per_week_text),
    )


def _calendar_to_json(calendar: ClinicCalendar) -> dict[str, Any]:
    return {
        "open_weekdays": [WEEKDAYS[d] for d in sorted(calendar.open_weekdays)],
        "open_time": f"{calendar.open_time:%H:%M}",
        "close_time": f"{calendar.close_time:%H:%M}",
        "session_times": [f"{t:%H:%M}" for t in calendar.session_times],
        "holidays": sorted(d.isoformat() for d in calendar.holidays),
        "min_hours_between": calendar.min_hours_between,
        "max_per_week": calendar.max_per_week,
    }


def _calendar_from_json(data: Mapping[str, Any], default: ClinicCalendar) -> ClinicCalendar:
    return replace(
        default,
        open_weekdays=frozenset(WEEKDAYS.index(d) for d in data["open_weekdays"]),
        open_time=time.fromisoformat(data["open_time"]),
        close_time=time.fromisoformat(data["close_time"]),
        session_times=tuple(time.fromisoformat(t) for t in data["session_times"]),
        holidays=frozenset(date.fromisoformat(d) for d in data["holidays"]),
        min_hours_between=float(data["min_hours_between"]),
        max_per_week=int(data["max_per_week"]),
    )


def _thresholds(rules: MonitoringRules) -> dict[str, float]:
    """Every rule's threshold by its form field name ``threshold__<category>__<code>``."""
    return {
        f"threshold__{category}__{rule.code}": rule_threshold(rule)
        for category, category_rules in sorted(rules.by_category.items())
        for rule in category_rules
    }


def _own_thresholds(
    typed: Mapping[str, str], current: MonitoringRules, default: MonitoringRules
) -> dict[str, dict[str, float]]:
    """The thresholds that differ from the defaults, ``{category: {code: number}}``, from the
    typed ones (a field left out keeps the value in force)."""
    in_force = _thresholds(current)
    own: dict[str, dict[str, float]] = {}
    for name, default_value in _thresholds(default).items():
        text = typed.get(name)
        value = in_force.get(name, default_value)
        if text is not None:
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
        if value != default_value:
            _, category, code = name.split("__", 2)
            own.setdefault(category, {})[code] = value
    for name in typed:
        if name not in in_force:
            raise _bad(name, f"{name!r} is not a monitoring threshold ketaplan knows", name)
    return own


Derived = TypeVar("Derived")
MAX_REMEMBERED = 64
_derived: dict[tuple[str, int, Hashable], tuple[object, object]] = {}


def _remembered(kind: str, default: object, key: Hashable, build: Callable[[], Derived]) -> Derived:
    """A value derived from a default and a clinic's own values, built once per distinct pair.

    ``key`` stands for the clinic's values by content (their canonical JSON, or the values
    themselves), not the settings version, so a restored database or two clinics with the same
    values cannot be handed the wrong one; the entry keeps ``default`` alive so that its id
    stays its own. Services ask on every plan, course, chart and alert, so this keeps them to a
    dictionary lookup (and plans to one stock object per stock, whose preparation work
    :mod:`ketaplan.clinical.catalog.memo` keeps).
    """
    entry = (kind, id(default), key)
    known = _derived.get(entry)
    if known is None:
        if len(_derived) >= MAX_REMEMBERED:
            _derived.clear()
        known = _derived[entry] = (default, build())
    return cast(Derived, known[1])


def _content(value: object) -> str:
    """A clinic's stored values as a cache key: their canonical JSON."""
    return json.dumps(value, sort_keys=True)


def _own_calendar(own: Mapping[str, Any], default: ClinicCalendar) -> ClinicCalendar:
    """The stored calendar over the default; a stored ``holiday_region`` (top level, so that
    saving the calendar form keeps it; ``""`` for none) picks the public holidays."""
    data = own.get("calendar")
    region = own.get("holiday_region")
    if not data and region is None:
        return default

    def build() -> ClinicCalendar:
        calendar = _calendar_from_json(data, default) if data else default
        if region is None:
            return calendar
        return replace(calendar, public_holidays=region_holidays(region) if region else None)

    return _remembered("calendar", default, _content([data, region]), build)


def _own_monitoring(own: Mapping[str, Any], default: MonitoringRules) -> MonitoringRules:
    """The default rules with the clinic's stored thresholds.

    A stored threshold for a rule the catalog no longer has is left out rather than refused:
    alerts must keep working for a clinic whose settings predate a catalog change.
    """
    data = own.get("monitoring")
    if not data:
        return default
    known = {
        category: {
            code: value
            for code, value in values.items()
            if any(rule.code == code for rule in default.by_category.get(category, ()))
        }
        for category, values in data.items()
        if category in default.by_category
    }
    return _remembered(
        "monitoring", default, _content(known), lambda: with_thresholds(default, known)
    )


def _own_bag_sizes_ml(own: Mapping[str, Any], defaults: ClinicSettings) -> tuple[float, ...]:
    return tuple(float(v) for v in own.get("bag_sizes_ml", defaults.preparation.bag_sizes_ml))


def _own_overfill_percent(own: Mapping[str, Any], defaults: ClinicSettings) -> float:
    fraction = own.get("bag_overfill_fraction", defaults.preparation.bag_overfill_fraction)
    return round(float(fraction) * 100, 2)


def _own_vials(own: Mapping[str, Any], defaults: ClinicSettings) -> tuple[VialStock, ...]:
    vials = own.get("vials")
    if vials:
        return tuple(VialStock(float(v["mg_per_ml"]), float(v["volume_ml"])) for v in vials)
    return tuple(VialStock(v.mg_per_ml, v.volume_ml) for v in defaults.vials)


@dataclass(frozen=True, slots=True)
class PolicyDefaults:
    """The defaults a clinic's calendar and thresholds start from (the service context's)."""

    calendar: ClinicCalendar
    monitoring: MonitoringRules


def _policy_defaults(
    catalog: Catalog, calendar: ClinicCalendar | None, monitoring: MonitoringRules | None
) -> PolicyDefaults:
    from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules

    return PolicyDefaults(
        calendar if calendar is not None else load_calendar(None, catalog.clinic.time_zone),
        monitoring if monitoring is not None else load_monitoring_rules(),
    )


def _record(clinic: Clinic, catalog: Catalog, policy: PolicyDefaults) -> ClinicSettingsRecord:
    own = clinic.settings or {}
    defaults = catalog.clinic
    return ClinicSettingsRecord(
        clinic_id=clinic.id,
        version=clinic.settings_version,
        name=clinic.name,
        time_zone=clinic.time_zone,
        price_per_session_usd=float(
            own.get("price_per_session_usd", defaults.price_per_session_usd)
        ),
        bag_sizes_ml=_own_bag_sizes_ml(own, defaults),
        vials=_own_vials(own, defaults),
        calendar=_own_calendar(own, policy.calendar),
        monitoring=_own_monitoring(own, policy.monitoring),
        bag_overfill_percent=_own_overfill_percent(own, defaults),
    )


def _clinic(uow: UnitOfWork, actor: Actor) -> Clinic:
    clinic = uow.session.get(Clinic, actor.clinic_id)
    if clinic is None:
        raise NotFoundError(f"there is no clinic {actor.clinic_id}")
    return clinic


def clinic_settings(
    uow: UnitOfWork,
    *,
    actor: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar | None = None,
    monitoring: MonitoringRules | None = None,
) -> ClinicSettingsRecord:
    """The actor's clinic settings as in force (any member of staff may read them).

    ``calendar`` and ``monitoring`` are the defaults (the service context's); without them the
    packaged catalog files are read.
    """
    policy = _policy_defaults(catalog, calendar, monitoring)
    with uow.reading():
        record = _record(_clinic(uow, actor), catalog, policy)
        uow.audit(actor, "clinic.settings.read", "clinic", actor.clinic_id)
        uow.commit()
        return record


def update_clinic_settings(
    uow: UnitOfWork,
    typed: ClinicSettingsInput,
    *,
    expected_version: int,
    actor: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar | None = None,
    monitoring: MonitoringRules | None = None,
) -> ClinicSettingsRecord:
    """Save the clinic's settings (admins only) if ``expected_version`` is still current.

    Every field is checked before anything is written, so a refusal names its field and
    changes nothing. The audit event lists each value that changed, with its old and new
    value (``calendar.<field>``, ``threshold.<category>.<rule>`` for the calendar and alerts).
    """
    require_role(actor, ("admin",), "editing the clinic settings")
    policy = _policy_defaults(catalog, calendar, monitoring)
    name = typed.name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise _bad("name", f"the clinic's name must be 1-{MAX_NAME_LENGTH} characters", typed.name)
    price = _price(typed.price_per_session_usd)
    bags = _bag_sizes(typed.bag_sizes_ml)
    vials = _vials(typed.vials)
    overfill = (
        None
        if typed.bag_overfill_percent is None
        else _overfill_percent(typed.bag_overfill_percent)
    )
    new_calendar = _calendar(typed.calendar, policy.calendar) if typed.calendar else None
    with uow:
        clinic = _clinic(uow, actor)
        before = _record(clinic, catalog, policy)
        own_thresholds = _own_thresholds(typed.thresholds, before.monitoring, policy.monitoring)
        new_monitoring = with_thresholds(policy.monitoring, own_thresholds)
        calendar_json = _calendar_to_json(new_calendar or before.calendar)
        settings: dict[str, Any] = {
            key: value
            for key, value in (clinic.settings or {}).items()
            if key not in ("calendar", "monitoring")
        }
        settings.update(
            {
                "price_per_session_usd": price,
                "bag_sizes_ml": list(bags),
                "vials": [{"mg_per_ml": v.mg_per_ml, "volume_ml": v.volume_ml} for v in vials],
            }
        )
        if overfill is not None:
            settings["bag_overfill_fraction"] = round(overfill / 100, 4)
        if calendar_json != _calendar_to_json(policy.calendar):
            settings["calendar"] = calendar_json
        if own_thresholds:
            settings["monitoring"] = own_thresholds
        bumped = cast(
            "CursorResult[Any]",
            uow.session.execute(
                update(Clinic)
                .where(Clinic.id == clinic.id, Clinic.settings_version == expected_version)
                .values(name=name, settings=settings, settings_version=expected_version + 1)
                .execution_options(synchronize_session=False)
            ),
        )
        if bumped.rowcount != 1:
            raise ConflictError(
                f"the clinic settings were changed by someone else after you opened them (you "
                f"edited version {expected_version}; it is now at version {before.version}); "
                "reload the page and make your change again",
                code="conflict.stale_version",
                fields={"expected_version": expected_version, "version": before.version},
            )
        uow.wrote(Clinic, clinic.id)
        after = ClinicSettingsRecord(
            clinic.id,
            expected_version + 1,
            name,
            clinic.time_zone,
            price,
            bags,
            vials,
            _own_calendar(settings, policy.calendar),
            _own_monitoring(settings, policy.monitoring),
            _own_overfill_percent(settings, catalog.clinic),
        )
        changed = {
            key: {"from": _jsonable(getattr(before, key)), "to": _jsonable(getattr(after, key))}
            for key in (
                "name",
                "price_per_session_usd",
                "bag_sizes_ml",
                "vials",
                "bag_overfill_percent",
            )
            if getattr(before, key) != getattr(after, key)
        }
        was_calendar = _calendar_to_json(before.calendar)
        changed.update(
            {
                f"calendar.{key}": {"from": was_calendar[key], "to": value}
                for key, value in calendar_json.items()
                if was_calendar[key] != value
            }
        )
        was_thresholds, now_thresholds = _thresholds(before.monitoring), _thresholds(new_monitoring)
        changed.update(
            {
                "threshold." + key.removeprefix("threshold__").replace("__", "."): {
                    "from": was_thresholds[key],
                    "to": value,
                }
                for key, value in now_thresholds.items()
                if was_thresholds[key] != value
            }
        )
        uow.audit(
            actor,
            "clinic.settings.update",
            "clinic",
            clinic.id,
            details={"to_version": expected_version + 1, "changed": changed},
        )
        uow.commit()
        return after


def _jsonable(value: object) -> object:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, VialStock):
        return {"mg_per_ml": value.mg_per_ml, "volume_ml": value.volume_ml}
    return value


def vials_as_text(vials: tuple[VialStock, ...]) -> str:
    """Vials as the settings form shows them, one a line."""
    return "\n".join(f"{v.mg_per_ml:g} mg/mL x {v.volume_ml:g} mL" for v in vials)


def clinic_price(uow: UnitOfWork, actor: Actor, catalog: Catalog) -> float:
    """The price per session in force, inside an open unit of work (for course costs)."""
    own = _own_settings(uow, actor)
    return float(own.get("price_per_session_usd", catalog.clinic.price_per_session_usd))


_CLINICS = cast(Table, Clinic.__table__)
# Built once: plans, charts and alerts read the clinic's settings on every request.
_OWN_SETTINGS = select(_CLINICS.c.settings, _CLINICS.c.settings_version).where(
    _CLINICS.c.id == bindparam("clinic_id")
)


def _own_settings_and_version(uow: UnitOfWork, actor: Actor) -> tuple[Mapping[str, Any], int]:
    found = (
        uow.session.connection()
        .execute(_OWN_SETTINGS, {"clinic_id": actor.clinic_id})
        .one_or_none()
    )
    if found is None:
        raise NotFoundError(f"there is no clinic {actor.clinic_id}")
    return found.settings or {}, int(found.settings_version)


def _own_settings(uow: UnitOfWork, actor: Actor) -> Mapping[str, Any]:
    return _own_settings_and_version(uow, actor)[0]


def clinic_calendar(uow: UnitOfWork, actor: Actor, default: ClinicCalendar) -> ClinicCalendar:
    """The calendar in force for the actor's clinic, inside an open unit of work: its own from
    the settings page, else ``default`` (the catalog's). Courses are scheduled against it."""
    return _own_calendar(_own_settings(uow, actor), default)


def clinic_monitoring(uow: UnitOfWork, actor: Actor, default: MonitoringRules) -> MonitoringRules:
    """The monitoring rules in force for the actor's clinic, inside an open unit of work: the
    catalog's (``default``) with the clinic's own thresholds. Alerts are raised with them."""
    return _own_monitoring(_own_settings(uow, actor), default)


def clinic_alert_thresholds(uow: UnitOfWork, actor: Actor, category: str) -> dict[str, float]:
    """The clinic's own alert thresholds for a category now (``{rule code: number}``, empty
    when it uses the catalog's): what a new session records as its ``alert_thresholds``."""
    stored = _own_settings(uow, actor).get("monitoring") or {}
    return {code: float(value) for code, value in (stored.get(category) or {}).items()}


@dataclass(frozen=True, slots=True)
class ChartRules:
    """The rules charts are judged by: each session by the thresholds recorded when it was
    opened, on the catalog's rules (``default``); a session from before they were recorded by
    the clinic's thresholds now (``current``)."""

    default: MonitoringRules
    current: MonitoringRules

    def for_session(self, session: InfusionSession) -> tuple[MonitoringRule, ...]:
        recorded = session.alert_thresholds
        if recorded is None:
            return self.current.for_category(session.category)
        rules = self.default.for_category(session.category)
        return _remembered(
            "recorded thresholds",
            self.default,
            (session.category, _content(recorded)),
            lambda: with_recorded_thresholds(rules, recorded),
        )


def clinic_chart_rules(uow: UnitOfWork, actor: Actor, default: MonitoringRules) -> ChartRules:
    """The :class:`ChartRules` for the actor's clinic, inside an open unit of work."""
    return ChartRules(default, clinic_monitoring(uow, actor, default))


def thresholds_as_text(rules: MonitoringRules) -> dict[str, str]:
    """Every threshold as the settings form shows it, by field name."""
    return {name: f"{value:g}" for name, value in _thresholds(rules).items()}


def calendar_as_text(calendar: ClinicCalendar) -> dict[str, str]:
    """The calendar as the settings form shows it (weekdays as ``open_<day>`` checkboxes)."""
    data = _calendar_to_json(calendar)
    return {
        "open_time": data["open_time"],
        "close_time": data["close_time"],
        "session_times": ", ".join(data["session_times"]),
        "holidays": "\n".join(data["holidays"]),
        "min_hours_between": f"{calendar.min_hours_between:g}",
        "max_per_week": str(calendar.max_per_week),
        **{f"open_{day}": "on" for day in data["open_weekdays"]},
    }


def _supplies(
    defaults: ClinicSettings,
    vials: tuple[VialStock, ...],
    bag_sizes_ml: tuple[float, ...],
    bag_overfill_fraction: float,
) -> ClinicSettings:
    """The catalog's clinic with these vials, bags and overfill, one object per distinct stock
    (:func:`_remembered`): the preparation search remembers its work per stock object."""
    return _remembered(
        "stock",
        defaults,
        (vials, bag_sizes_ml, bag_overfill_fraction),
        lambda: replace(
            defaults,
            vials=tuple(
                sorted((Vial(v.mg_per_ml, v.volume_ml) for v in vials), key=lambda v: v.mg_per_ml)
            ),
            preparation=replace(
                defaults.preparation,
                bag_sizes_ml=bag_sizes_ml,
                bag_overfill_fraction=bag_overfill_fraction,
            ),
        ),
    )


def clinic_policy(uow: UnitOfWork, actor: Actor, base: ClinicPolicy) -> ClinicPolicy:
    """The actor's clinic's policy, inside an open unit of work: its own settings (calendar,
    alert thresholds, vials and bags) over ``base`` (the entry point's catalog, rules and
    calendar, with any clinic file).

    Every use case that doses, screens, schedules or charts resolves its policy here, once, and
    hands it to the domain: one query of two columns, and derived values remembered per
    content (:func:`_remembered`), so a plan costs one small query more, not a catalog rebuild.
    """
    own, version = _own_settings_and_version(uow, actor)
    defaults = base.supplies
    own_stock = bool(own.get("vials")) or "bag_sizes_ml" in own or "bag_overfill_fraction" in own
    supplies = (
        _supplies(
            defaults,
            _own_vials(own, defaults),
            tuple(sorted(_own_bag_sizes_ml(own, defaults))),
            float(own.get("bag_overfill_fraction", defaults.preparation.bag_overfill_fraction)),
        )
        if own_stock
        else defaults
    )
    return ClinicPolicy(
        catalog=base.catalog,
        monitoring=_own_monitoring(own, base.monitoring),
        calendar=_own_calendar(own, base.calendar),
        supplies=supplies,
        settings_version=version,
        stock_source="clinic_settings" if own_stock else "catalog",
    )
