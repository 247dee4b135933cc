"""The front desk sees and changes no clinical facts (issue 14, item 3), on every route.

Clinical staff plant a patient through the API with clinical facts that cannot be mistaken for
anything else (a weight of 83.7 kg, a blood pressure of 143/91, lamotrigine, coronary artery
disease, a PTSD course, a PHQ-9 with item 9 above 0). Then every route of the app, walked
from the app's own route table, is called as the front desk, and

- no answer holds any of those facts, nor a JSON key that carries a clinical fact;
- a route the front desk may not use is a 403 and changes no record;
- a route it may use answers with the front desk's view (registration, bookings).

Every route needs a row in :data:`FRONT_DESK`: a new route without one fails the walk, so it
cannot reach the front desk unclassified. The changes the front desk may not make are a table
of their own (:data:`CLINICAL_CHANGES`), refused by name whatever the value. All of it runs
on SQLite and on PostgreSQL (the service tests' fixtures).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from ketaplan.errors import PermissionDenied
from ketaplan.http.permissions import PUBLIC, RULES
from ketaplan.services import Actor, UnitOfWork, load_actor
from ketaplan.services.patients import PATIENT_FIELDS
from ketaplan.services.visibility import REGISTRATION_FIELDS
from ketaplan.store.models import (
    Base,
    InfusionPlan,
    InfusionSession,
    Item9Review,
    OrderEvent,
    OutboxMessage,
    Patient,
    PatientLink,
    PatientVersion,
    QuestionnaireResponse,
    Screening,
    SessionEvent,
    TitrationDecision,
    TitrationRecommendation,
    TreatmentCourse,
)

from ..service.conftest import PASSWORD, ROLE_EMAILS, Api

V1 = "/api/v1"
ZONE = ZoneInfo("America/Los_Angeles")

WEIGHT = "83.7"
BLOOD_PRESSURE = "143/91"
MEDICATION = "lamotrigine"
HISTORY = "coronary_artery_disease"
CONDITION = "ptsd"
PATIENT = {
    "full_name": "Quinn Marlowe",
    "date_of_birth": "1979-03-14",
    "weight": f"{WEIGHT} kg",
    "height": "171 cm",
    "age_years": 47,
    "sex": "female",
    "history": [HISTORY],
    "medications": [f"{MEDICATION} 25 mg"],
    "blood_pressure": BLOOD_PRESSURE,
}
PHQ9_ITEM_9_POSITIVE = [2, 3, 2, 2, 3, 3, 2, 2, 2]

PATIENT_VALUES = (WEIGHT, BLOOD_PRESSURE)
"""The planted patient's own numbers: on no page the front desk opens, catalog pages included."""
CLINICAL_WORDS = (
    MEDICATION,
    HISTORY,
    HISTORY.replace("_", " "),
    CONDITION,
    "post-traumatic",
    "phq-9",
    "phq9",
    "item 9",
    "mg/kg",
)
"""How the planted facts read in JSON and on pages (compared ignoring case). Catalog pages (the
protocols, the API schema, the blank intake form) may name them as vocabulary, not as a fact
about a patient, so they are held to :data:`PATIENT_VALUES` and the patient's name only."""
CLINICAL_KEYS = (PATIENT_FIELDS - REGISTRATION_FIELDS) | {
    "profile",
    "details",
    "protocol",
    "protocol_key",
    "plan_id",
    "plan",
    "flags",
    "score",
    "total",
    "answers",
    "eligibility",
}
"""JSON keys that carry clinical facts: none may reach the front desk."""
BOOKING_KEYS = {"course_id", "patient_id", "first_day", "version", "schedule"}
REGISTRATION_KEYS = {"patient_id", "version", *REGISTRATION_FIELDS}


class Access(Enum):
    REFUSED = "the role matrix refuses the front desk: 403, no record changes"
    PATIENT_DATA = "answers with patients' registrations or bookings, nothing clinical"
    CATALOG = "no patient's data at all: catalog, schema, blank forms, sign-in, health"
    PATIENT_LINK = "public, opened by the patient's secret link (the front desk has none)"
    SIGN_OUT = "ends the front desk's own sign-in (called last)"


@dataclass(frozen=True)
class Call:
    access: Access
    body: dict[str, Any] | None = None
    """JSON for an API route, form fields for a page; ids in braces are filled in."""
    status: int | None = None
    """The expected status when the route is open to the front desk."""


