"""The use cases as a request reaches them: bound to the service's database and clinic files.

Every service function takes a unit of work first and, where the clinic's rules matter, the
policy, resolver, catalog, calendar or monitoring rules the server loaded; a route only knows
what the request says and who signed it in. The request context
(:class:`~ketaplan.http.context.ServiceContext`) hands out these groups, one per part of the
clinic's work, so a route says ``context.plans.create(patient_id, order, actor=actor)`` and
the binding is written once, here, for the API and the pages alike. Each call opens a fresh
unit of work: one use case, one transaction, as the services are written.

The methods keep the service functions' own parameters and answers (``listing`` for their
``list_*``, since a method named ``list`` would hide the type in its own annotations).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from ketaplan.services.accounts import SignIn, TokenKind, sign_in, sign_out
from ketaplan.services.actors import Actor
from ketaplan.services.audit_trail import PAGE_SIZE as TRAIL_PAGE_SIZE
from ketaplan.services.audit_trail import (
    AuditFilter,
    TrailPage,
    export_audit_trail,
    read_audit_trail,
)
from ketaplan.services.boosters import BoosterAdvice, recommend_booster
from ketaplan.services.clinic_settings import (
    ClinicSettingsRecord,
    clinic_settings,
    update_clinic_settings,
)
from ketaplan.services.clinic_settings_form import ClinicSettingsInput
from ketaplan.services.course_calendar import course_calendar
from ketaplan.services.course_page import CoursePage, course_page
from ketaplan.services.courses import (
    CourseRecord,
    CourseView,
    get_course,
    list_courses,
    read_course,
    reschedule_course,
    schedule_course,
)
from ketaplan.services.dashboard import Dashboard, clinic_dashboard
from ketaplan.services.listing import Listed, Window
from ketaplan.services.orders import DEFAULT_MEANING
from ketaplan.services.patient_history import PatientHistory, patient_history
from ketaplan.services.patient_links import (
    DEFAULT_LIFETIME,
    LinkCreated,
    LinkView,
    answer_patient_link,
    create_patient_link,
    open_patient_link,
)
from ketaplan.services.patient_overview import (
    ConsoleView,
    PatientOverview,
    patient_overview,
    session_console,
)
from ketaplan.services.patient_pages import PatientPage, page_patients
from ketaplan.services.patients import (
    MAX_SEARCH_RESULTS,
    PatientDetails,
    PatientRecord,
    PatientSummary,
    PatientView,
    amend_patient,
    create_patient,
    get_patient,
    read_patient,
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
from ketaplan.services.predictions import (
    PlanPrediction,
    SessionPrediction,
    predict_plan,
    predict_session,
)
from ketaplan.services.questionnaires import (
    QuestionnaireRecord,
    Source,
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
from ketaplan.services.staff import (
    NewStaffMember,
    StaffMember,
    add_staff_member,
    change_role,
    deactivate_user,
    list_staff,
    reactivate_user,
    reset_password,
)
from ketaplan.services.titration import (
    DecisionRecord,
    TitrationRecord,
    TitrationView,
    decide_titration,
    latest_titration,
    recommend_titration,
)

if TYPE_CHECKING:
    from ketaplan.http.context import ServiceContext


class UseCaseGroup:
    """A group of use cases over one service context."""

    __slots__ = ("_context",)

    def __init__(self, context: ServiceContext) -> None:
        self._context = context


class Patients(UseCaseGroup):
    """Registering, finding, reading and changing patients; the patient page's overview."""

    def create(self, details: PatientDetails, *, actor: Actor) -> PatientRecord:
        return create_patient(
            self._context.unit_of_work(), details, actor=actor, catalog=self._context.catalog
        )

    def get(self, patient_id: int, *, actor: Actor) -> PatientRecord:
        return get_patient(self._context.unit_of_work(), patient_id, actor=actor)

    def read(self, patient_id: int, *, actor: Actor) -> PatientView:
        return read_patient(self._context.unit_of_work(), patient_id, actor=actor)

    def search(
        self, query: str = "", *, actor: Actor, limit: int = MAX_SEARCH_RESULTS
    ) -> list[PatientSummary]:
        return search_patients(self._context.unit_of_work(), query, actor=actor, limit=limit)

    def page(
        self, query: str = "", *, actor: Actor, limit: int, after: int | None = None
    ) -> PatientPage:
        return page_patients(
            self._context.unit_of_work(), query, actor=actor, limit=limit, after=after
        )

    def update(
        self, patient_id: int, details: PatientDetails, *, expected_version: int, actor: Actor
    ) -> PatientRecord:
        return update_patient(
            self._context.unit_of_work(),
            patient_id,
            details,
            expected_version=expected_version,
            actor=actor,
            catalog=self._context.catalog,
        )

    def amend(
        self, patient_id: int, changes: Mapping[str, Any], *, expected_version: int, actor: Actor
    ) -> PatientView:
        return amend_patient(
            self._context.unit_of_work(),
            patient_id,
            changes,
            expected_version=expected_version,
            actor=actor,
            catalog=self._context.catalog,
        )

    def overview(self, patient_id: int, *, actor: Actor) -> PatientOverview:
        return patient_overview(
            self._context.unit_of_work(), patient_id, actor=actor, policy=self._context.policy
        )

    def history(self, patient_id: int, *, actor: Actor) -> PatientHistory:
        return patient_history(self._context.unit_of_work(), patient_id, actor=actor)


