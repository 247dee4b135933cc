"""Who may do what: the whole role matrix, in one place, keyed by use case.

A rule belongs to a use case (:class:`UseCase`: create a plan, sign an order, chart a session),
not to a route: the API route and the page that do the same thing name the same use case in
:data:`ROUTES`, so one rule covers both, and a page deciding whether to offer a button asks
:func:`can` with the use case the button leads to, never a role name. A rule is the roles that
may do it, or :data:`PUBLIC` for the few that need no sign-in (health, sign-in, the patient's
questionnaire link, static assets).

Every route of the app (API and pages) is named, and every name maps to a use case here;
:data:`RULES` is that matrix by route, which :func:`ketaplan.http.security.authorize` enforces
on every request. A test walks all of the app's routes so that a new route without a rule
fails the build instead of quietly being open (or closed).

Clinical rules that are about the act rather than the route (a dose override is a
prescriber's) are also enforced by the services, whatever the entry point; so is which facts
each role sees and changes (:mod:`ketaplan.services.visibility`): a route open to the front
desk answers with the front desk's view.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from ketaplan.services import ROLES, Actor, Role
from ketaplan.services.visibility import CLINICAL_ROLES

PUBLIC: Final = "public"
"""No sign-in needed; the route must not show patient data except through a patient link."""

Rule = frozenset[Role] | str

STAFF: Final[frozenset[Role]] = frozenset(ROLES)
CLINICAL: Final[frozenset[Role]] = CLINICAL_ROLES
"""Staff who see clinical details (doses, screening, charts); the front desk does not."""
PRESCRIBER: Final[frozenset[Role]] = frozenset({"prescriber"})
ADMIN: Final[frozenset[Role]] = frozenset({"admin"})
CHARTING: Final[frozenset[Role]] = frozenset({"prescriber", "nurse"})
"""Staff who treat patients and chart sessions."""
STOCK_OVERSIGHT: Final[frozenset[Role]] = frozenset({"prescriber", "admin"})
"""Who destroys controlled substances, resolves a count's discrepancy and follows a loss case."""


