"""A saved course as an iCalendar file: the one function the API route and the command line
both call, so the same course gives the same file (same UIDs, zone, title and location)
whichever way it was fetched.

Any member of staff may export it (the front desk books the chairs): the file names no
diagnosis. The clinic's name is its record's; its address and the events' neutral title are
the clinic's settings (``address`` and ``calendar_title`` in its settings JSON) over the
catalog's ``[clinic]`` defaults. The export is audited as ``course.calendar.read``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.course import course_plan_from_dict
from ketaplan.errors import NotFoundError
from ketaplan.export.ics import CalendarHeading, course_to_ics
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.courses import find_course
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import Clinic


def clinic_heading(clinic: Clinic, catalog: Catalog) -> CalendarHeading:
    """The clinic's calendar heading: its own settings over the catalog's defaults."""
    own: dict[str, Any] = clinic.settings or {}
    return CalendarHeading(
        clinic_key=f"clinic{clinic.id}",
        clinic_name=clinic.name,
        address=str(own.get("address", catalog.clinic.address)),
        title=str(own.get("calendar_title", catalog.clinic.calendar_title)),
        time_zone=clinic.time_zone,
    )


def draft_heading(catalog: Catalog, time_zone: str) -> CalendarHeading:
    """The heading of a course scheduled from the catalog alone (``ketaplan course --ics``)."""
    return CalendarHeading(
        clinic_key="draft",
        clinic_name=catalog.clinic.name,
        address=catalog.clinic.address,
        title=catalog.clinic.calendar_title,
        time_zone=time_zone,
    )


def course_calendar(
    uow: UnitOfWork, course_id: int, *, actor: Actor, catalog: Catalog, stamp: datetime
) -> bytes:
    """The course's current sessions as an ``.ics`` document (any staff); audited."""
    with uow.reading():
        row = find_course(uow, course_id, actor)
        clinic = uow.db.get(Clinic, actor.clinic_id)
        if clinic is None:
            raise NotFoundError(f"there is no clinic {actor.clinic_id}")
        heading = clinic_heading(clinic, catalog)
        schedule, version, patient_id = dict(row.schedule), row.version, row.patient_id
        uow.audit(
            actor,
            AuditAction.COURSE_CALENDAR_READ,
            "course",
            course_id,
            patient_id=patient_id,
            details={"version": version},
        )
        uow.commit()
    return course_to_ics(
        course_plan_from_dict(schedule),
        heading=heading,
        course_key=f"course{course_id}",
        stamp=stamp,
        sequence=version - 1,
    )