class Screenings(UseCaseGroup):
    """Screening a patient for a protocol, and the screenings so far."""

    def screen(self, patient_id: int, *, condition: str, actor: Actor) -> ScreeningRecord:
        return screen_patient(
            self._context.unit_of_work(),
            patient_id,
            condition=condition,
            actor=actor,
            policy=self._context.policy,
            resolver=self._context.resolver,
        )

    def listing(self, patient_id: int, *, actor: Actor, window: Window) -> Listed[ScreeningRecord]:
        return list_screenings(self._context.unit_of_work(), patient_id, actor=actor, window=window)


class Plans(UseCaseGroup):
    """Infusion plans as orders: proposed, signed by a prescriber, cancelled."""

    def create(self, patient_id: int, order: PlanOrder, *, actor: Actor) -> PlanRecord:
        return create_plan(
            self._context.unit_of_work(),
            patient_id,
            order,
            actor=actor,
            policy=self._context.policy,
            resolver=self._context.resolver,
        )

    def get(self, plan_id: int, *, actor: Actor) -> PlanRecord:
        return get_plan(self._context.unit_of_work(), plan_id, actor=actor)

    def predict(self, plan_id: int, *, actor: Actor) -> PlanPrediction:
        return predict_plan(self._context.unit_of_work(), plan_id, actor=actor)

    def listing(self, patient_id: int, *, actor: Actor, window: Window) -> Listed[PlanRecord]:
        return list_plans(self._context.unit_of_work(), patient_id, actor=actor, window=window)

    def sign(
        self,
        plan_id: int,
        *,
        password: str,
        actor: Actor,
        meaning: str = DEFAULT_MEANING,
        override_reason: str | None = None,
        signer_name: str | None = None,
    ) -> PlanRecord:
        return sign_order(
            self._context.unit_of_work(),
            plan_id,
            password=password,
            actor=actor,
            meaning=meaning,
            override_reason=override_reason,
            signer_name=signer_name,
        )

    def cancel(self, plan_id: int, *, reason: str, actor: Actor) -> PlanRecord:
        return cancel_order(self._context.unit_of_work(), plan_id, reason=reason, actor=actor)


class Courses(UseCaseGroup):
    """Courses of sessions: scheduling, rescheduling, the calendar, boosters."""

    def schedule(
        self,
        patient_id: int,
        *,
        condition: str,
        first_day: date,
        actor: Actor,
        plan_id: int | None = None,
    ) -> CourseRecord:
        return schedule_course(
            self._context.unit_of_work(),
            patient_id,
            condition=condition,
            first_day=first_day,
            actor=actor,
            policy=self._context.policy,
            plan_id=plan_id,
        )

    def listing(self, patient_id: int, *, actor: Actor, window: Window) -> Listed[CourseView]:
        return list_courses(self._context.unit_of_work(), patient_id, actor=actor, window=window)

    def read(self, course_id: int, *, actor: Actor) -> CourseView:
        return read_course(self._context.unit_of_work(), course_id, actor=actor)

    def get(self, course_id: int, *, actor: Actor) -> CourseRecord:
        """The course with its protocol, and no more (clinical staff only; audited as a read
        of the course): what opening its next session needs."""
        return get_course(self._context.unit_of_work(), course_id, actor=actor)

    def reschedule(
        self,
        course_id: int,
        *,
        session_number: int,
        status: Literal["missed", "cancelled"],
        expected_version: int,
        actor: Actor,
        from_date: date | None = None,
        reason: str | None = None,
    ) -> CourseRecord:
        return reschedule_course(
            self._context.unit_of_work(),
            course_id,
            session_number=session_number,
            status=status,
            expected_version=expected_version,
            actor=actor,
            policy=self._context.policy,
            from_date=from_date,
            reason=reason,
        )

    def calendar(self, course_id: int, *, actor: Actor, stamp: datetime) -> bytes:
        return course_calendar(
            self._context.unit_of_work(),
            course_id,
            actor=actor,
            catalog=self._context.catalog,
            stamp=stamp,
        )

    def recommend_booster(self, course_id: int, *, actor: Actor) -> BoosterAdvice:
        return recommend_booster(
            self._context.unit_of_work(), course_id, actor=actor, policy=self._context.policy
        )

    def page(self, course_id: int, *, actor: Actor) -> CoursePage:
        return course_page(
            self._context.unit_of_work(), course_id, actor=actor, policy=self._context.policy
        )


