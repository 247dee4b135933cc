"""A demo clinic with synthetic patients and a few weeks of history, for ``make run``.

Everything is made through the services, as staff would make it: the clinic and its admin,
a prescriber and a nurse (generated passwords, returned once), patients registered by the nurse,
screenings and plans (proposed by the nurse and signed by the prescriber; one dose past a soft
limit, overridden by the prescriber with a reason),
courses scheduled against the clinic calendar, completed sessions charted event by event
(check-in, start, vitals, a pause for nausea and the resume, a rate change, stop, recovery
vitals, discharge), PHQ-9 / GAD-7 / pain scores over the course that show a response, one
PHQ-9 with item 9 above 0 (the flag a clinician reviews the same day), and a titration
recommendation with the prescriber's decision (signed as the course's next order). Dates are
relative to ``today`` so that the courses are under way and, on a clinic day, sessions fall
today.

Every name, date of birth and answer here is invented.

It runs once per database: :func:`create_demo_clinic` returns None when the demo admin already
exists (passwords are never shown again; ``ketaplan user password`` sets a new one).

It is all or nothing: the many service calls share one database transaction
(:meth:`ketaplan.store.Database.all_or_nothing`), so a failure half-way (a bug, a full disk, a
lost connection, Ctrl-C) leaves no half-made clinic behind, whose admin would make every rerun
say "already set up". Run it again and it starts from scratch.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.course import schedule_series
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.monitoring import MonitoringRules
from ketaplan.clinical.policy import catalog_policy
from ketaplan.errors import ConflictError
from ketaplan.services.actors import Actor
from ketaplan.services.clinics import add_user, load_actor, set_up_clinic
from ketaplan.services.courses import schedule_course
from ketaplan.services.patients import PatientDetails, create_patient
from ketaplan.services.plans import PlanOrder, PlanRecord, create_plan, sign_order
from ketaplan.services.questionnaires import record_questionnaire
from ketaplan.services.screenings import screen_patient
from ketaplan.services.sessions import append_session_event, open_session
from ketaplan.services.titration import decide_titration, recommend_titration
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store import Database
from ketaplan.store.models import User

CLINIC_NAME = "Demo Ketamine Clinic"
DEMO_EMAILS = {
    "admin": "admin@demo-clinic.example",
    "prescriber": "prescriber@demo-clinic.example",
    "nurse": "nurse@demo-clinic.example",
}
DEMO_NAMES = {
    "admin": "Alex Morgan",
    "prescriber": "Dr Priya Raman",
    "nurse": "Robin Diaz",
}
"""The demo staff's names, as the pages show who did what (made up, like the patients)."""


@dataclass(frozen=True, slots=True)
class DemoClinic:
    """What was created: the accounts with their one-time passwords, and the patients."""

    clinic_id: int
    credentials: tuple[tuple[str, str, str], ...]
    """``(role, email, password)`` for each account; shown once."""
    patients: tuple[str, ...]
    sessions_today: int


@dataclass(frozen=True, slots=True)
class _Patient:
    details: PatientDetails
    condition: str
    scores: dict[str, Sequence[Sequence[int]]]
    """Per scale, the answers at baseline, mid-course and latest (item order)."""
    override: tuple[float, str] | None = None
    course_weeks_ago: int | None = 3


_PATIENTS = (
    _Patient(
        PatientDetails(
            full_name="Maya Ortega (demo)",
            weight="176 lb",
            height="5 ft 9 in",
            date_of_birth=date(1984, 3, 14),
            sex="female",
            medications=("Lamictal", "alprazolam 0.5 mg"),
            history=("controlled_hypertension",),
            blood_pressure="128/84",
        ),
        "depression",
        {
            "phq9": (
                [2, 3, 2, 2, 3, 3, 2, 2, 0],
                [2, 2, 1, 2, 2, 1, 1, 1, 0],
                [1, 1, 1, 1, 1, 0, 1, 0, 0],
            ),
            "gad7": ([2, 2, 1, 2, 2, 2, 1], [1, 2, 1, 1, 1, 1, 1], [1, 1, 0, 1, 1, 0, 0]),
        },
    ),
    _Patient(
        PatientDetails(
            full_name="Jordan Lee (demo)",
            weight="70 kg",
            height="172 cm",
            date_of_birth=date(1979, 9, 2),
            sex="male",
            medications=("sertraline 100 mg",),
        ),
        "depression",
        {
            "phq9": (
                [3, 3, 2, 3, 2, 3, 2, 2, 1],
                [2, 2, 2, 2, 2, 2, 1, 1, 0],
                [1, 2, 1, 1, 1, 1, 1, 1, 0],
            ),
            "gad7": ([2, 3, 2, 2, 1, 2, 2], [2, 2, 1, 2, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0]),
        },
        override=(0.9, "partial response to 0.75 mg/kg in a previous series"),
        course_weeks_ago=2,
    ),
    _Patient(
        PatientDetails(
            full_name="Sam Novak (demo)",
            weight="82 kg",
            height="180 cm",
            date_of_birth=date(1975, 6, 21),
            sex="male",
            medications=("OxyContin 20 mg",),
            severity="severe",
        ),
        "crps",
        {"pain_nrs": ([8], [6], [4])},
    ),
    _Patient(
        PatientDetails(
            full_name="Riley Chen (demo)",
            weight="64 kg",
            date_of_birth=date(1997, 1, 30),
            history=("psychosis",),
        ),
        "ptsd",
        {"pcl5": ([3, 3, 2, 3, 2, 3, 3, 2, 2, 3, 2, 2, 3, 2, 3, 2, 1, 3, 2, 2],)},
        course_weeks_ago=None,  # contraindicated: screened, not treated
    ),
)


