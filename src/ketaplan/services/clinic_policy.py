"""The clinic settings in force, inside an open unit of work: what every use case that doses,
screens, schedules, charts or prices asks for.

Services that schedule courses or raise alerts ask :func:`clinic_calendar`,
:func:`clinic_monitoring` and :func:`clinic_policy` for the values in force, whatever the
entry point (API, pages, demo data): the clinic's own values
(:mod:`~ketaplan.services.clinic_settings_stored`) over the entry point's catalog, rules and
calendar, read with one query of two columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Table, bindparam, select

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.catalog import Catalog, ClinicDefaults, Vial
from ketaplan.clinical.monitoring import MonitoringRule, MonitoringRules, with_recorded_thresholds
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import NotFoundError
from ketaplan.services.actors import Actor
from ketaplan.services.clinic_settings_stored import (
    VialStock,
    content_key,
    own_bag_sizes_ml,
    own_calendar,
    own_chairs,
    own_monitoring,
    own_vials,
    remembered,
)
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import Clinic, InfusionSession


def clinic_chairs(uow: UnitOfWork, actor: Actor, catalog: Catalog) -> int:
    """The number of infusion chairs in force, inside an open unit of work (for bookings)."""
    return own_chairs(_own_settings(uow, actor), catalog.clinic)


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
    found = uow.db.connection().execute(_OWN_SETTINGS, {"clinic_id": actor.clinic_id}).one_or_none()
    if found is None:
        raise NotFoundError(f"there is no clinic {actor.clinic_id}")
    return found.settings or {}, int(found.settings_version)


def _own_settings(uow: UnitOfWork, actor: Actor) -> Mapping[str, Any]:
    return _own_settings_and_version(uow, actor)[0]


def clinic_calendar(uow: UnitOfWork, actor: Actor, default: ClinicCalendar) -> ClinicCalendar:
    """The calendar in force for the actor's clinic, inside an open unit of work: its own from
    the settings page, else ``default`` (the catalog's). Courses are scheduled against it."""
    return own_calendar(_own_settings(uow, actor), default)


def clinic_monitoring(uow: UnitOfWork, actor: Actor, default: MonitoringRules) -> MonitoringRules:
    """The monitoring rules in force for the actor's clinic, inside an open unit of work: the
    catalog's (``default``) with the clinic's own thresholds. Alerts are raised with them."""
    return own_monitoring(_own_settings(uow, actor), default)


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
        return remembered(
            "recorded thresholds",
            self.default,
            (session.category, content_key(recorded)),
            lambda: with_recorded_thresholds(rules, recorded),
        )


def clinic_chart_rules(uow: UnitOfWork, actor: Actor, default: MonitoringRules) -> ChartRules:
    """The :class:`ChartRules` for the actor's clinic, inside an open unit of work."""
    return ChartRules(default, clinic_monitoring(uow, actor, default))


def _supplies(
    defaults: ClinicDefaults,
    vials: tuple[VialStock, ...],
    bag_sizes_ml: tuple[float, ...],
    bag_overfill_fraction: float,
) -> ClinicDefaults:
    """The catalog's clinic with these vials, bags and overfill, one object per distinct stock
    (:func:`remembered`): the preparation search remembers its work per stock object."""
    return remembered(
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
    content (:func:`remembered`), so a plan costs one small query more, not a catalog rebuild.
    """
    own, version = _own_settings_and_version(uow, actor)
    defaults = base.supplies
    own_stock = bool(own.get("vials")) or "bag_sizes_ml" in own or "bag_overfill_fraction" in own
    supplies = (
        _supplies(
            defaults,
            own_vials(own, defaults),
            tuple(sorted(own_bag_sizes_ml(own, defaults))),
            float(own.get("bag_overfill_fraction", defaults.preparation.bag_overfill_fraction)),
        )
        if own_stock
        else defaults
    )
    return ClinicPolicy(
        catalog=base.catalog,
        monitoring=own_monitoring(own, base.monitoring),
        calendar=own_calendar(own, base.calendar),
        supplies=supplies,
        settings_version=version,
        stock_source="clinic_settings" if own_stock else "catalog",
    )
