"""Use cases: one function per thing a clinic does, each one transaction with its audit event.

Every function takes a :class:`UnitOfWork` first and the acting user as ``actor=``; it opens
the unit of work, lets the domain decide, stores the result and the audit event together,
and commits. API routes, web pages and CLI commands call these; none of them holds clinical
logic or writes to the database itself.
"""

from __future__ import annotations

from ketaplan.services.actors import ROLES, Actor, Role, Visitor, require_role
from ketaplan.services.boosters import BoosterAdvice, recommend_booster
from ketaplan.services.clinics import add_user, load_actor, set_up_clinic
from ketaplan.services.courses import (
    CourseRecord,
    get_course,
    list_courses,
    reschedule_course,
    schedule_course,
)
from ketaplan.services.orders import DEFAULT_MEANING, OrderState
from ketaplan.services.patient_links import (
    LinkCreated,
    LinkView,
    answer_patient_link,
    create_patient_link,
    open_patient_link,
)
from ketaplan.services.patients import (
    PatientDetails,
    PatientRecord,
    PatientSummary,
    create_patient,
    get_patient,
    search_patients,
    update_patient,
)
from ketaplan.services.plans import (
    PlanOrder,
    PlanRecord,
    cancel_order,
    create_plan,
    get_plan,
    list_plans,
    sign_order,
)
from ketaplan.services.questionnaires import (
    QuestionnaireRecord,
    list_questionnaires,
    record_questionnaire,
)
from ketaplan.services.screenings import ScreeningRecord, list_screenings, screen_patient
from ketaplan.services.sessions import (
    SessionChart,
    SessionListing,
    append_session_event,
    get_session_chart,
    list_sessions,
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
    "DEFAULT_MEANING",
    "ROLES",
    "Actor",
    "BoosterAdvice",
    "CourseRecord",
    "DecisionRecord",
    "LinkCreated",
    "LinkView",
    "OrderState",
    "PatientDetails",
    "PatientRecord",
    "PatientSummary",
    "PlanOrder",
    "PlanRecord",
    "QuestionnaireRecord",
    "Role",
    "ScreeningRecord",
    "SessionChart",
    "SessionListing",
    "TitrationRecord",
    "UnitOfWork",
    "Visitor",
    "add_user",
    "answer_patient_link",
    "append_session_event",
    "cancel_order",
    "create_patient",
    "create_patient_link",
    "create_plan",
    "decide_titration",
    "get_course",
    "get_patient",
    "get_plan",
    "get_session_chart",
    "list_courses",
    "list_plans",
    "list_questionnaires",
    "list_screenings",
    "list_sessions",
    "load_actor",
    "open_patient_link",
    "open_session",
    "recommend_booster",
    "recommend_titration",
    "record_questionnaire",
    "require_role",
    "reschedule_course",
    "schedule_course",
    "screen_patient",
    "search_patients",
    "set_up_clinic",
    "sign_order",
    "update_patient",
    "utc_now",
]