class Sessions(UseCaseGroup):
    """Infusion sessions (the chart of one infusion, not a sign-in): open, chart, read."""

    def open(
        self,
        patient_id: int,
        *,
        condition: str,
        actor: Actor,
        course_id: int | None = None,
        plan_id: int | None = None,
        number: int | None = None,
    ) -> SessionChart:
        return open_session(
            self._context.unit_of_work(),
            patient_id,
            condition=condition,
            actor=actor,
            policy=self._context.policy,
            course_id=course_id,
            plan_id=plan_id,
            number=number,
        )

    def append_event(
        self, session_id: int, event: Mapping[str, object], *, expected_seq: int, actor: Actor
    ) -> SessionChart:
        return append_session_event(
            self._context.unit_of_work(),
            session_id,
            event,
            expected_seq=expected_seq,
            actor=actor,
            policy=self._context.policy,
        )

    def chart(self, session_id: int, *, actor: Actor) -> SessionChart:
        return get_session_chart(
            self._context.unit_of_work(), session_id, actor=actor, policy=self._context.policy
        )

    def listing(self, patient_id: int, *, actor: Actor, window: Window) -> Listed[SessionListing]:
        return list_sessions(self._context.unit_of_work(), patient_id, actor=actor, window=window)

    def console(self, session_id: int, *, actor: Actor) -> ConsoleView:
        return session_console(
            self._context.unit_of_work(), session_id, actor=actor, policy=self._context.policy
        )

    def predict(
        self, session_id: int, *, actor: Actor, lower_rate: str | None = None
    ) -> SessionPrediction:
        return predict_session(
            self._context.unit_of_work(),
            session_id,
            actor=actor,
            policy=self._context.policy,
            lower_rate=lower_rate,
        )


class Questionnaires(UseCaseGroup):
    """Scale scores typed in by staff."""

    def record(
        self,
        patient_id: int,
        *,
        scale: str,
        answers: Sequence[object],
        answered_at: datetime,
        actor: Actor,
        course_id: int | None = None,
        session_id: int | None = None,
        source: Source = "staff",
    ) -> QuestionnaireRecord:
        return record_questionnaire(
            self._context.unit_of_work(),
            patient_id,
            scale=scale,
            answers=answers,
            answered_at=answered_at,
            actor=actor,
            course_id=course_id,
            session_id=session_id,
            source=source,
        )

    def listing(
        self, patient_id: int, *, actor: Actor, window: Window, scale_key: str | None = None
    ) -> Listed[QuestionnaireRecord]:
        return list_questionnaires(
            self._context.unit_of_work(),
            patient_id,
            actor=actor,
            scale_key=scale_key,
            window=window,
        )


class PatientLinks(UseCaseGroup):
    """Links a patient answers questionnaires through, without an account."""

    def create(
        self,
        patient_id: int,
        *,
        scales: Sequence[str],
        actor: Actor,
        expires_in: timedelta = DEFAULT_LIFETIME,
        course_id: int | None = None,
    ) -> LinkCreated:
        return create_patient_link(
            self._context.unit_of_work(),
            patient_id,
            scales=scales,
            actor=actor,
            expires_in=expires_in,
            course_id=course_id,
        )

    def open(self, token: str, *, origin: str) -> LinkView:
        return open_patient_link(
            self._context.unit_of_work(),
            token,
            origin=origin,
            crisis_default=self._context.catalog.clinic.crisis_message,
        )

    def answer(
        self, token: str, *, scale: str, answers: Sequence[object], origin: str
    ) -> QuestionnaireRecord:
        return answer_patient_link(
            self._context.unit_of_work(), token, scale=scale, answers=answers, origin=origin
        )


