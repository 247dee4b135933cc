"""Who may use which route: the whole role matrix, in one place.

Every route of the app (API and web pages) is named, and every name has a rule here: the roles
that may use it, or :data:`PUBLIC` for the few that need no sign-in (health, sign-in, the
patient's questionnaire link, static assets). :func:`ketaplan.api.security.authorize` enforces
the rule on every request, and a test walks all of the app's routes so that a new route without
a rule fails the build instead of quietly being open (or closed).

Clinical rules that are about the act rather than the route (a dose override is a
prescriber's) are also enforced by the services, whatever the entry point; so is which facts
each role sees and changes (:mod:`ketaplan.services.visibility`): a route open to the front
desk answers with the front desk's view.
"""

from __future__ import annotations

from typing import Final

from ketaplan.services import ROLES, Role
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

RULES: Final[dict[str, Rule]] = {
    # system and accounts
    "health": PUBLIC,
    "openapi": STAFF,
    "sign_in_for_token": PUBLIC,
    "sign_out": STAFF,
    "who_am_i": STAFF,
    # patients: the front desk registers and finds patients, reads and amends their
    # registration (name, date of birth); replacing every detail is clinical staff's
    "create_patient": STAFF,
    "search_patients": STAFF,
    "read_patient": STAFF,
    "update_patient": CLINICAL,
    "amend_patient": STAFF,
    # screenings and plans: clinical details, not for the front desk; those who treat propose
    # an order, a prescriber signs it (a dose override is a prescriber's too: the plan service
    # refuses it from anyone else); a nurse may withdraw a proposed order, only a prescriber
    # cancels a signed one (the service checks)
    "screen_patient": CLINICAL,
    "list_screenings": CLINICAL,
    "create_plan": CHARTING,
    "list_plans": CLINICAL,
    "read_plan": CLINICAL,
    "sign_order": PRESCRIBER,
    "cancel_order": CHARTING,
    # courses: the front desk schedules and reschedules, and sees the bookings (no protocol);
    # boosters weigh scores
    "create_course": STAFF,
    "list_courses": STAFF,
    "read_course": STAFF,
    "reschedule_course": STAFF,
    "course_calendar": STAFF,
    "course_booster": CLINICAL,
    # reports: clinical facts on paper, for clinical staff
    "progress_report_pdf": CLINICAL,
    "preparation_card_pdf": CLINICAL,
    # sessions: nurses and prescribers chart; clinical staff read charts
    "open_session": CHARTING,
    "append_session_event": CHARTING,
    "read_session": CLINICAL,
    "list_sessions": CLINICAL,
    # questionnaires: entered by those who treat, read by clinical staff; the patient's link
    # needs no account and shows only the first name and the questionnaires
    "record_questionnaire": CHARTING,
    "list_questionnaires": CLINICAL,
    "create_patient_link": CHARTING,
    "open_patient_link": PUBLIC,
    "answer_patient_link": PUBLIC,
    # titration: those who treat ask for a recommendation; the decision is the prescriber's
    "recommend_titration": CHARTING,
    "decide_titration": PRESCRIBER,
    # staff accounts: admins manage their own clinic's staff (the service checks the clinic
    # and keeps one active admin)
    "list_staff": ADMIN,
    "change_user_role": ADMIN,
    "reset_user_password": ADMIN,
    "deactivate_user": ADMIN,
    "reactivate_user": ADMIN,
    # web pages
    "web_static": PUBLIC,
    "web_home": STAFF,
    "web_sign_in_page": PUBLIC,
    "web_sign_in": PUBLIC,
    "web_sign_out": STAFF,
    "web_patients": STAFF,
    "web_new_patient": STAFF,
    "web_create_patient": STAFF,
    "web_check_patient": STAFF,
    "web_patient": CLINICAL,
    "web_new_plan": CHARTING,
    "web_create_plan": CHARTING,
    "web_plan": CLINICAL,
    "web_sign_order": PRESCRIBER,
    "web_cancel_order": CHARTING,
    "web_preparation_card": CLINICAL,
    "web_schedule_course": CLINICAL,
    "web_course": CLINICAL,
    "web_recommend_titration": CHARTING,
    "web_decide_titration": PRESCRIBER,
    "web_open_session": CHARTING,
    "web_session_console": CLINICAL,
    "web_chart_event": CHARTING,
    "web_screen_patient": CLINICAL,
    "web_screening": CLINICAL,
    "web_create_patient_link": CHARTING,
    "web_new_questionnaire": CHARTING,
    "web_record_questionnaire": CHARTING,
    "web_patient_questionnaire": PUBLIC,
    "web_answer_questionnaire": PUBLIC,
    "web_dashboard": STAFF,
    "web_protocols": STAFF,
    "web_clinic_settings": ADMIN,
    "web_update_clinic_settings": ADMIN,
    "web_staff": ADMIN,
    "web_change_user_role": ADMIN,
    "web_reset_user_password": ADMIN,
    "web_deactivate_user": ADMIN,
    "web_reactivate_user": ADMIN,
}


def rule_for(route_name: str) -> Rule | None:
    """The rule for a route name, or None when the route has none (a bug the tests catch)."""
    return RULES.get(route_name)
