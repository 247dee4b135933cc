"""Use cases: one function per thing a clinic does, each one transaction with its audit event.

Every function takes a :class:`UnitOfWork` first and the acting user as ``actor=``; it opens
the unit of work, lets the domain decide, stores the result and the audit event together,
and commits. API routes, web pages and CLI commands call these; none of them holds clinical
logic or writes to the database itself.
"""

from __future__ import annotations

from ketaplan.services.actors import ROLES, Actor, Role, Visitor, require_role
from ketaplan.services.clinics import add_user, load_actor, set_up_clinic
from ketaplan.services.courses import CourseRecord, schedule_course
from ketaplan.services.patients import (
    PatientDetails,
    PatientRecord,
    PatientSummary,
    create_patient,
    get_patient,
    search_patients,
    update_patient,
)
from ketaplan.services.plans import PlanOrder, PlanRecord, create_plan, get_plan
from ketaplan.services.questionnaires import QuestionnaireRecord, record_questionnaire
from ketaplan.services.sessions import (
    SessionChart,
    append_session_event,
    get_session_chart,
    open_session,
)
from ketaplan.services.titration import (
    DecisionRecord,
    TitrationRecord,
    decide_titration,
    recommend_titration,
)
from ketaplan.services.unit_of_work import UnitOfWork, utc_now

__all__ = [
    "ROLES",
    "Actor",
    "CourseRecord",
    "DecisionRecord",
    "PatientDetails",
    "PatientRecord",
    "PatientSummary",
    "PlanOrder",
    "PlanRecord",
    "QuestionnaireRecord",
    "Role",
    "SessionChart",
    "TitrationRecord",
    "UnitOfWork",
    "Visitor",
    "add_user",
    "append_session_event",
    "create_patient",
    "create_plan",
    "decide_titration",
    "get_patient",
    "get_plan",
    "get_session_chart",
    "load_actor",
    "open_session",
    "recommend_titration",
    "record_questionnaire",
    "require_role",
    "schedule_course",
    "search_patients",
    "set_up_clinic",
    "update_patient",
    "utc_now",
]
