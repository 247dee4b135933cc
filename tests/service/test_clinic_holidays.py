"""A clinic picks its public holidays' region in its settings (``holiday_region``), over the
catalog's; courses scheduled for it skip that region's holidays, whatever the year."""

from __future__ import annotations

from datetime import date

from sqlalchemy import update

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.services import Actor, PatientRecord, UnitOfWork, schedule_course
from ketaplan.services.clinic_policy import clinic_calendar
from ketaplan.store import Database
from ketaplan.store.models import Clinic

from .conftest import signed_plan

BOXING_DAY_2030 = date(2030, 12, 26)  # a Thursday; a public holiday in the UK, not the US


def _course_days(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: object,
) -> list[date]:
    plan = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    course = schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2030, 12, 23),
        actor=nurse,
        policy=load_policy(),
        plan_id=plan.plan_id,
        confirm=True,  # the same days under another calendar: it overlaps the one before
    )
    return [s.start.date() for s in course.schedule.sessions]


def _set_region(database: Database, clinic_id: int, region: str) -> None:
    with database.session_factory.begin() as session:
        session.execute(
            update(Clinic).where(Clinic.id == clinic_id).values(settings={"holiday_region": region})
        )


def _closed(uow: UnitOfWork, actor: Actor, day: date) -> bool:
    with uow.reading():
        return not clinic_calendar(uow, actor, load_policy().calendar).is_open(day)


def test_the_catalogs_us_holidays_apply_until_the_clinic_names_its_own_region(
    uow: UnitOfWork,
    database: Database,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: object,
) -> None:
    christmas, thanksgiving = date(2030, 12, 25), date(2030, 11, 28)
    assert _closed(uow, nurse, christmas)
    assert _closed(uow, nurse, thanksgiving)
    assert not _closed(uow, nurse, BOXING_DAY_2030)
    assert BOXING_DAY_2030 in _course_days(uow, nurse, prescriber, patient, catalog, resolver)
    _set_region(database, nurse.clinic_id, "GB")
    assert _closed(uow, nurse, christmas)
    assert not _closed(uow, nurse, thanksgiving)
    assert _closed(uow, nurse, BOXING_DAY_2030)
    assert BOXING_DAY_2030 not in _course_days(uow, nurse, prescriber, patient, catalog, resolver)
    _set_region(database, nurse.clinic_id, "")  # none: weekdays and its own closed dates only
    assert not _closed(uow, nurse, christmas)