FRONT_DESK: dict[str, Call] = {
    # system and accounts
    "health": Call(Access.CATALOG, status=200),
    "openapi": Call(Access.CATALOG, status=200),
    "sign_in_for_token": Call(
        Access.CATALOG,
        {"email": ROLE_EMAILS["front_desk"], "password": PASSWORD},
        status=200,
    ),
    "who_am_i": Call(Access.CATALOG, status=200),
    "sign_out": Call(Access.SIGN_OUT, status=204),
    # patients: registration and the front desk's view; clinical fields are refused by name
    "create_patient": Call(
        Access.PATIENT_DATA, {"full_name": "Rae Newcomer", "weight": "70 kg"}, status=201
    ),
    "search_patients": Call(Access.PATIENT_DATA, status=200),
    "read_patient": Call(Access.PATIENT_DATA, status=200),
    "update_patient": Call(Access.REFUSED, {**PATIENT, "history": [], "expected_version": 1}),
    "amend_patient": Call(
        Access.PATIENT_DATA,
        {"full_name": "Quinn Marlowe-Hart", "expected_version": "{version}"},
        status=200,
    ),
    "patient_versions": Call(Access.PATIENT_DATA, status=200),
    # courses: bookings without the protocol
    "create_course": Call(  # overlapping the planted course: confirmed
        Access.PATIENT_DATA,
        {"condition": CONDITION, "first_day": "{next_week}", "confirm": True},
        status=201,
    ),
    "list_courses": Call(Access.PATIENT_DATA, status=200),
    "read_course": Call(Access.PATIENT_DATA, status=200),
    "reschedule_course": Call(
        Access.PATIENT_DATA,
        {"session_number": 2, "status": "cancelled", "expected_version": 1},
        status=200,
    ),
    "course_calendar": Call(Access.PATIENT_DATA, status=200),
    "course_booster": Call(Access.REFUSED),
    # chairs and bookings (issue 18): the front desk's own work, without clinical facts
    "move_course_session": Call(
        Access.PATIENT_DATA,
        {
            "day": "{next_week}",
            "start_time": "11:00",
            "reason": "asked for later",
            "expected_version": 2,
        },
    ),
    "cancel_course_session": Call(
        Access.PATIENT_DATA, {"reason": "unwell", "expected_version": 99}, status=409
    ),
    "cancel_course": Call(
        Access.PATIENT_DATA, {"reason": "moving away", "expected_version": 99}, status=409
    ),
    "book_booster": Call(
        Access.PATIENT_DATA,
        {"days": ["{next_week}"], "start_time": "13:00", "expected_version": 99},
    ),
    "course_history": Call(Access.PATIENT_DATA, status=200),
    "chair_board": Call(Access.PATIENT_DATA, status=200),
    "progress_report_pdf": Call(Access.REFUSED),
    "preparation_card_pdf": Call(Access.REFUSED),
    # everything clinical
    "screen_patient": Call(Access.REFUSED, {"condition": CONDITION}),
    "list_screenings": Call(Access.REFUSED),
    "create_plan": Call(Access.REFUSED, {"condition": CONDITION}),
    "list_plans": Call(Access.REFUSED),
    "read_plan": Call(Access.REFUSED),
    "sign_order": Call(Access.REFUSED, {"password": PASSWORD}),
    "cancel_order": Call(Access.REFUSED, {"reason": "front desk"}),
    "open_session": Call(Access.REFUSED, {"condition": CONDITION}),
    "list_sessions": Call(Access.REFUSED),
    "append_session_event": Call(
        Access.REFUSED, {"expected_seq": 0, "event": {"type": "note", "text": "x"}}
    ),
    "read_session": Call(Access.REFUSED),
    "record_questionnaire": Call(
        Access.REFUSED, {"scale": "phq9", "answers": [0] * 9, "answered_at": "{an_hour_ago}"}
    ),
    "list_questionnaires": Call(Access.REFUSED),
    "create_patient_link": Call(Access.REFUSED, {"scales": ["phq9"]}),
    "email_patient_link": Call(
        Access.REFUSED, {"scales": ["phq9"], "email": "patient@example.org"}
    ),
    "list_patient_messages": Call(Access.REFUSED),
    "list_item9_flags": Call(Access.REFUSED),
    "review_item9_flag": Call(Access.REFUSED, {"note": "called the patient"}),
    "recommend_titration": Call(Access.REFUSED),
    "decide_titration": Call(Access.REFUSED, {"password": PASSWORD, "reason": "x"}),
    # the patient's own link
    "open_patient_link": Call(Access.PATIENT_LINK, status=404),
    "answer_patient_link": Call(
        Access.PATIENT_LINK, {"scale": "phq9", "answers": [0] * 9}, status=404
    ),
    "web_patient_questionnaire": Call(Access.PATIENT_LINK, status=404),
    "web_answer_questionnaire": Call(Access.PATIENT_LINK, {"scale": "phq9"}, status=404),
    # pages
    "web_static": Call(Access.CATALOG),
    "web_home": Call(Access.PATIENT_DATA, status=200),  # the dashboard, after the redirect
    "web_sign_in_page": Call(Access.CATALOG, status=200),
    "web_sign_in": Call(  # lands on the front desk's day
        Access.PATIENT_DATA,
        {"email": ROLE_EMAILS["front_desk"], "password": PASSWORD},
        status=200,
    ),
    "web_sign_out": Call(Access.SIGN_OUT, status=200),
    "web_patients": Call(Access.PATIENT_DATA, status=200),
    "web_new_patient": Call(Access.CATALOG, status=200),
    "web_create_patient": Call(
        Access.PATIENT_DATA, {"full_name": "Sol Walkin", "weight": "64 kg"}, status=200
    ),
    "web_check_patient": Call(Access.CATALOG, {"weight": "180 kg", "height": "5 ft 9 in"}, 200),
    "web_dashboard": Call(Access.PATIENT_DATA, status=200),
    "web_protocols": Call(Access.CATALOG, status=200),
    "web_patient": Call(Access.REFUSED),
    "web_edit_patient": Call(Access.PATIENT_DATA, status=200),
    "web_save_patient": Call(  # 200 after the redirect, or 422 if the walk's PATCH came first
        Access.PATIENT_DATA,
        {
            "full_name": "Quinn Marlowe",
            "address_line1": "12 Elm Street",
            "city": "Oakland",
            "expected_version": "{version}",
        },
    ),
    "web_new_plan": Call(Access.REFUSED),
    "web_create_plan": Call(Access.REFUSED, {"condition": CONDITION}),
    "web_plan": Call(Access.REFUSED),
    "web_sign_order": Call(Access.REFUSED, {"password": PASSWORD}),
    "web_cancel_order": Call(Access.REFUSED, {"reason": "x"}),
    "web_preparation_card": Call(Access.REFUSED),
    "web_schedule_course": Call(Access.REFUSED, {"condition": CONDITION, "first_day": "x"}),
    "web_course": Call(Access.REFUSED),
    "web_recommend_titration": Call(Access.REFUSED),
    "web_decide_titration": Call(Access.REFUSED, {"choice": "accept"}),
    "web_open_session": Call(Access.REFUSED, {"number": "1"}),
    "web_session_console": Call(Access.REFUSED),
    "web_session_what_if": Call(Access.REFUSED),
    "web_chart_event": Call(Access.REFUSED, {"type": "note"}),
    "web_screen_patient": Call(Access.REFUSED, {"screen_condition": CONDITION}),
    "web_screening": Call(Access.REFUSED),
    "web_create_patient_link": Call(Access.REFUSED, {"scales": "phq9"}),
    "web_email_patient_link": Call(
        Access.REFUSED, {"scales": "phq9", "email": "patient@example.org"}
    ),
    "web_review_item9_flag": Call(Access.REFUSED, {"note": "called the patient"}),
    "web_new_questionnaire": Call(Access.REFUSED),
    "web_record_questionnaire": Call(Access.REFUSED, {"scale": "phq9"}),
    "web_patient_bookings": Call(Access.PATIENT_DATA, status=200),
    "web_book_course": Call(
        Access.PATIENT_DATA,
        {
            "plan_id": "{plan_id}",
            "first_day": "{next_week}",
            "start_time": "09:00",
            "chair": "1",
            "confirm": "yes",
        },
    ),
    "web_move_session": Call(
        Access.PATIENT_DATA,
        {"day": "{next_week}", "start_time": "13:00", "reason": "bus strike", "version": "99"},
    ),
    "web_cancel_session": Call(Access.PATIENT_DATA, {"reason": "", "version": "99"}, status=422),
    "web_cancel_course": Call(Access.PATIENT_DATA, {"reason": "x", "version": "99"}, status=409),
    "web_book_booster": Call(
        Access.PATIENT_DATA, {"days": "{next_week}", "start_time": "09:00", "version": "99"}
    ),
    "web_chair_board": Call(Access.PATIENT_DATA, status=200),
    "web_chair_board_lines": Call(Access.PATIENT_DATA, status=200),
    "web_clinic_settings": Call(Access.REFUSED),
    "web_update_clinic_settings": Call(Access.REFUSED, {"name": "Front Desk Clinic"}),
    # exports: a patient's FHIR record is clinical; the whole clinic is an admin's
    "fhir_patient_everything": Call(Access.REFUSED),
    "fhir_bulk_export": Call(Access.REFUSED),
    "fhir_bulk_export_status": Call(Access.REFUSED),
    "fhir_bulk_export_delete": Call(Access.REFUSED),
    "fhir_bulk_export_file": Call(Access.REFUSED),
    "csv_exit_export": Call(Access.REFUSED),
    # staff accounts: admins only
    "list_staff": Call(Access.REFUSED),
    "change_user_role": Call(Access.REFUSED, {"role": "admin"}),
    "reset_user_password": Call(Access.REFUSED, {"password": "a front desk's new password"}),
    "deactivate_user": Call(Access.REFUSED),
    "reactivate_user": Call(Access.REFUSED),
    "web_staff": Call(Access.REFUSED),
    "web_change_user_role": Call(Access.REFUSED, {"role": "admin"}),
    "web_reset_user_password": Call(Access.REFUSED, {"password": "a front desk's new password"}),
    "web_deactivate_user": Call(Access.REFUSED),
    "web_reactivate_user": Call(Access.REFUSED),
    "add_user": Call(
        Access.REFUSED,
        {
            "full_name": "Front Desk Friend",
            "email": "friend@bay.example",
            "role": "admin",
            "password": "a front desk's new password",
        },
    ),
    "web_add_user": Call(
        Access.REFUSED,
        {
            "full_name": "Front Desk Friend",
            "email": "friend@bay.example",
            "role": "admin",
            "password": "a front desk's new password",
        },
    ),
    # the audit trail: admins only
    "read_audit_trail": Call(Access.REFUSED),
    "export_audit_trail": Call(Access.REFUSED),
    "web_audit_trail": Call(Access.REFUSED),
    "web_audit_trail_csv": Call(Access.REFUSED),
    # the controlled-substance ledger: no part of it is the front desk's
    **{
        name: Call(Access.REFUSED)
        for name in (
            "ledger_receive",
            "ledger_draw",
            "ledger_administer",
            "ledger_waste",
            "ledger_return",
            "ledger_destroy",
            "ledger_count",
            "ledger_inventory",
            "ledger_resolve",
            "ledger_correct",
            "ledger_edit_refused",
            "ledger_entry",
            "ledger_stock",
            "ledger_vial",
            "ledger_report",
            "ledger_losses",
            "ledger_loss_step",
            "web_ledger",
            "web_ledger_action",
            "web_ledger_report",
        )
    },
}

