"""Courses: the initial series scheduled by the domain against the clinic calendar, saved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.course import schedule_series
from ketaplan.errors import InputError
from ketaplan.services.actors import Actor
from ketaplan.services.patients import find_in_clinic, find_patient
from ketaplan.services.plans import find_plan
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import TreatmentCourse


@dataclass(frozen=True, slots=True)
class CourseRecord:
    course_id: int
    patient_id: int
    protocol_key: str
    plan_id: int | None
    first_day: date
    schedule: dict[str, Any]


def schedule_course(
    uow: UnitOfWork,
    patient_id: int,
    *,
    condition: str,
    first_day: date,
    actor: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    plan_id: int | None = None,
) -> CourseRecord:
    """Schedule the protocol's series from ``first_day`` and save it for the patient."""
    protocol = catalog.protocol(condition)
    schedule = schedule_series(protocol, first_day, calendar)
    with uow:
        find_patient(uow, patient_id, actor)
        if plan_id is not None:
            plan = find_plan(uow, plan_id, actor)
            if plan.patient_id != patient_id or plan.condition != protocol.key:
                raise InputError(
                    f"plan {plan_id} is not a {protocol.key} plan of patient {patient_id}",
                    code="input.wrong_plan",
                    fields={"plan_id": plan_id},
                )
        row = TreatmentCourse(
            patient_id=patient_id,
            plan_id=plan_id,
            protocol_key=protocol.key,
            first_day=first_day,
            schedule=schedule.to_dict(),
            created_at=uow.clock(),
            created_by=actor.user_id,
        )
        uow.session.add(row)
        uow.session.flush()
        uow.audit(
            actor,
            "course.create",
            "course",
            row.id,
            patient_id=patient_id,
            details={
                "protocol": protocol.key,
                "first_day": first_day.isoformat(),
                "sessions": len(schedule.sessions),
                "completes_within_window": schedule.completes_within_window,
            },
        )
        uow.commit()
        return CourseRecord(row.id, patient_id, row.protocol_key, plan_id, first_day, row.schedule)


def find_course(uow: UnitOfWork, course_id: int, actor: Actor) -> TreatmentCourse:
    """A course of a patient in the actor's clinic."""
    return find_in_clinic(uow, TreatmentCourse, course_id, actor, "course")