def _password() -> str:
    return secrets.token_urlsafe(12)


def demo_admin_exists(uow: UnitOfWork) -> bool:
    with uow:
        found = uow.db.scalar(select(User.id).where(User.email == DEMO_EMAILS["admin"]))
    return found is not None


def _first_day(
    catalog: Catalog, condition: str, calendar: ClinicCalendar, today: date, weeks_ago: int
) -> date:
    """A start about ``weeks_ago`` weeks back whose series has a session today, if any does."""
    protocol = catalog.protocol(condition)
    fallback = today - timedelta(weeks=weeks_ago)
    for back in range(7 * weeks_ago - 3, 7 * weeks_ago + 4):
        start = today - timedelta(days=back)
        days = [s.start.date() for s in schedule_series(protocol, start, calendar).sessions]
        if today in days and days.index(today) >= 2:
            return start
    return fallback


def _events(
    start: datetime, plan: dict[str, Any], number: int, *, complete: bool
) -> list[dict[str, object]]:
    """A session's chart: check-in to discharge, with a pause and a rate change."""
    rate = float(plan["preparation"]["pump_rate_ml_per_h"])
    concentration = float(plan["preparation"]["final_mg_per_ml"])
    minutes = float(plan["dose"]["duration_min"])
    recovery = float(plan["dose"].get("recovery_min", 20))

    def at(offset_min: float) -> str:
        return (start + timedelta(minutes=offset_min)).isoformat()

    events: list[dict[str, object]] = [
        {
            "type": "check_in",
            "at": at(-10),
            "systolic": 126,
            "diastolic": 82,
            "heart_rate": 74,
            "spo2": 98,
        },
        {
            "type": "start",
            "at": at(0),
            "rate_ml_per_h": rate,
            "concentration_mg_per_ml": concentration,
        },
        {
            "type": "vitals",
            "at": at(15),
            "systolic": 134 + number,
            "diastolic": 86,
            "heart_rate": 80,
            "spo2": 97,
        },
    ]
    if not complete:
        return events
    if number % 2 == 1:
        events += [
            {"type": "side_effect", "at": at(18), "name": "nausea", "severity": "mild"},
            {"type": "pause", "at": at(18), "reason": "nausea"},
            {"type": "adjunct", "at": at(19), "drug": "ondansetron", "dose": "4 mg IV"},
            {"type": "resume", "at": at(23)},
        ]
        paused = 5.0
    else:
        paused = 0.0
    events += [
        {"type": "rate", "at": at(25), "rate_ml_per_h": round(rate * 0.9, 1)},
        {
            "type": "vitals",
            "at": at(30),
            "systolic": 130,
            "diastolic": 84,
            "heart_rate": 78,
            "spo2": 98,
        },
        {"type": "stop", "at": at(minutes + paused + 3), "completed": True},
        {"type": "tolerability", "at": at(minutes + paused + 5), "rating": 1 + number % 2},
        {
            "type": "vitals",
            "at": at(minutes + paused + 20),
            "systolic": 124,
            "diastolic": 80,
            "heart_rate": 72,
            "spo2": 98,
        },
        {
            "type": "note",
            "at": at(minutes + paused + 25),
            "text": "Oriented, walking steadily; reports feeling calm.",
        },
        {
            "type": "discharge",
            "at": at(minutes + paused + 3 + max(37.0, recovery)),
            "note": "Home with a friend.",
            "vitals_within_limits": True,
            "oriented_and_steady": True,
            "escort_present": True,
        },
    ]
    return events


def create_demo_clinic(
    database: Database,
    *,
    catalog: Catalog,
    resolver: MedicationResolver,
    monitoring: MonitoringRules,
    calendar: ClinicCalendar,
    today: date,
    unit_of_work: Callable[[sessionmaker[Session]], UnitOfWork] = UnitOfWork,
) -> DemoClinic | None:
    """Create the demo clinic, staff and patients in one transaction; None if it exists.

    ``unit_of_work`` makes the unit of work over the job's sessions (tests pass one that
    fails half-way).
    """
    with database.all_or_nothing() as sessions:
        return _create_demo_clinic(
            unit_of_work(sessions),
            catalog=catalog,
            resolver=resolver,
            monitoring=monitoring,
            calendar=calendar,
            today=today,
        )