class UseCase(StrEnum):
    """Something a member of staff (or a patient, through a link) does through the app."""

    # system and accounts
    CHECK_HEALTH = "check_health"
    READ_API_SCHEMA = "read_api_schema"
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    WHO_AM_I = "who_am_i"
    OPEN_HOME = "open_home"
    LOAD_STATIC_ASSETS = "load_static_assets"
    # patients
    REGISTER_PATIENT = "register_patient"
    SEARCH_PATIENTS = "search_patients"
    READ_PATIENT = "read_patient"
    READ_PATIENT_CHART = "read_patient_chart"
    REPLACE_PATIENT_DETAILS = "replace_patient_details"
    AMEND_PATIENT = "amend_patient"
    READ_PATIENT_HISTORY = "read_patient_history"
    # screenings and plans
    SCREEN_PATIENT = "screen_patient"
    READ_SCREENINGS = "read_screenings"
    CREATE_PLAN = "create_plan"
    LIST_PLANS = "list_plans"
    READ_PLAN = "read_plan"
    SIGN_ORDER = "sign_order"
    CANCEL_ORDER = "cancel_order"
    CANCEL_SIGNED_ORDER = "cancel_signed_order"
    OVERRIDE_DOSE_LIMIT = "override_dose_limit"
    # courses
    SCHEDULE_COURSE = "schedule_course"
    SCHEDULE_COURSE_ON_CHART = "schedule_course_on_chart"
    READ_COURSE = "read_course"
    READ_COURSE_CHART = "read_course_chart"
    RESCHEDULE_COURSE = "reschedule_course"
    RECOMMEND_BOOSTER = "recommend_booster"
    READ_CHAIR_BOARD = "read_chair_board"
    # sessions
    OPEN_SESSION = "open_session"
    CHART_SESSION = "chart_session"
    OVERRIDE_START_HOLD = "override_start_hold"
    READ_SESSION = "read_session"
    LIST_SESSIONS = "list_sessions"
    # questionnaires and patient links
    RECORD_QUESTIONNAIRE = "record_questionnaire"
    LIST_QUESTIONNAIRES = "list_questionnaires"
    CREATE_PATIENT_LINK = "create_patient_link"
    OPEN_PATIENT_LINK = "open_patient_link"
    ANSWER_PATIENT_LINK = "answer_patient_link"
    EMAIL_PATIENT_LINK = "email_patient_link"
    READ_PATIENT_MESSAGES = "read_patient_messages"
    READ_ITEM9_FLAGS = "read_item9_flags"
    REVIEW_ITEM9_FLAG = "review_item9_flag"
    # titration
    RECOMMEND_TITRATION = "recommend_titration"
    DECIDE_TITRATION = "decide_titration"
    # the clinic
    READ_DASHBOARD = "read_dashboard"
    READ_PROTOCOLS = "read_protocols"
    READ_CLINIC_SETTINGS = "read_clinic_settings"
    UPDATE_CLINIC_SETTINGS = "update_clinic_settings"
    LIST_STAFF = "list_staff"
    ADD_USER = "add_user"
    CHANGE_USER_ROLE = "change_user_role"
    RESET_USER_PASSWORD = "reset_user_password"
    DEACTIVATE_USER = "deactivate_user"
    REACTIVATE_USER = "reactivate_user"
    READ_AUDIT_TRAIL = "read_audit_trail"
    EXPORT_AUDIT_TRAIL = "export_audit_trail"
    # exports
    EXPORT_PATIENT_FHIR = "export_patient_fhir"
    EXPORT_CLINIC = "export_clinic"
    # reports on paper
    PRINT_PROGRESS_REPORT = "print_progress_report"
    PRINT_PREPARATION_CARD = "print_preparation_card"
    # the controlled-substance ledger (the medication room)
    READ_LEDGER = "read_ledger"
    RECEIVE_STOCK = "receive_stock"
    DRAW_FROM_VIAL = "draw_from_vial"
    RECORD_ADMINISTRATION = "record_administration"
    WASTE_DRUG = "waste_drug"
    RETURN_TO_STOCK = "return_to_stock"
    DESTROY_STOCK = "destroy_stock"
    COUNT_STOCK = "count_stock"
    TAKE_INVENTORY = "take_inventory"
    RESOLVE_DISCREPANCY = "resolve_discrepancy"
    CORRECT_LEDGER_ENTRY = "correct_ledger_entry"
    RECORD_LEDGER_ENTRY = "record_ledger_entry"
    REPORT_LOSS = "report_loss"
    FOLLOW_LOSS_CASE = "follow_loss_case"


U = UseCase

