"""A clinic's own settings as stored: its ``clinic.settings`` JSON, read over the catalog's
defaults.

The calendar and the alert thresholds are stored only where they differ from the defaults
(``calendar.toml``, ``monitoring.toml``), so a clinic that never changed them follows the
catalog; price, bags, vials and overfill are stored as saved. A stored threshold for a rule the
catalog no longer has is left out when read, never refused.

Values derived from a default and a clinic's own values (its calendar, its rules, its stock)
are built once per distinct content (:func:`remembered`): plans, charts and alerts ask for them
on every request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from datetime import date, time
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ketaplan.clinical.calendar import WEEKDAYS, ClinicCalendar
from ketaplan.clinical.catalog import ClinicDefaults
from ketaplan.clinical.monitoring import MonitoringRules, rule_threshold, with_thresholds
from ketaplan.public_holidays import region_holidays
from ketaplan.services.questionnaire_intervals import STORED_KEY

if TYPE_CHECKING:
    from ketaplan.services.clinic_settings_form import ParsedSettings


@dataclass(frozen=True, slots=True)
class VialStock:
    mg_per_ml: float
    volume_ml: float


def calendar_to_json(calendar: ClinicCalendar) -> dict[str, Any]:
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


def thresholds_by_field(rules: MonitoringRules) -> dict[str, float]:
    """Every rule's threshold by its form field name ``threshold__<category>__<code>``."""
    return {
        f"threshold__{category}__{rule.code}": rule_threshold(rule)
        for category, category_rules in sorted(rules.by_category.items())
        for rule in category_rules
    }


Derived = TypeVar("Derived")


MAX_REMEMBERED = 64


_derived: dict[tuple[str, int, Hashable], tuple[object, object]] = {}


def remembered(kind: str, default: object, key: Hashable, build: Callable[[], Derived]) -> Derived:
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


def content_key(value: object) -> str:
    """A clinic's stored values as a cache key: their canonical JSON."""
    return json.dumps(value, sort_keys=True)


def own_calendar(own: Mapping[str, Any], default: ClinicCalendar) -> ClinicCalendar:
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

    return remembered("calendar", default, content_key([data, region]), build)


def own_monitoring(own: Mapping[str, Any], default: MonitoringRules) -> MonitoringRules:
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
    return remembered(
        "monitoring", default, content_key(known), lambda: with_thresholds(default, known)
    )


def own_bag_sizes_ml(own: Mapping[str, Any], defaults: ClinicDefaults) -> tuple[float, ...]:
    return tuple(float(v) for v in own.get("bag_sizes_ml", defaults.preparation.bag_sizes_ml))


def own_overfill_percent(own: Mapping[str, Any], defaults: ClinicDefaults) -> float:
    fraction = own.get("bag_overfill_fraction", defaults.preparation.bag_overfill_fraction)
    return round(float(fraction) * 100, 2)


def own_chairs(own: Mapping[str, Any], defaults: ClinicDefaults) -> int:
    """The clinic's infusion chairs: its own count, else the catalog's."""
    return int(own.get("chairs", defaults.chairs))


def own_vials(own: Mapping[str, Any], defaults: ClinicDefaults) -> tuple[VialStock, ...]:
    vials = own.get("vials")
    if vials:
        return tuple(VialStock(float(v["mg_per_ml"]), float(v["volume_ml"])) for v in vials)
    return tuple(VialStock(v.mg_per_ml, v.volume_ml) for v in defaults.vials)


def stored_settings(
    previous: Mapping[str, Any],
    parsed: ParsedSettings,
    *,
    calendar: ClinicCalendar,
    default_calendar: ClinicCalendar,
    own_thresholds: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """The ``clinic.settings`` JSON an edit stores: the previous JSON's other keys kept, the
    typed values, the overfill as a fraction (when typed), and the calendar and thresholds only
    where they differ from the defaults."""
    settings: dict[str, Any] = {
        key: value for key, value in previous.items() if key not in ("calendar", "monitoring")
    }
    settings.update(
        {
            "price_per_session_usd": parsed.price_per_session_usd,
            "bag_sizes_ml": list(parsed.bag_sizes_ml),
            "vials": [{"mg_per_ml": v.mg_per_ml, "volume_ml": v.volume_ml} for v in parsed.vials],
        }
    )
    settings.update(parsed.identity)  # holiday region, address, calendar title, DEA number
    if parsed.chairs is not None:
        settings["chairs"] = parsed.chairs
    if parsed.every_days is not None:  # only the scales the clinic changed
        settings.pop(STORED_KEY, None)
        if parsed.every_days:
            settings[STORED_KEY] = dict(sorted(parsed.every_days.items()))
    if parsed.bag_overfill_percent is not None:
        settings["bag_overfill_fraction"] = round(parsed.bag_overfill_percent / 100, 4)
    calendar_json = calendar_to_json(calendar)
    if calendar_json != calendar_to_json(default_calendar):
        settings["calendar"] = calendar_json
    if own_thresholds:
        settings["monitoring"] = {
            category: dict(codes) for category, codes in own_thresholds.items()
        }
    return settings