class Titration(UseCaseGroup):
    """The next dose of a course: the recommendation and the prescriber's decision."""

    def recommend(self, course_id: int, *, actor: Actor) -> TitrationRecord:
        return recommend_titration(
            self._context.unit_of_work(), course_id, actor=actor, policy=self._context.policy
        )

    def decide(
        self,
        recommendation_id: int,
        *,
        actor: Actor,
        password: str,
        mg_per_kg: float | None = None,
        reason: str = "",
        override_reason: str | None = None,
        meaning: str = DEFAULT_MEANING,
    ) -> DecisionRecord:
        return decide_titration(
            self._context.unit_of_work(),
            recommendation_id,
            actor=actor,
            policy=self._context.policy,
            resolver=self._context.resolver,
            password=password,
            mg_per_kg=mg_per_kg,
            reason=reason,
            override_reason=override_reason,
            meaning=meaning,
        )

    def latest(self, course_id: int, *, actor: Actor) -> TitrationView | None:
        return latest_titration(self._context.unit_of_work(), course_id, actor=actor)


class Staff(UseCaseGroup):
    """The clinic's staff accounts, as its admins manage them."""

    def listing(self, *, actor: Actor) -> list[StaffMember]:
        return list_staff(self._context.unit_of_work(), actor=actor)

    def add(self, new: NewStaffMember, *, actor: Actor) -> StaffMember:
        return add_staff_member(self._context.unit_of_work(), new, actor=actor)

    def change_role(self, user_id: int, role: str, *, actor: Actor) -> StaffMember:
        return change_role(self._context.unit_of_work(), user_id, role, actor=actor)

    def reset_password(self, user_id: int, password: str, *, actor: Actor) -> None:
        return reset_password(self._context.unit_of_work(), user_id, password, actor=actor)

    def deactivate(self, user_id: int, *, actor: Actor) -> StaffMember:
        return deactivate_user(self._context.unit_of_work(), user_id, actor=actor)

    def reactivate(self, user_id: int, *, actor: Actor) -> StaffMember:
        return reactivate_user(self._context.unit_of_work(), user_id, actor=actor)


class AuditTrail(UseCaseGroup):
    """The audit trail as an admin reads it: a page at a time, or the filtered trail as CSV."""

    def page(
        self,
        chosen: AuditFilter,
        *,
        actor: Actor,
        older_than: int | None = None,
        page_size: int = TRAIL_PAGE_SIZE,
    ) -> TrailPage:
        return read_audit_trail(
            self._context.unit_of_work(),
            chosen,
            actor=actor,
            older_than=older_than,
            page_size=page_size,
        )

    def export(self, chosen: AuditFilter, *, actor: Actor) -> Iterator[str]:
        return export_audit_trail(self._context.unit_of_work(), chosen, actor=actor)


class Accounts(UseCaseGroup):
    """Signing in and out (a sign-in, not an infusion session)."""

    def sign_in(self, email: str, password: str, *, kind: TokenKind, origin: str) -> SignIn:
        return sign_in(self._context.unit_of_work(), email, password, kind=kind, origin=origin)

    def sign_out(self, token: str, *, actor: Actor) -> None:
        return sign_out(self._context.unit_of_work(), token, actor=actor)


class Clinic(UseCaseGroup):
    """The clinic's day (dashboard) and its own settings."""

    def dashboard(self, *, actor: Actor, zone: ZoneInfo) -> Dashboard:
        return clinic_dashboard(self._context.unit_of_work(), actor=actor, zone=zone)

    def settings(self, *, actor: Actor) -> ClinicSettingsRecord:
        return clinic_settings(
            self._context.unit_of_work(),
            actor=actor,
            catalog=self._context.catalog,
            calendar=self._context.calendar,
            monitoring=self._context.monitoring,
        )

    def update_settings(
        self, typed: ClinicSettingsInput, *, expected_version: int, actor: Actor
    ) -> ClinicSettingsRecord:
        return update_clinic_settings(
            self._context.unit_of_work(),
            typed,
            expected_version=expected_version,
            actor=actor,
            catalog=self._context.catalog,
            calendar=self._context.calendar,
            monitoring=self._context.monitoring,
        )