RECORDS: tuple[type[Base], ...] = (
    Patient,
    PatientVersion,
    Screening,
    InfusionPlan,
    OrderEvent,
    TreatmentCourse,
    InfusionSession,
    SessionEvent,
    QuestionnaireResponse,
    PatientLink,
    TitrationRecommendation,
    TitrationDecision,
    OutboxMessage,
    Item9Review,
)
"""The clinic's records (the audit trail and sign-ins record access, not facts)."""


@dataclass
class Clinic:
    """The planted patient's ids and what a request path or body needs filled in."""

    ids: dict[str, str]

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"\{(\w+)\}", lambda m: self.ids[m.group(1)], value)
        if isinstance(value, dict):
            return {key: self.fill(item) for key, item in value.items()}
        return value


def _ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _plant(api: Api) -> Clinic:
    """The patient with the clinical facts above, their PTSD order signed, a course, a session
    opened, and a PHQ-9 with item 9 above 0 an hour ago; all recorded by clinical staff."""
    nurse, prescriber = api.as_role("nurse"), api.as_role("prescriber")
    patient = _ok(api.client.post(f"{V1}/patients", json=PATIENT, headers=nurse), 201)
    pid = patient["patient_id"]
    plan = _ok(
        api.client.post(f"{V1}/patients/{pid}/plans", json={"condition": CONDITION}, headers=nurse),
        201,
    )
    _ok(
        api.client.post(
            f"{V1}/plans/{plan['plan_id']}/sign", json={"password": PASSWORD}, headers=prescriber
        )
    )
    now = datetime.now(ZONE)
    course = _ok(
        api.client.post(
            f"{V1}/patients/{pid}/courses",
            json={"condition": CONDITION, "first_day": now.date().isoformat()},
            headers=nurse,
        ),
        201,
    )
    session = _ok(
        api.client.post(
            f"{V1}/patients/{pid}/sessions",
            json={"condition": CONDITION, "course_id": course["course_id"]},
            headers=nurse,
        ),
        201,
    )
    an_hour_ago = (now - timedelta(hours=1)).isoformat(timespec="seconds")
    _ok(
        api.client.post(
            f"{V1}/patients/{pid}/questionnaires",
            json={"scale": "phq9", "answers": PHQ9_ITEM_9_POSITIVE, "answered_at": an_hour_ago},
            headers=nurse,
        ),
        201,
    )
    return Clinic(
        {
            "patient_id": str(pid),
            "version": str(patient["version"]),
            "plan_id": str(plan["plan_id"]),
            "course_id": str(course["course_id"]),
            "session_id": str(session["session_id"]),
            "recommendation_id": "1",
            "response_id": "1",  # the planted PHQ-9 with item 9 above 0
            "user_id": "1",  # the admin: the front desk may not touch any account
            "entry_id": "1",
            "draw_id": "1",
            "count_id": "1",
            "number": "K-0001",
            "session_number": "2",
            "name": "administrations",
            "action": "receive",
            "token": "not-a-link-token-of-this-clinic",
            "job_id": "no-such-export-job-0000",
            "file_name": "Patient.ndjson",
            "next_week": (now.date() + timedelta(days=7)).isoformat(),
            "an_hour_ago": an_hour_ago,
        }
    )