USE_CASE_RULES: Final[Mapping[UseCase, Rule]] = {
    # system and accounts
    U.CHECK_HEALTH: PUBLIC,
    U.READ_API_SCHEMA: STAFF,
    U.SIGN_IN: PUBLIC,
    U.SIGN_OUT: STAFF,
    U.WHO_AM_I: STAFF,
    U.OPEN_HOME: STAFF,
    U.LOAD_STATIC_ASSETS: PUBLIC,
    # patients: the front desk registers and finds patients, reads and amends their
    # registration (name, date of birth, address, contacts, escort) and its history;
    # replacing every detail, and the patient's chart page, are clinical staff's (the
    # services give the front desk the registration's view of a record and its history)
    U.REGISTER_PATIENT: STAFF,
    U.SEARCH_PATIENTS: STAFF,
    U.READ_PATIENT: STAFF,
    U.READ_PATIENT_CHART: CLINICAL,
    U.REPLACE_PATIENT_DETAILS: CLINICAL,
    U.AMEND_PATIENT: STAFF,
    U.READ_PATIENT_HISTORY: STAFF,
    # screenings and plans: clinical details, not for the front desk; those who treat propose
    # an order, a prescriber signs it; a nurse may withdraw a proposed order, only a prescriber
    # cancels a signed one or overrides a dose limit (the plan service refuses both from
    # anyone else, whatever the entry point; pages ask here whether to offer them)
    U.SCREEN_PATIENT: CLINICAL,
    U.READ_SCREENINGS: CLINICAL,
    U.CREATE_PLAN: CHARTING,
    U.LIST_PLANS: CLINICAL,
    U.READ_PLAN: CLINICAL,
    U.SIGN_ORDER: PRESCRIBER,
    U.CANCEL_ORDER: CHARTING,
    U.CANCEL_SIGNED_ORDER: PRESCRIBER,
    U.OVERRIDE_DOSE_LIMIT: PRESCRIBER,
    # courses: the front desk schedules, moves and cancels sessions and courses, books
    # boosters on the suggested days, in the API and on the bookings page, and sees the
    # bookings (no protocol, no order's dose, no booster's reason); the course page and the
    # patient page's scheduling form are clinical; the booster advice weighs scores; the chair
    # board shows the front desk states and times only (the service leaves the rest out)
    U.SCHEDULE_COURSE: STAFF,
    U.SCHEDULE_COURSE_ON_CHART: CLINICAL,
    U.READ_COURSE: STAFF,
    U.READ_COURSE_CHART: CLINICAL,
    U.RESCHEDULE_COURSE: STAFF,
    U.RECOMMEND_BOOSTER: CLINICAL,
    U.READ_CHAIR_BOARD: STAFF,
    # sessions: nurses and prescribers chart; clinical staff read charts; a hold on the start
    # is overridden by a prescriber (the session service checks)
    U.OPEN_SESSION: CHARTING,
    U.CHART_SESSION: CHARTING,
    U.OVERRIDE_START_HOLD: PRESCRIBER,
    U.READ_SESSION: CLINICAL,
    U.LIST_SESSIONS: CLINICAL,
    # questionnaires: entered by those who treat, read by clinical staff; the patient's link
    # needs no account and shows only the first name and the questionnaires
    U.RECORD_QUESTIONNAIRE: CHARTING,
    U.LIST_QUESTIONNAIRES: CLINICAL,
    U.CREATE_PATIENT_LINK: CHARTING,
    U.OPEN_PATIENT_LINK: PUBLIC,
    U.ANSWER_PATIENT_LINK: PUBLIC,
    # measurement-based care: those who treat e-mail links (a link's scales are clinical) and
    # mark a PHQ-9 item 9 answer reviewed; clinical staff read the e-mails' delivery (the
    # patient page shows it to them) and the item 9 flags (the front desk sees no scores)
    U.EMAIL_PATIENT_LINK: CHARTING,
    U.READ_PATIENT_MESSAGES: CLINICAL,
    U.READ_ITEM9_FLAGS: CLINICAL,
    U.REVIEW_ITEM9_FLAG: CHARTING,
    # titration: those who treat ask for a recommendation; the decision is the prescriber's
    U.RECOMMEND_TITRATION: CHARTING,
    U.DECIDE_TITRATION: PRESCRIBER,
    # the clinic: admins edit its settings and manage its staff (the service checks the
    # clinic and keeps one active admin)
    U.READ_DASHBOARD: STAFF,
    U.READ_PROTOCOLS: STAFF,
    U.READ_CLINIC_SETTINGS: ADMIN,
    U.UPDATE_CLINIC_SETTINGS: ADMIN,
    U.LIST_STAFF: ADMIN,
    U.CHANGE_USER_ROLE: ADMIN,
    U.RESET_USER_PASSWORD: ADMIN,
    U.DEACTIVATE_USER: ADMIN,
    U.REACTIVATE_USER: ADMIN,
    # the audit trail shows every member of staff's work and every chart opened: the privacy
    # officer's (an admin's), not the clinical team's; a prescriber asks an admin
    U.ADD_USER: ADMIN,
    U.READ_AUDIT_TRAIL: ADMIN,
    U.EXPORT_AUDIT_TRAIL: ADMIN,
    # exports: a patient's FHIR record is clinical staff's; the whole clinic's (Bulk Data
    # $export, the CSV exit export) is a disclosure of every patient, an admin's
    U.EXPORT_PATIENT_FHIR: CLINICAL,
    U.EXPORT_CLINIC: ADMIN,
    # reports: clinical facts on paper, for clinical staff
    U.PRINT_PROGRESS_REPORT: CLINICAL,
    U.PRINT_PREPARATION_CARD: CLINICAL,
    # controlled-substance ledger (issue 16): those who prepare and give draw, record what was
    # given and waste (a witness re-enters their password, never the one wasting); clinical
    # staff receive, count and read; a prescriber or admin destroys, resolves and follows a
    # loss case (the services check each rule again, and who may correct an entry)
    U.READ_LEDGER: CLINICAL,
    U.RECEIVE_STOCK: CLINICAL,
    U.DRAW_FROM_VIAL: CHARTING,
    U.RECORD_ADMINISTRATION: CHARTING,
    U.WASTE_DRUG: CHARTING,
    U.RETURN_TO_STOCK: CHARTING,
    U.DESTROY_STOCK: STOCK_OVERSIGHT,
    U.COUNT_STOCK: CLINICAL,
    U.TAKE_INVENTORY: CLINICAL,
    U.RESOLVE_DISCREPANCY: STOCK_OVERSIGHT,
    U.CORRECT_LEDGER_ENTRY: CLINICAL,
    U.RECORD_LEDGER_ENTRY: CLINICAL,
    U.REPORT_LOSS: CLINICAL,
    U.FOLLOW_LOSS_CASE: STOCK_OVERSIGHT,
}

