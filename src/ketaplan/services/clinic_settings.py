"""Clinic settings: what an admin edits in the browser (name, price per session, supplies,
the calendar courses are scheduled against, and the vital-sign alert thresholds), read and
saved.

The catalog's ``[clinic]`` section (:class:`~ketaplan.clinical.catalog.ClinicDefaults`),
``calendar.toml`` and ``monitoring.toml`` give the defaults; a clinic's own values live in its
``clinic.settings`` JSON (:mod:`~ketaplan.services.clinic_settings_stored`) and win over them.
The values in force that the use cases dose, schedule and chart with are
:mod:`~ketaplan.services.clinic_policy`'s; how the form's text is checked and shown is
:mod:`~ketaplan.services.clinic_settings_form`'s. This module keeps the transaction: an edit
names the settings version it was made from (like a patient update), so two admins editing at
once cannot silently overwrite each other, and only the values that changed are recorded in
the audit event, with their old and new values (no patient data here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, update

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.monitoring import MonitoringRules
from ketaplan.errors import ConflictError, InputProblems, NotFoundError
from ketaplan.services.actors import Actor, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.clinic_identity import own_identity
from ketaplan.services.clinic_settings_form import (
    ClinicSettingsInput,
    parse_form,
    parse_thresholds,
)
from ketaplan.services.clinic_settings_stored import (
    VialStock,
    calendar_to_json,
    own_bag_sizes_ml,
    own_calendar,
    own_chairs,
    own_monitoring,
    own_overfill_percent,
    own_vials,
    stored_settings,
    thresholds_by_field,
)
from ketaplan.services.questionnaire_intervals import own_every_days
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import Clinic


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
    holiday_region: str = ""
    """The public holidays closed every year (``"US"``, ``"US-CA"``; ``""`` for none)."""
    address: str = ""
    calendar_title: str = ""
    dea_registration: str = ""
    crisis_message: str = ""
    """Shown to a patient who answers PHQ-9 item 9 above 0 (the catalog's 988 by default)."""
    chairs: int = 4
    """Infusion chairs: appointments are booked against them."""
    every_days: Mapping[str, int] = field(default_factory=dict)
    """The clinic's own questionnaire intervals after the series, by scale (``{}``: the
    catalog's for every scale)."""


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
        bag_sizes_ml=own_bag_sizes_ml(own, defaults),
        vials=own_vials(own, defaults),
        calendar=own_calendar(own, policy.calendar),
        monitoring=own_monitoring(own, policy.monitoring),
        bag_overfill_percent=own_overfill_percent(own, defaults),
        **_identity(own, catalog, policy),
        chairs=own_chairs(own, defaults),
        every_days=own_every_days(own),
    )


def _identity(own: dict[str, Any], catalog: Catalog, policy: PolicyDefaults) -> dict[str, str]:
    identity = own_identity(own, catalog.clinic, policy.calendar)
    return {
        "holiday_region": identity.holiday_region,
        "address": identity.address,
        "calendar_title": identity.calendar_title,
        "dea_registration": identity.dea_registration,
        "crisis_message": identity.crisis_message,
    }


def _clinic(uow: UnitOfWork, actor: Actor) -> Clinic:
    clinic = uow.db.get(Clinic, actor.clinic_id)
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
        uow.audit(actor, AuditAction.CLINIC_SETTINGS_READ, "clinic", actor.clinic_id)
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
    problems = InputProblems()
    parsed = problems.check(parse_form, typed, policy.calendar)
    # The thresholds' own check (numbers, known names) needs only the defaults: done here too,
    # so that a bad threshold is refused with the other fields, not after them.
    problems.check(parse_thresholds, typed.thresholds, policy.monitoring, policy.monitoring)
    problems.raise_any()
    assert parsed is not None
    with uow:
        clinic = _clinic(uow, actor)
        before = _record(clinic, catalog, policy)
        own_thresholds = parse_thresholds(typed.thresholds, before.monitoring, policy.monitoring)
        settings = stored_settings(
            clinic.settings or {},
            parsed,
            calendar=parsed.calendar or before.calendar,
            default_calendar=policy.calendar,
            own_thresholds=own_thresholds,
        )
        # A version other than the one read is stale before any statement (bound into SQL, a
        # number past the column's range would be a database error, not a conflict).
        bumped = (
            None
            if expected_version != clinic.settings_version
            else cast(
                "CursorResult[Any]",
                uow.db.execute(
                    update(Clinic)
                    .where(Clinic.id == clinic.id, Clinic.settings_version == expected_version)
                    .values(
                        name=parsed.name, settings=settings, settings_version=expected_version + 1
                    )
                    .execution_options(synchronize_session=False)
                ),
            )
        )
        if bumped is None or bumped.rowcount != 1:
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
            parsed.name,
            clinic.time_zone,
            parsed.price_per_session_usd,
            parsed.bag_sizes_ml,
            parsed.vials,
            own_calendar(settings, policy.calendar),
            own_monitoring(settings, policy.monitoring),
            own_overfill_percent(settings, catalog.clinic),
            **_identity(settings, catalog, policy),
            chairs=own_chairs(settings, catalog.clinic),
            every_days=own_every_days(settings),
        )
        uow.audit(
            actor,
            AuditAction.CLINIC_SETTINGS_UPDATE,
            "clinic",
            clinic.id,
            details={"to_version": expected_version + 1, "changed": _changes(before, after)},
        )
        uow.commit()
        return after


_PLAIN_FIELDS = (
    "name",
    "price_per_session_usd",
    "bag_sizes_ml",
    "vials",
    "bag_overfill_percent",
    "holiday_region",
    "address",
    "calendar_title",
    "dea_registration",
    "crisis_message",
    "chairs",
    "every_days",
)


def _changes(
    before: ClinicSettingsRecord, after: ClinicSettingsRecord
) -> dict[str, dict[str, object]]:
    """Each value an edit changed, ``{"from": old, "to": new}``, by name: the record's own
    fields, ``calendar.<field>`` and ``threshold.<category>.<rule>`` (what the audit event
    says; nothing unchanged, no patient data)."""
    changed = {
        key: {"from": _jsonable(getattr(before, key)), "to": _jsonable(getattr(after, key))}
        for key in _PLAIN_FIELDS
        if getattr(before, key) != getattr(after, key)
    }
    was_calendar, now_calendar = calendar_to_json(before.calendar), calendar_to_json(after.calendar)
    changed.update(
        {
            f"calendar.{key}": {"from": was_calendar[key], "to": value}
            for key, value in now_calendar.items()
            if was_calendar[key] != value
        }
    )
    was_thresholds = thresholds_by_field(before.monitoring)
    now_thresholds = thresholds_by_field(after.monitoring)
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
    return changed


def _jsonable(value: object) -> object:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, VialStock):
        return {"mg_per_ml": value.mg_per_ml, "volume_ml": value.volume_ml}
    return value