def _records(api: Api) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the clinic's records, as read outside any service."""
    with api.context.database.session_factory() as session:
        return {
            model.__tablename__: sorted(
                (tuple(row) for row in session.execute(select(model.__table__))), key=repr
            )
            for model in RECORDS
        }


def _routes(api: Api) -> list[tuple[str, str, str]]:
    """(name, method, path) of every route of the app, from its route table."""
    app = api.client.app
    assert isinstance(app, FastAPI)
    return [
        (str(route.name), method, str(route.path))
        for route in iter_route_contexts(app.routes)
        for method in sorted(route.methods or {"GET"})
    ]


def _is_page(path: str) -> bool:
    return not path.startswith("/api/")


def _request(api: Api, method: str, path: str, body: dict[str, Any] | None, headers: Any) -> Any:
    if body is None:
        return api.client.request(method, path, headers=headers)
    if _is_page(path):
        if (method, path) == ("POST", "/sign-in"):  # with the form's login-CSRF token, as a browser
            page = api.client.get("/sign-in").text
            body = {**body, "csrf_token": re.findall(r'name="csrf_token" value="([^"]+)"', page)[0]}
        return api.client.request(method, path, data=body, headers=headers)
    return api.client.request(method, path, json=body, headers=headers)


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _keys(item)}
    return set()


