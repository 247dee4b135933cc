"""A clinic's own questionnaire interval per scale (issue 18): set on the settings page within
7-90 days, audited, and used when deriving what a patient is due after the series; blank is
the catalog's cited interval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.measurement import default_schedules
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import InputErrors
from ketaplan.services import Actor, PatientRecord, UnitOfWork, schedule_course
from ketaplan.services.clinic_settings import (
    ClinicSettingsRecord,
    clinic_settings,
    update_clinic_settings,
)
from ketaplan.services.clinic_settings_form import ClinicSettingsInput
from ketaplan.services.measurement import patient_due_questionnaires
from ketaplan.store import Database
from ketaplan.store.models import AuditEvent, Clinic, CourseBooking

from .conftest import signed_plan

ZONE = ZoneInfo("America/Los_Angeles")
NOW = [datetime(2026, 12, 8, 18, 0, tzinfo=UTC)]


@pytest.fixture
def clock() -> Callable[[], datetime]:
    NOW[:] = [datetime(2026, 12, 8, 18, 0, tzinfo=UTC)]
    return lambda: NOW[0]


def _save(
    uow: UnitOfWork, admin: Actor, catalog: Catalog, every_days: dict[str, str]
) -> ClinicSettingsRecord:
    current = clinic_settings(uow, actor=admin, catalog=catalog)
    return update_clinic_settings(
        uow,
        ClinicSettingsInput(
            name=current.name,
            price_per_session_usd="600",
            bag_sizes_ml="50, 100, 250",
            vials="50 mg/mL x 10 mL",
            every_days=every_days,
        ),
        expected_version=current.version,
        actor=admin,
        catalog=catalog,
    )


def test_an_admin_sets_a_scales_interval_within_bounds_and_it_is_audited(
    uow: UnitOfWork, admin: Actor, catalog: Catalog, database: Database
) -> None:
    assert clinic_settings(uow, actor=admin, catalog=catalog).every_days == {}
    with pytest.raises(InputErrors) as refused:
        _save(
            uow,
            admin,
            catalog,
            {"every_days__phq9": "6", "every_days__gad7": "91", "every_days__pcl5": "often"},
        )
    fields = [p["field"] for p in refused.value.fields["problems"]]  # type: ignore[union-attr]
    assert fields == ["every_days__phq9", "every_days__gad7", "every_days__pcl5"]
    assert "from 7 to 90" in refused.value.message
    assert clinic_settings(uow, actor=admin, catalog=catalog).version == 1
    saved = _save(uow, admin, catalog, {"every_days__phq9": "21", "every_days__gad7": " "})
    assert saved.every_days == {"phq9": 21}  # a blank field is the catalog's interval
    with database.session_factory() as db:
        assert db.get_one(Clinic, admin.clinic_id).settings["questionnaire_every_days"] == {
            "phq9": 21
        }
        event = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "clinic.settings.update")
        ).all()[-1]
    assert event.details["changed"]["every_days"] == {"from": {}, "to": {"phq9": 21}}
    back = _save(uow, admin, catalog, {"every_days__phq9": ""})
    assert back.every_days == {}


def test_what_is_due_after_the_series_follows_the_clinics_interval(
    uow: UnitOfWork,
    admin: Actor,
    patient: PatientRecord,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: object,
    policy: ClinicPolicy,
    database: Database,
) -> None:
    signed_plan(uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver)
    schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2026, 12, 9),
        actor=nurse,
        policy=policy,
    )
    with database.session_factory() as db:
        last_start = max(db.scalars(select(CourseBooking.start_at)))
    last_day = last_start.astimezone(ZONE).date()

    def due() -> list[tuple[str, date, str]]:
        view = patient_due_questionnaires(
            uow,
            patient.patient_id,
            actor=nurse,
            catalog=catalog,
            schedules=default_schedules(),
            zone=ZONE,
        )
        return [(d.scale, d.due_on, d.reason) for d in view.due]

    NOW[0] = last_start + timedelta(days=20)  # never answered since the series
    [(scale, due_on, reason)] = due()
    assert (scale, due_on) == ("phq9", last_day + timedelta(days=14))  # the catalog's 14
    assert reason.startswith("every 14 days after the series")
    _save(uow, admin, catalog, {"every_days__phq9": "21"})
    assert due() == []  # 21 days after the series is tomorrow
    _save(uow, admin, catalog, {"every_days__phq9": "7"})
    [(scale, due_on, reason)] = due()
    assert (scale, due_on) == ("phq9", last_day + timedelta(days=7))
    assert reason.startswith("every 7 days after the series")