def _create_demo_clinic(
    uow: UnitOfWork,
    *,
    catalog: Catalog,
    resolver: MedicationResolver,
    monitoring: MonitoringRules,
    calendar: ClinicCalendar,
    today: date,
) -> DemoClinic | None:
    if demo_admin_exists(uow):
        return None
    passwords = {role: _password() for role in DEMO_EMAILS}
    time_zone = catalog.clinic.time_zone
    policy = catalog_policy(catalog, monitoring, calendar)
    try:
        admin = set_up_clinic(
            uow,
            name=CLINIC_NAME,
            time_zone=time_zone,
            admin_email=DEMO_EMAILS["admin"],
            admin_password=passwords["admin"],
            admin_full_name=DEMO_NAMES["admin"],
        )
    except ConflictError:  # another run got there first (checked inside this transaction)
        return None
    staff: dict[str, Actor] = {"admin": admin}
    for role in ("prescriber", "nurse"):
        add_user(
            uow,
            email=DEMO_EMAILS[role],
            role=role,
            actor=admin,
            password=passwords[role],
            full_name=DEMO_NAMES[role],
        )
        staff[role] = load_actor(uow, DEMO_EMAILS[role], origin="demo")
    nurse, prescriber = staff["nurse"], staff["prescriber"]
    zone = ZoneInfo(time_zone)
    sessions_today = 0
    names = []
    for patient in _PATIENTS:
        record = create_patient(uow, patient.details, actor=nurse, catalog=catalog)
        pid = record.patient_id
        names.append(patient.details.full_name)
        screen_patient(
            uow,
            pid,
            condition=patient.condition,
            actor=nurse,
            policy=policy,
            resolver=resolver,
        )
        baseline_at = datetime.combine(today - timedelta(weeks=4), datetime.min.time(), zone)
        scales = patient.scores
        for scale, answers in scales.items():
            record_questionnaire(
                uow,
                pid,
                scale=scale,
                answers=answers[0],
                answered_at=baseline_at.replace(hour=10),
                actor=nurse,
            )
        if patient.course_weeks_ago is None:
            continue
        plan: PlanRecord
        if patient.override is not None:
            mg_per_kg, reason = patient.override
            plan = create_plan(
                uow,
                pid,
                PlanOrder(patient.condition, mg_per_kg, reason),
                actor=prescriber,
                policy=policy,
                resolver=resolver,
            )
        else:  # proposed by the nurse
            plan = create_plan(
                uow,
                pid,
                PlanOrder(patient.condition),
                actor=nurse,
                policy=policy,
                resolver=resolver,
            )
        plan = sign_order(uow, plan.plan_id, password=passwords["prescriber"], actor=prescriber)
        first_day = _first_day(
            catalog, patient.condition, calendar, today, patient.course_weeks_ago
        )
        course = schedule_course(
            uow,
            pid,
            condition=patient.condition,
            first_day=first_day,
            actor=prescriber,
            policy=policy,
            plan_id=plan.plan_id,
            confirm=True,  # a course already given: its days are in the past
        )
        done = [s for s in course.schedule.sessions if s.start.date() <= today]
        completed = sum(s.start.date() < today for s in done)
        score_after = {completed // 2: 1, completed - 1: 2}
        for index, slot in enumerate(done):
            is_today = slot.start.date() == today
            chart = open_session(
                uow,
                pid,
                condition=patient.condition,
                actor=nurse,
                policy=policy,
                course_id=course.course_id,
                number=slot.number,
            )
            start = slot.start
            charted = [  # a session later today is charted only as far as the clock
                event
                for event in _events(start, plan.plan, slot.number, complete=not is_today)
                if datetime.fromisoformat(str(event["at"])) <= uow.clock()
            ]
            for seq, event in enumerate(charted):
                append_session_event(
                    uow,
                    chart.session_id,
                    event,
                    expected_seq=seq,
                    actor=nurse,
                    policy=policy,
                )
            sessions_today += is_today
            # Scores mid-course and after the latest completed session show the response.
            stage = score_after.get(index)
            if stage is not None and not is_today:
                answered = start + timedelta(hours=2)
                for scale, answers in scales.items():
                    if stage < len(answers):
                        record_questionnaire(
                            uow,
                            pid,
                            scale=scale,
                            answers=answers[stage],
                            answered_at=answered,
                            actor=nurse,
                            course_id=course.course_id,
                            session_id=chart.session_id,
                        )
        if len(done) >= 2:
            proposal = recommend_titration(uow, course.course_id, actor=prescriber, policy=policy)
            decide_titration(
                uow,
                proposal.recommendation_id,
                actor=prescriber,
                policy=policy,
                resolver=resolver,
                password=passwords["prescriber"],
                reason="",
            )
    credentials = tuple((role, DEMO_EMAILS[role], passwords[role]) for role in DEMO_EMAILS)
    return DemoClinic(admin.clinic_id, credentials, tuple(names), sessions_today)