def _assert_no_clinical_fact(text: str, where: str, *, vocabulary_allowed: bool) -> None:
    seen = text.lower()
    shown = [v for v in PATIENT_VALUES if v in seen]
    if vocabulary_allowed:
        shown += [name for name in (PATIENT["full_name"],) if name.lower() in seen]
    else:
        shown += [word for word in CLINICAL_WORDS if word in seen]
    assert shown == [], f"{where} shows the front desk {shown}"


def test_every_route_is_classified_for_the_front_desk_and_agrees_with_the_role_matrix(
    api: Api,
) -> None:
    names = {name for name, _method, _path in _routes(api)}
    unclassified = sorted(names - set(FRONT_DESK))
    assert unclassified == [], f"routes with no row in FRONT_DESK: {unclassified}"
    stale = sorted(set(FRONT_DESK) - names)
    assert stale == [], f"rows in FRONT_DESK for routes that do not exist: {stale}"
    for name, call in FRONT_DESK.items():
        rule = RULES[name]
        open_to_front_desk = rule == PUBLIC or "front_desk" in rule
        assert (call.access is Access.REFUSED) != open_to_front_desk, name
        assert (call.access is Access.PATIENT_LINK) <= (rule == PUBLIC), name


def test_the_front_desk_sees_no_clinical_fact_on_any_route_and_changes_none(api: Api) -> None:
    clinic = _plant(api)
    front_desk = api.as_role("front_desk")
    last: list[tuple[str, str, str]] = []
    walked = 0
    for name, method, template in _routes(api):
        call = FRONT_DESK[name]
        if call.access is Access.SIGN_OUT:
            last.append((name, method, template))
            continue
        if name == "web_static":
            template = "/static/app.css"
        path = clinic.fill(template)
        where = f"{method} {path} ({name})"
        before = _records(api)
        answer = _request(api, method, path, clinic.fill(call.body), front_desk)
        walked += 1
        assert answer.status_code < 500, (where, answer.text)
        if call.access is Access.REFUSED:
            assert answer.status_code == 403, (where, answer.text)
            assert _records(api) == before, f"{where} was refused but changed a record"
        elif call.status is not None:
            assert answer.status_code == call.status, (where, answer.text)
        _assert_no_clinical_fact(
            answer.text, where, vocabulary_allowed=call.access is Access.CATALOG
        )
        is_json = answer.headers.get("content-type", "").startswith("application/json")
        if is_json and call.access is not Access.CATALOG:
            leaked = _keys(answer.json()) & CLINICAL_KEYS
            assert leaked == set(), f"{where} gives the front desk the keys {sorted(leaked)}"
    for name, method, template in last:
        answer = _request(api, method, template, None, front_desk)
        assert answer.status_code == FRONT_DESK[name].status, (name, answer.text)
    assert walked >= 60  # every route of the app, not a handful