ROUTES: Final[Mapping[str, UseCase]] = {
    # the API (under /api/v1)
    "health": U.CHECK_HEALTH,
    "openapi": U.READ_API_SCHEMA,
    "sign_in_for_token": U.SIGN_IN,
    "sign_out": U.SIGN_OUT,
    "who_am_i": U.WHO_AM_I,
    "create_patient": U.REGISTER_PATIENT,
    "search_patients": U.SEARCH_PATIENTS,
    "read_patient": U.READ_PATIENT,
    "update_patient": U.REPLACE_PATIENT_DETAILS,
    "amend_patient": U.AMEND_PATIENT,
    "patient_versions": U.READ_PATIENT_HISTORY,
    "screen_patient": U.SCREEN_PATIENT,
    "list_screenings": U.READ_SCREENINGS,
    "create_plan": U.CREATE_PLAN,
    "list_plans": U.LIST_PLANS,
    "read_plan": U.READ_PLAN,
    "sign_order": U.SIGN_ORDER,
    "cancel_order": U.CANCEL_ORDER,
    "create_course": U.SCHEDULE_COURSE,
    "list_courses": U.READ_COURSE,
    "read_course": U.READ_COURSE,
    "reschedule_course": U.RESCHEDULE_COURSE,
    "course_calendar": U.READ_COURSE,
    "course_booster": U.RECOMMEND_BOOSTER,
    "move_course_session": U.RESCHEDULE_COURSE,
    "cancel_course_session": U.RESCHEDULE_COURSE,
    "cancel_course": U.RESCHEDULE_COURSE,
    "book_booster": U.SCHEDULE_COURSE,
    "course_history": U.READ_COURSE,
    "chair_board": U.READ_CHAIR_BOARD,
    "open_session": U.OPEN_SESSION,
    "append_session_event": U.CHART_SESSION,
    "read_session": U.READ_SESSION,
    "list_sessions": U.LIST_SESSIONS,
    "record_questionnaire": U.RECORD_QUESTIONNAIRE,
    "list_questionnaires": U.LIST_QUESTIONNAIRES,
    "create_patient_link": U.CREATE_PATIENT_LINK,
    "open_patient_link": U.OPEN_PATIENT_LINK,
    "answer_patient_link": U.ANSWER_PATIENT_LINK,
    "email_patient_link": U.EMAIL_PATIENT_LINK,
    "list_patient_messages": U.READ_PATIENT_MESSAGES,
    "list_item9_flags": U.READ_ITEM9_FLAGS,
    "review_item9_flag": U.REVIEW_ITEM9_FLAG,
    "recommend_titration": U.RECOMMEND_TITRATION,
    "decide_titration": U.DECIDE_TITRATION,
    "list_staff": U.LIST_STAFF,
    "change_user_role": U.CHANGE_USER_ROLE,
    "reset_user_password": U.RESET_USER_PASSWORD,
    "deactivate_user": U.DEACTIVATE_USER,
    "reactivate_user": U.REACTIVATE_USER,
    "add_user": U.ADD_USER,
    "read_audit_trail": U.READ_AUDIT_TRAIL,
    "export_audit_trail": U.EXPORT_AUDIT_TRAIL,
    "fhir_patient_everything": U.EXPORT_PATIENT_FHIR,
    "fhir_bulk_export": U.EXPORT_CLINIC,
    "fhir_bulk_export_status": U.EXPORT_CLINIC,
    "fhir_bulk_export_delete": U.EXPORT_CLINIC,
    "fhir_bulk_export_file": U.EXPORT_CLINIC,
    "csv_exit_export": U.EXPORT_CLINIC,
    "progress_report_pdf": U.PRINT_PROGRESS_REPORT,
    "preparation_card_pdf": U.PRINT_PREPARATION_CARD,
    "ledger_receive": U.RECEIVE_STOCK,
    "ledger_draw": U.DRAW_FROM_VIAL,
    "ledger_administer": U.RECORD_ADMINISTRATION,
    "ledger_waste": U.WASTE_DRUG,
    "ledger_return": U.RETURN_TO_STOCK,
    "ledger_destroy": U.DESTROY_STOCK,
    "ledger_count": U.COUNT_STOCK,
    "ledger_inventory": U.TAKE_INVENTORY,
    "ledger_resolve": U.RESOLVE_DISCREPANCY,
    "ledger_correct": U.CORRECT_LEDGER_ENTRY,
    "ledger_edit_refused": U.CORRECT_LEDGER_ENTRY,
    "ledger_entry": U.READ_LEDGER,
    "ledger_stock": U.READ_LEDGER,
    "ledger_vial": U.READ_LEDGER,
    "ledger_report": U.READ_LEDGER,
    "ledger_losses": U.READ_LEDGER,
    "ledger_loss_step": U.REPORT_LOSS,
    # the pages (a page and the form it posts to name the same use case)
    "web_static": U.LOAD_STATIC_ASSETS,
    "web_home": U.OPEN_HOME,
    "web_sign_in_page": U.SIGN_IN,
    "web_sign_in": U.SIGN_IN,
    "web_sign_out": U.SIGN_OUT,
    "web_patients": U.SEARCH_PATIENTS,
    "web_new_patient": U.REGISTER_PATIENT,
    "web_create_patient": U.REGISTER_PATIENT,
    "web_check_patient": U.REGISTER_PATIENT,
    "web_patient": U.READ_PATIENT_CHART,
    "web_edit_patient": U.AMEND_PATIENT,
    "web_save_patient": U.AMEND_PATIENT,
    "web_new_plan": U.CREATE_PLAN,
    "web_create_plan": U.CREATE_PLAN,
    "web_plan": U.READ_PLAN,
    "web_sign_order": U.SIGN_ORDER,
    "web_cancel_order": U.CANCEL_ORDER,
    "web_preparation_card": U.READ_PLAN,
    "web_schedule_course": U.SCHEDULE_COURSE_ON_CHART,
    "web_course": U.READ_COURSE_CHART,
    "web_recommend_titration": U.RECOMMEND_TITRATION,
    "web_decide_titration": U.DECIDE_TITRATION,
    "web_open_session": U.OPEN_SESSION,
    "web_session_console": U.READ_SESSION,
    "web_session_what_if": U.READ_SESSION,
    "web_chart_event": U.CHART_SESSION,
    "web_screen_patient": U.SCREEN_PATIENT,
    "web_screening": U.READ_SCREENINGS,
    "web_create_patient_link": U.CREATE_PATIENT_LINK,
    "web_new_questionnaire": U.RECORD_QUESTIONNAIRE,
    "web_record_questionnaire": U.RECORD_QUESTIONNAIRE,
    "web_patient_questionnaire": U.OPEN_PATIENT_LINK,
    "web_answer_questionnaire": U.ANSWER_PATIENT_LINK,
    "web_email_patient_link": U.EMAIL_PATIENT_LINK,
    "web_review_item9_flag": U.REVIEW_ITEM9_FLAG,
    "web_dashboard": U.READ_DASHBOARD,
    "web_protocols": U.READ_PROTOCOLS,
    "web_clinic_settings": U.READ_CLINIC_SETTINGS,
    "web_update_clinic_settings": U.UPDATE_CLINIC_SETTINGS,
    "web_staff": U.LIST_STAFF,
    "web_change_user_role": U.CHANGE_USER_ROLE,
    "web_reset_user_password": U.RESET_USER_PASSWORD,
    "web_deactivate_user": U.DEACTIVATE_USER,
    "web_reactivate_user": U.REACTIVATE_USER,
    "web_add_user": U.ADD_USER,
    "web_audit_trail": U.READ_AUDIT_TRAIL,
    "web_audit_trail_csv": U.EXPORT_AUDIT_TRAIL,
    "web_ledger": U.READ_LEDGER,
    "web_ledger_action": U.RECORD_LEDGER_ENTRY,
    "web_ledger_report": U.READ_LEDGER,
    "web_patient_bookings": U.READ_COURSE,
    "web_book_course": U.SCHEDULE_COURSE,
    "web_move_session": U.RESCHEDULE_COURSE,
    "web_cancel_session": U.RESCHEDULE_COURSE,
    "web_cancel_course": U.RESCHEDULE_COURSE,
    "web_book_booster": U.SCHEDULE_COURSE,
    "web_chair_board": U.READ_CHAIR_BOARD,
    "web_chair_board_lines": U.READ_CHAIR_BOARD,
}
"""Route name → the use case it serves."""

PAGE_CONTROLS: Final[frozenset[UseCase]] = frozenset(
    {
        U.CANCEL_SIGNED_ORDER,
        U.OVERRIDE_DOSE_LIMIT,
        U.OVERRIDE_START_HOLD,
        U.FOLLOW_LOSS_CASE,
    }
)
"""Use cases with no route of their own: a finer act inside one (cancel an order that is
signed, override a limit or a hold), which the service refuses to the wrong role and a page
asks :func:`can` about before it offers the field or button."""

RULES: Final[dict[str, Rule]] = {name: USE_CASE_RULES[use] for name, use in ROUTES.items()}
"""The matrix by route name, as :func:`~ketaplan.http.security.authorize` looks it up."""


def rule_for(route_name: str) -> Rule | None:
    """The rule for a route name, or None when the route has none (a bug the tests catch)."""
    return RULES.get(route_name)


def can(actor: Actor, use_case: UseCase | str) -> bool:
    """Whether ``actor`` may do ``use_case`` (a :class:`UseCase` or its name, as a template
    gives it); an unknown name is a bug and raises ``ValueError``, never a quiet "no"."""
    rule = USE_CASE_RULES[UseCase(use_case)]
    return rule == PUBLIC or actor.role in rule
