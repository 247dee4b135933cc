"""Loading the course catalog files: monitoring rules and the clinic calendar.

Kept apart from :mod:`ketaplan.clinical.catalog.loader` (protocols, screening, supplies) but
built with the same layers and validation helpers, so errors look the same: they name the file
that set the value and the field's dotted path, and say what is accepted. A clinic file is
merged over the default table by table (change one rule's threshold without repeating the
others); a calendar file may be TOML or JSON.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import date, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ketaplan.clinical.calendar import WEEKDAYS, ClinicCalendar, PublicHolidays
from ketaplan.clinical.catalog.layers import DEFAULT_DIR, merge_layer, read_layer
from ketaplan.clinical.catalog.validation import Table, choice, integer, number, text, texts
from ketaplan.clinical.monitoring import (
    ACTIONS,
    PHASES,
    RECOVERY_ACTIONS,
    VITALS,
    Action,
    MonitoringRule,
    MonitoringRules,
    Phase,
    Vital,
)
from ketaplan.errors import CatalogError, InputError

if TYPE_CHECKING:
    from ketaplan.clinical.policy import ClinicPolicy

MONITORING_FILE = "monitoring.toml"
CALENDAR_FILE = "calendar.toml"


def _known_sources() -> dict[str, str]:
    origins: dict[tuple[str, ...], str] = {}
    merged: dict[str, Any] = {}
    read_layer(DEFAULT_DIR / "sources.toml", origins, merged)
    return {str(k): str(v) for k, v in merged.get("sources", {}).items()}


def _load(default: str, extra_files: Sequence[Path]) -> Table:
    merged: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    read_layer(DEFAULT_DIR / default, origins, merged)
    for path in extra_files:
        path = Path(path)
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise CatalogError(f"{path}: file not found", fields={"file": str(path)}) from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise CatalogError(
                    f"{path.name}: not valid JSON: {exc}", fields={"file": str(path)}
                ) from exc
            if not isinstance(data, dict):
                raise CatalogError(
                    f"{path.name}: expected a JSON object", fields={"file": str(path)}
                )
            merge_layer(merged, data, path.name, (), origins)
        else:
            read_layer(path, origins, merged)
    return Table(merged, (), origins)


def _rule(code: str, t: Table, sources: dict[str, str]) -> MonitoringRule:
    t.check_keys(["phases", "vital", "above", "below", "action", "message", "source"])
    phases = t.get("phases", texts)
    for phase in phases:
        if phase not in PHASES:
            raise t.fail("phases", f"expected phases among {', '.join(PHASES)}, got {phase!r}")
    above = t.get("above", number(positive=True), None)
    below = t.get("below", number(positive=True), None)
    if (above is None) == (below is None):
        raise t.fail("above", "give exactly one of 'above' or 'below'")
    action = cast(Action, t.get("action", choice(*ACTIONS)))
    if "recovery" in phases and action not in RECOVERY_ACTIONS:
        raise t.fail(
            "action",
            f"a rule that applies in recovery asks for {' or '.join(RECOVERY_ACTIONS)} "
            f"(after the stop there is no infusion to pause or hold), got {action!r}",
        )
    return MonitoringRule(
        code=code,
        phases=cast(tuple[Phase, ...], phases),
        vital=cast(Vital, t.get("vital", choice(*VITALS))),
        action=action,
        message=t.get("message", text),
        source=t.get("source", choice(*sources)),
        above=above,
        below=below,
    )


@functools.lru_cache(maxsize=8)
def load_monitoring_rules(extra_files: tuple[Path, ...] = ()) -> MonitoringRules:
    """The monitoring rules per category: the defaults with any clinic files merged over them."""
    root = _load(MONITORING_FILE, extra_files)
    root.check_keys(["monitoring"])
    sources = _known_sources()
    monitoring = root.table("monitoring")
    by_category = {}
    for category in monitoring.data:
        if category not in ("mood", "pain"):
            raise monitoring.fail(category, "expected a protocol category: mood or pain")
        cat_t = monitoring.table(category)
        cat_t.check_keys(["rules"])
        rules_t = cat_t.table("rules")
        by_category[category] = tuple(
            _rule(code, rules_t.table(code), sources) for code in rules_t.data
        )
    return MonitoringRules(by_category)


def _clock(t: Table, name: str, value: Any) -> time:
    try:
        return time.fromisoformat(text(t, name, value))
    except ValueError:
        raise t.fail(name, f"expected a local time 'HH:MM', got {value!r}") from None


def _clocks(t: Table, name: str, value: Any) -> tuple[time, ...]:
    return tuple(sorted(_clock(t, f"{name}", v) for v in texts(t, name, value)))


def _dates(t: Table, name: str, value: Any) -> frozenset[date]:
    days = set()
    for entry in texts(t, name, value) if value else ():
        try:
            days.add(date.fromisoformat(entry))
        except ValueError:
            raise t.fail(name, f"expected dates 'YYYY-MM-DD', got {entry!r}") from None
    return frozenset(days)


def _weekdays(t: Table, name: str, value: Any) -> frozenset[int]:
    days = set()
    for entry in texts(t, name, value):
        key = entry.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise t.fail(name, f"expected weekdays among {', '.join(WEEKDAYS)}, got {entry!r}")
        days.add(WEEKDAYS.index(key))
    return frozenset(days)


def _region(t: Table, name: str, value: Any) -> PublicHolidays | None:
    """The region's public holidays (the ``holidays`` package, behind its adapter), or None
    for ``""``; an unknown region fails naming the file and field."""
    if not isinstance(value, str):
        raise t.fail(name, f"expected a region code such as 'US' or 'US-CA' (or ''), got {value!r}")
    if not value.strip():
        return None
    from ketaplan.public_holidays import region_holidays

    try:
        return region_holidays(value, field=name, check=False)
    except InputError as exc:
        raise t.fail(name, exc.message) from None


def load_calendar(path: Path | None = None, clinic_time_zone: str | None = None) -> ClinicCalendar:
    """The clinic calendar: the default, with a clinic's TOML or JSON file merged over it.

    Its time zone is the file's ``time_zone`` if it sets one, else ``clinic_time_zone``, else
    the catalog's ``clinic.time_zone``: one clinic, one zone, set in one place.
    """
    root = _load(CALENDAR_FILE, (path,) if path is not None else ())
    root.check_keys(["calendar"])
    t = root.table("calendar")
    t.check_keys(
        [
            "time_zone",
            "open_weekdays",
            "open_time",
            "close_time",
            "session_times",
            "holidays",
            "holiday_region",
            "min_hours_between",
            "max_per_week",
            "sources",
        ]
    )
    sources_t = t.table("sources")
    known = _known_sources()
    for key, value in sources_t.data.items():
        if value not in known:
            raise sources_t.fail(key, f"unknown source {value!r}; add it to sources.toml first")
    if "time_zone" not in t.data and clinic_time_zone is None:
        from ketaplan.clinical.catalog.loader import load_catalog

        clinic_time_zone = load_catalog().clinic.time_zone
    try:
        return ClinicCalendar(
            time_zone=t.get("time_zone", text, clinic_time_zone),
            open_weekdays=t.get("open_weekdays", _weekdays),
            open_time=t.get("open_time", _clock),
            close_time=t.get("close_time", _clock),
            session_times=t.get("session_times", _clocks),
            holidays=t.get("holidays", _dates, frozenset()),
            min_hours_between=t.get("min_hours_between", number(lo=0, hi=24 * 14)),
            max_per_week=t.get("max_per_week", integer(1)),
            public_holidays=t.get("holiday_region", _region, None),
        )
    except CatalogError:
        raise
    except InputError as exc:  # the calendar's own consistency checks
        raise CatalogError(f"{t.origin()}: calendar: {exc.message}", fields=exc.fields) from exc


def load_policy(
    catalog_files: Sequence[Path] = (), calendar_file: Path | None = None
) -> ClinicPolicy:
    """The clinic policy of the files alone: the catalog with the clinic's own files merged
    over it, the monitoring rules and the calendar in the catalog's clinic time zone.

    What the CLI plans with and what ``ketaplan serve --catalog`` starts every clinic from, so
    that the same files give the same plan whatever the entry point.
    """
    from ketaplan.clinical.catalog.loader import load_catalog
    from ketaplan.clinical.policy import catalog_policy

    catalog = load_catalog(tuple(catalog_files))
    return catalog_policy(
        catalog, load_monitoring_rules(), load_calendar(calendar_file, catalog.clinic.time_zone)
    )