def test_clinical_staff_still_see_the_planted_facts(api: Api) -> None:
    """The walk above proves something only if the facts are there for those who treat."""
    clinic = _plant(api)
    pid, course_id = clinic.ids["patient_id"], clinic.ids["course_id"]
    for role in ("nurse", "prescriber", "admin"):
        read = _ok(api.client.get(f"{V1}/patients/{pid}", headers=api.as_role(role)))
        assert read["details"]["history"] == [HISTORY]
        assert read["details"]["blood_pressure"] == BLOOD_PRESSURE
        assert read["profile"]["weight_kg"] == float(WEIGHT)
        assert MEDICATION in json.dumps(read["details"]["medications"])
        course = _ok(api.client.get(f"{V1}/courses/{course_id}", headers=api.as_role(role)))
        assert course["protocol_key"] == CONDITION
    scores = _ok(
        api.client.get(f"{V1}/patients/{pid}/questionnaires", headers=api.as_role("nurse"))
    )
    assert "phq9.item9_positive" in json.dumps(scores["items"][0]["score"])
    page = api.client.get("/dashboard", headers=api.as_role("nurse"))
    assert 'id="item9-flags"' in page.text
    assert PATIENT["full_name"] in page.text
    patient_page = api.client.get(f"/patients/{pid}", headers=api.as_role("prescriber")).text
    assert WEIGHT in patient_page
    assert MEDICATION in patient_page.lower()


CLINICAL_CHANGES: list[dict[str, Any]] = [
    {"history": []},
    {"history": [HISTORY]},  # the stored value itself: refused too, or it would tell
    {"medications": []},
    {"medications": ["sertraline 50 mg"]},
    {"weight": "61 kg"},
    {"height": "190 cm"},
    {"blood_pressure": "118/76"},
    {"blood_pressure": None},
    {"age_years": 30},
    {"sex": "male"},
    {"pregnant": True},
    {"breastfeeding": True},
    {"alcohol": "none"},
    {"sensitivity": "low"},
    {"experience": "prior_ketamine"},
    {"severity": "mild"},
    {"preference": "lowest_effective"},
    {"confirm_weight": True},
    {"allergies": []},
    {"allergies": ["latex: hives"]},
    {"city": "Oakland", "allergies": []},  # with an address change: all refused
    {"full_name": "Quinn Renamed", "history": []},  # with a registration change: all refused
]


def test_the_front_desk_changes_no_clinical_field(api: Api, subtests: pytest.Subtests) -> None:
    """Every change of the table, one after the other on one planted clinic: each is refused
    and changes no record (checked), so each meets the clinic as the first did."""
    clinic = _plant(api)
    pid = clinic.ids["patient_id"]
    for changes in CLINICAL_CHANGES:
        with subtests.test(changes="+".join(f"{k}={v}" for k, v in changes.items())):
            before = _records(api)
            amended = api.client.patch(
                f"{V1}/patients/{pid}",
                json={**changes, "expected_version": 1},
                headers=api.as_role("front_desk"),
            )
            assert amended.status_code == 403, amended.text
            refusal = amended.json()
            assert refusal["code"] == "permission.clinical_fields"
            assert refusal["refused"] == sorted(set(changes) - REGISTRATION_FIELDS)
            assert "nothing was saved" in refusal["message"]
            replaced = api.client.put(
                f"{V1}/patients/{pid}",
                json={**PATIENT, **changes, "expected_version": 1},
                headers=api.as_role("front_desk"),
            )
            assert replaced.status_code == 403, replaced.text
            assert _records(api) == before


