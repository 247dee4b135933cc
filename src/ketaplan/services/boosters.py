"""Boosters: when the course's series is over, reassessment and boosters with their reasons.

The domain decides (:func:`~ketaplan.clinical.course.plan_boosters`); this use case gathers what
it needs from the record: the course's schedule (the series' last day), the last scores during
the series and the follow-up scores after it (the same history titration reads, so both see the
course alike). Nothing is stored: it is advice computed afresh, and the read is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ketaplan.clinical.course import BoosterPlan, course_plan_from_dict, plan_boosters
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.titration import series_end_scores
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.chart_replays import ReplayedChart, replay_course
from ketaplan.services.clinic_policy import clinic_chart_rules, clinic_policy
from ketaplan.services.courses import find_course
from ketaplan.services.patients import current_profile
from ketaplan.services.titration import course_history
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import Clinic, TreatmentCourse


@dataclass(frozen=True, slots=True)
class BoosterAdvice:
    """The booster plan for a course, with the scores it was computed from."""

    course_id: int
    patient_id: int
    series_end_scores: dict[str, int]
    plan: dict[str, object]


def booster_plan(
    uow: UnitOfWork,
    course: TreatmentCourse,
    charts: Sequence[ReplayedChart],
    actor: Actor,
    policy: ClinicPolicy,
) -> tuple[dict[str, int], BoosterPlan]:
    """The series-end scores and the booster plan for a course, from its charts as
    :func:`~ketaplan.services.chart_replays.replay_course` folded them, inside an open unit of
    work (the caller audits what it shows: the whole advice, or only the days to book)."""
    _version, profile = current_profile(uow, course.patient_id, actor)
    weight_kg = float(profile["weight_kg"])
    clinic = uow.db.get_one(Clinic, actor.clinic_id)
    history = course_history(uow, course, charts, weight_kg, ZoneInfo(clinic.time_zone))
    schedule = course_plan_from_dict(course.schedule)
    ends = series_end_scores(history)
    return ends, plan_boosters(
        policy.catalog.protocol(course.protocol_key),
        schedule.series_end,
        clinic_policy(uow, actor, policy).calendar,
        ends,
        history.follow_up,
    )


def advise_boosters(
    uow: UnitOfWork,
    course: TreatmentCourse,
    charts: Sequence[ReplayedChart],
    *,
    actor: Actor,
    policy: ClinicPolicy,
) -> BoosterAdvice:
    """:func:`recommend_booster` inside an open unit of work, from the course's charts folded
    once (audits the advice; the caller commits)."""
    ends, boosters = booster_plan(uow, course, charts, actor, policy)
    uow.audit(
        actor,
        AuditAction.COURSE_BOOSTER,
        "course",
        course.id,
        patient_id=course.patient_id,
        details={"triggers": [r.trigger for r in boosters.recommendations]},
    )
    return BoosterAdvice(course.id, course.patient_id, ends, boosters.to_dict())


def recommend_booster(
    uow: UnitOfWork,
    course_id: int,
    *,
    actor: Actor,
    policy: ClinicPolicy,
) -> BoosterAdvice:
    """Reassessment and boosters after the series (:func:`~ketaplan.clinical.course.
    plan_boosters`), from the course's schedule and its stored questionnaire scores: the last
    scores during the series against those after it. Audited as a read of the course."""
    require_clinical_facts(actor, "a booster recommendation")
    with uow:
        course = find_course(uow, course_id, actor)
        rules = clinic_chart_rules(uow, actor, policy.monitoring)
        charts = replay_course(uow, course, rules, policy)
        advice = advise_boosters(uow, course, charts, actor=actor, policy=policy)
        uow.commit()
        return advice
