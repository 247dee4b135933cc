"""The course page's read: the course with its sessions, and the booster advice, in one.

The page shows each session's state and dose (:func:`~ketaplan.services.patient_overview.
course_overview`) and the booster advice (:func:`~ketaplan.services.boosters.
recommend_booster`), which reads the same charts through the titration history. Asked apart,
each replayed every chart of the course, so a page replayed each twice (the slowest page of
issue 18). Here the course's charts are folded once (:func:`~ketaplan.services.chart_replays.
replay_course`) and both are built from the folds, in one transaction audited as the two reads
it stands for (``course.read``, ``course.booster``), in that order.
"""

from __future__ import annotations

from dataclasses import dataclass

from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.services.actors import Actor
from ketaplan.services.boosters import BoosterAdvice, advise_boosters
from ketaplan.services.chart_replays import replay_course
from ketaplan.services.clinic_policy import clinic_chart_rules
from ketaplan.services.courses import find_course
from ketaplan.services.patient_overview import CourseOverview, read_course_overview
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts


@dataclass(frozen=True, slots=True)
class CoursePage:
    """What the course page shows from its course's charts."""

    overview: CourseOverview
    booster: BoosterAdvice


def course_page(
    uow: UnitOfWork,
    course_id: int,
    *,
    actor: Actor,
    policy: ClinicPolicy,
) -> CoursePage:
    """The course's overview and booster advice from one fold of each of its charts."""
    require_clinical_facts(actor, "a course's page")
    with uow.reading():
        course = find_course(uow, course_id, actor)
        rules = clinic_chart_rules(uow, actor, policy.monitoring)
        charts = replay_course(uow, course, rules, policy)
        page = CoursePage(
            read_course_overview(uow, course, charts, actor=actor, policy=policy),
            advise_boosters(uow, course, charts, actor=actor, policy=policy),
        )
        uow.commit()
        return page