def test_the_front_desk_cannot_lift_a_contraindication_so_the_plan_stays_blocked(
    api: Api,
) -> None:
    """The defect as found: the front desk removed a psychosis history, and the prescriber's
    next plan came back eligible."""
    patient = _ok(
        api.client.post(
            f"{V1}/patients",
            json={**PATIENT, "history": ["psychosis"]},
            headers=api.as_role("nurse"),
        ),
        201,
    )
    url = f"{V1}/patients/{patient['patient_id']}"
    for method, body in (
        ("PATCH", {"history": [], "expected_version": 1}),
        ("PUT", {**PATIENT, "history": [], "expected_version": 1}),
    ):
        answer = api.client.request(method, url, json=body, headers=api.as_role("front_desk"))
        assert answer.status_code == 403, (method, answer.text)
    plan = _ok(
        api.client.post(
            f"{url}/plans", json={"condition": CONDITION}, headers=api.as_role("prescriber")
        ),
        201,
    )
    assert plan["plan"]["eligibility"]["status"] == "contraindicated"
    assert _ok(api.client.get(url, headers=api.as_role("nurse")))["details"]["history"] == [
        "psychosis"
    ]


def test_the_front_desk_corrects_a_registration_and_no_clinical_fact_moves(api: Api) -> None:
    clinic = _plant(api)
    url = f"{V1}/patients/{clinic.ids['patient_id']}"
    before = _ok(api.client.get(url, headers=api.as_role("nurse")))
    amended = _ok(
        api.client.patch(
            url,
            json={
                "full_name": "Quinn Marlow",
                "date_of_birth": "1979-03-15",
                "expected_version": 1,
            },
            headers=api.as_role("front_desk"),
        )
    )
    assert amended == {
        "patient_id": before["patient_id"],
        "version": 2,
        "full_name": "Quinn Marlow",
        "date_of_birth": "1979-03-15",
        **dict.fromkeys(REGISTRATION_FIELDS - {"full_name", "date_of_birth"}),
    }
    after = _ok(api.client.get(url, headers=api.as_role("nurse")))
    assert after["profile"] == before["profile"]
    clinical = PATIENT_FIELDS - REGISTRATION_FIELDS
    assert {k: after["details"][k] for k in clinical} == {k: before["details"][k] for k in clinical}
    assert after["details"]["full_name"] == "Quinn Marlow"
    read = _ok(api.client.get(url, headers=api.as_role("front_desk")))
    assert set(read) == REGISTRATION_KEYS
    stale = api.client.patch(
        url,
        json={"full_name": "Quinn M.", "expected_version": 1},
        headers=api.as_role("front_desk"),
    )
    assert stale.status_code == 409
    empty = api.client.patch(
        url, json={"full_name": None, "expected_version": 2}, headers=api.as_role("front_desk")
    )
    assert empty.status_code == 422, empty.text
    nothing = api.client.patch(url, json={"expected_version": 2}, headers=api.as_role("front_desk"))
    assert nothing.status_code == 422, nothing.text
    assert nothing.json()["code"] == "input.nothing_to_change"


def test_the_front_desk_books_and_moves_a_course_without_learning_its_protocol(
    api: Api,
) -> None:
    clinic = _plant(api)
    course_id = clinic.ids["course_id"]
    booking = _ok(api.client.get(f"{V1}/courses/{course_id}", headers=api.as_role("front_desk")))
    assert set(booking) == BOOKING_KEYS
    assert set(booking["schedule"]) == {"sessions", "missed"}
    full = _ok(api.client.get(f"{V1}/courses/{course_id}", headers=api.as_role("nurse")))
    assert booking["schedule"]["sessions"] == full["schedule"]["sessions"]
    listed = _ok(
        api.client.get(
            f"{V1}/patients/{clinic.ids['patient_id']}/courses", headers=api.as_role("front_desk")
        )
    )
    assert listed["items"] == [booking]
    calendar = api.client.get(
        f"{V1}/courses/{course_id}/calendar.ics", headers=api.as_role("nurse")
    )
    assert calendar.status_code == 200
    assert CONDITION not in calendar.text.lower()  # a calendar names no diagnosis, for anyone


ServiceCall = Callable[[UnitOfWork, Actor, Clinic, Api], object]


def _services() -> dict[str, ServiceCall]:
    from ketaplan.services import (
        get_course,
        get_patient,
        get_plan,
        get_session_chart,
        list_plans,
        list_questionnaires,
        list_screenings,
        list_sessions,
        recommend_booster,
        update_patient,
    )
    from ketaplan.services.patient_overview import course_overview, patient_overview
    from ketaplan.services.patients import PatientDetails, amend_patient
    from ketaplan.services.titration import latest_titration

    def pid(c: Clinic) -> int:
        return int(c.ids["patient_id"])

    def cid(c: Clinic) -> int:
        return int(c.ids["course_id"])

    return {
        "get_patient": lambda u, a, c, _: get_patient(u, pid(c), actor=a),
        "update_patient": lambda u, a, c, api: update_patient(
            u,
            pid(c),
            PatientDetails(full_name="Quinn Marlowe", weight="83.7 kg"),
            expected_version=1,
            actor=a,
            catalog=api.context.catalog,
        ),
        "amend_patient": lambda u, a, c, api: amend_patient(
            u, pid(c), {"history": ()}, expected_version=1, actor=a, catalog=api.context.catalog
        ),
        "patient_overview": lambda u, a, c, api: patient_overview(
            u, pid(c), actor=a, policy=api.context.policy
        ),
        "course_overview": lambda u, a, c, api: course_overview(
            u, cid(c), actor=a, policy=api.context.policy
        ),
        "get_course": lambda u, a, c, _: get_course(u, cid(c), actor=a),
        "recommend_booster": lambda u, a, c, api: recommend_booster(
            u, cid(c), actor=a, policy=api.context.policy
        ),
        "latest_titration": lambda u, a, c, _: latest_titration(u, cid(c), actor=a),
        "list_screenings": lambda u, a, c, _: list_screenings(u, pid(c), actor=a),
        "list_plans": lambda u, a, c, _: list_plans(u, pid(c), actor=a),
        "get_plan": lambda u, a, c, _: get_plan(u, int(c.ids["plan_id"]), actor=a),
        "list_sessions": lambda u, a, c, _: list_sessions(u, pid(c), actor=a),
        "get_session_chart": lambda u, a, c, api: get_session_chart(
            u, int(c.ids["session_id"]), actor=a, policy=api.context.policy
        ),
        "list_questionnaires": lambda u, a, c, _: list_questionnaires(u, pid(c), actor=a),
    }


def test_the_services_refuse_the_front_desk_whatever_the_entry_point(
    api: Api, subtests: pytest.Subtests
) -> None:
    """Not only the routes: a service called directly (a new page, the CLI) refuses too. Every
    service, one after the other on one planted clinic: the front desk's call changes no
    record (checked), and the nurse's that follows only reads."""
    clinic = _plant(api)
    uow = api.context.unit_of_work()
    front_desk = load_actor(uow, ROLE_EMAILS["front_desk"], origin="test")
    nurse = load_actor(uow, ROLE_EMAILS["nurse"], origin="test")
    services = _services()
    for service in sorted(services):
        with subtests.test(service=service):
            before = _records(api)
            with pytest.raises(PermissionDenied) as refused:
                services[service](api.context.unit_of_work(), front_desk, clinic, api)
            assert refused.value.code in {"permission.clinical_facts", "permission.clinical_fields"}
            assert _records(api) == before
            if service not in {"update_patient", "amend_patient"}:
                services[service](api.context.unit_of_work(), nurse, clinic, api)  # as today


def test_the_front_desks_day_has_the_chairs_without_protocols_or_item_9_flags(api: Api) -> None:
    from ketaplan.services.dashboard import clinic_dashboard

    _plant(api)
    uow = api.context.unit_of_work()
    days = {
        role: clinic_dashboard(
            api.context.unit_of_work(),
            actor=load_actor(uow, ROLE_EMAILS[role], origin="test"),
            zone=ZONE,
        )
        for role in ("nurse", "front_desk")
    }
    nurse, front_desk = days["nurse"], days["front_desk"]
    assert [f.patient_name for f in nurse.flags] == [PATIENT["full_name"]]
    assert front_desk.flags == ()
    assert {c.protocol_key for c in nurse.chairs + tuple(nurse.series_ended)} <= {CONDITION}
    assert {c.protocol_key for c in front_desk.chairs} | {
        e.protocol_key for e in front_desk.series_ended
    } <= {None}
    assert [(c.patient_id, c.start) for c in front_desk.chairs] == [
        (c.patient_id, c.start) for c in nurse.chairs
    ]
