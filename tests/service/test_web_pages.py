"""The web pages over TestClient: sign-in and roles, and every form refusing bad input with a
message beside the field while saving nothing. The whole journey in a real browser is in
``tests/browser``."""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from ketaplan.http.permissions import PUBLIC, RULES
from ketaplan.store.models import (
    Base,
    InfusionPlan,
    Patient,
    SessionEvent,
    TreatmentCourse,
)

from .conftest import PASSWORD, ROLE_EMAILS, Api, post_sign_in


def _web_routes(api: Api) -> list[tuple[str, str, str]]:
    app = api.client.app
    assert isinstance(app, FastAPI)
    return [
        (str(r.name), method, re.sub(r"\{[^}]+\}", "1", str(r.path)))
        for r in iter_route_contexts(app.routes)
        if isinstance(r.original_route, APIRoute) and not str(r.path).startswith("/api/")
        for method in sorted(r.methods or ())
    ]


def _sign_in(client: TestClient, role: str) -> str:
    """Sign in through the page; returns the CSRF token the pages carry."""
    answer = post_sign_in(client, ROLE_EMAILS[role], PASSWORD, next="/patients")
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    page = client.get("/patients")
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found
    return found.group(1)


def _sign(api: Api, plan: str) -> None:
    """The prescriber signs the plan at ``plan`` (a page path ending in its id), through the
    service: the pages under test stay signed in as whoever they were."""
    from ketaplan.services import UnitOfWork, load_actor, sign_order

    uow = UnitOfWork(api.context.database.session_factory)
    prescriber = load_actor(uow, ROLE_EMAILS["prescriber"], origin="test")
    sign_order(uow, int(plan.rsplit("/", 1)[1]), password=PASSWORD, actor=prescriber)


def _errors(html: str) -> dict[str, str]:
    """The messages shown beside fields: ``{field name: message}``."""
    return {
        name: message
        for name, message in re.findall(r'data-error-for="(\w+)">([^<]+)<', html)
        if message.strip()
    }


def test_every_page_sends_a_visitor_who_is_not_signed_in_to_the_sign_in_page(api: Api) -> None:
    for name, method, path in _web_routes(api):
        if RULES[name] == PUBLIC:
            continue
        answer = api.client.request(method, path, follow_redirects=False)
        assert answer.status_code == 303, (method, path, answer.text)
        assert answer.headers["location"].startswith("/sign-in?next="), path


def test_the_role_matrix_holds_for_pages_and_a_refusal_is_a_readable_page(api: Api) -> None:
    _sign_in(api.client, "front_desk")
    answer = api.client.get("/patients/1")
    assert answer.status_code == 403
    assert "text/html" in answer.headers["content-type"]
    assert "front_desk" in answer.text
    assert "Not allowed" in answer.text


def test_a_form_post_without_the_csrf_token_is_refused(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    _sign_in(api.client, "nurse")
    answer = api.client.post("/patients/new", data={"full_name": "X", "weight": "80 kg"})
    assert answer.status_code == 403
    assert "CSRF" in answer.text
    assert rows(Patient) == 0


def test_api_errors_stay_json(api: Api) -> None:
    _sign_in(api.client, "nurse")
    answer = api.client.get("/api/v1/patients/999")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


def test_a_wrong_password_is_shown_beside_the_field(api: Api) -> None:
    answer = post_sign_in(api.client, ROLE_EMAILS["nurse"], "not it at all")
    assert answer.status_code == 401
    assert "wrong" in _errors(answer.text)["password"]
    assert "ketaplan_session" not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize("server_ahead", [timedelta(days=-3), timedelta(days=3)])
def test_a_sign_in_lasts_its_lifetime_on_the_server_s_clock_not_the_browser_s(
    api: Api, server_ahead: timedelta
) -> None:
    """The sign-in cookie carries Max-Age, counted by the browser from when it got it, and the
    server checks the token's expiry on the clock that stamped it: a tablet (or a test) whose
    clock differs from the server's is neither signed out at once nor kept signed in longer."""
    server_now = datetime.now(UTC) + server_ahead
    api.client.app.state.services = dataclasses.replace(api.context, clock=lambda: server_now)  # type: ignore[attr-defined]
    answer = post_sign_in(api.client, ROLE_EMAILS["nurse"], PASSWORD, next="/patients")
    assert answer.status_code in (302, 303), answer.text
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "ketaplan_session=" in c)
    assert "Max-Age=43200" in cookie
    assert "expires" not in cookie.lower()
    assert api.client.get("/patients", follow_redirects=False).status_code == 200
    later = server_now + timedelta(hours=12, seconds=1)
    api.client.app.state.services = dataclasses.replace(api.context, clock=lambda: later)  # type: ignore[attr-defined]
    assert api.client.get("/patients", follow_redirects=False).status_code in (302, 303)


@pytest.mark.parametrize(
    ("typed", "field", "says"),
    [
        ({"full_name": "Ann Example", "weight": "176"}, "weight", "unit"),
        ({"full_name": "Ann Example", "weight": ""}, "weight", "required"),
        ({"full_name": "", "weight": "80 kg"}, "full_name", "name"),
        (
            {"full_name": "Ann", "weight": "80 kg", "date_of_birth": "31/12/1980"},
            "date_of_birth",
            "not a date",
        ),
        (
            {"full_name": "Ann", "weight": "80 kg", "age_years": "forty"},
            "age_years",
            "whole number",
        ),
        ({"full_name": "Ann", "weight": "80 kg", "age_years": "200"}, "age_years", "outside"),
        ({"full_name": "Ann", "weight": "80 kg", "height": "tall"}, "height", "tall"),
        ({"full_name": "Ann", "weight": "80 kg", "blood_pressure": "high"}, "blood_pressure", ""),
        ({"full_name": "Ann", "weight": "80 kg", "heart_rate": "fast"}, "heart_rate", "whole"),
        (
            {"full_name": "Ann", "weight": "80 kg", "sex": "male", "pregnant": "on"},
            "sex",
            "pregnan",
        ),
    ],
)
def test_the_intake_form_refuses_bad_input_beside_the_field_and_saves_nothing(
    api: Api, rows: Callable[[type[Base]], int], typed: dict[str, str], field: str, says: str
) -> None:
    csrf = _sign_in(api.client, "nurse")
    answer = api.client.post("/patients/new", data={"csrf_token": csrf, **typed})
    assert answer.status_code == 422, answer.text
    errors = _errors(answer.text)
    assert field in errors, errors
    assert says in errors[field]
    assert "Not saved" in answer.text
    assert f'value="{typed["full_name"]}"' in answer.text  # what was typed is kept
    assert rows(Patient) == 0


@pytest.mark.parametrize(
    "typed",
    [
        {"weight": "180 kg", "height": "5 ft 9 in"},
        {"weight": "176"},
        {"weight": "80 kg", "height": "tall"},
        {"weight": "80 kg", "age_years": "200"},
        {"weight": "80 kg", "blood_pressure": "80/95"},
        {"weight": "80 kg", "heart_rate": "300"},
        {"weight": "80 kg", "sex": "male", "pregnant": "on"},
        {"weight": "80 kg", "history": "hypertensoin"},
    ],
)
def test_the_live_intake_check_gives_the_message_a_submit_would_and_stores_nothing(
    api: Api, rows: Callable[[type[Base]], int], typed: dict[str, str]
) -> None:
    from ketaplan.store.models import AuditEvent

    csrf = _sign_in(api.client, "front_desk")
    audit_rows = rows(AuditEvent)
    live = api.client.post("/patients/check", data=typed, headers={"X-CSRF-Token": csrf})
    assert live.status_code == 200, live.text
    assert live.headers["cache-control"] == "no-store"
    submitted = api.client.post(
        "/patients/new", data={"csrf_token": csrf, "full_name": "Ann Example", **typed}
    )
    assert submitted.status_code == 422
    shown = {field: html.unescape(message) for field, message in _errors(submitted.text).items()}
    assert shown == {live.json()["field"]: live.json()["message"]}
    assert rows(Patient) == 0
    assert rows(AuditEvent) == audit_rows  # nothing read from the database, nothing audited


def test_the_live_intake_check_suggests_pounds_and_passes_a_plausible_profile(api: Api) -> None:
    csrf = _sign_in(api.client, "nurse")
    mistaken = api.client.post(
        "/patients/check",
        data={"weight": "180 kg", "height": "5 ft 9 in"},
        headers={"X-CSRF-Token": csrf},
    ).json()
    assert mistaken["field"] == "weight"
    assert "lb" in mistaken["message"]
    fine = api.client.post(
        "/patients/check",
        data={"weight": "180 lb", "height": "5 ft 9 in", "full_name": "ignored"},
        headers={"X-CSRF-Token": csrf},
    ).json()
    assert fine == {"field": None, "message": ""}
    assert api.client.post("/patients/check", data={"weight": "80 kg"}).status_code == 403


def _patient(api: Api, csrf: str) -> str:
    answer = api.client.post(
        "/patients/new",
        data={
            "csrf_token": csrf,
            "full_name": "Ann Example",
            "weight": "176 lb",
            "height": "5 ft 9 in",
            "age_years": "42",
            "sex": "female",
            "medications": "alprazolam 0.5 mg",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


@pytest.mark.parametrize(
    ("role", "typed", "field", "says"),
    [
        ("nurse", {"condition": ""}, "condition", "choose"),
        ("nurse", {"condition": "no such thing"}, "condition", "unknown condition"),
        (
            "nurse",
            {"condition": "depression", "requested_mg_per_kg": "lots"},
            "requested_mg_per_kg",
            "not a dose",
        ),
        (
            "nurse",
            {"condition": "depression", "requested_mg_per_kg": "0.9"},
            "override_reason",
            "only a prescriber",
        ),
        (
            "nurse",
            {"condition": "depression", "requested_mg_per_kg": "0.9", "override_reason": "because"},
            "override_reason",
            "prescriber",
        ),
        (
            "prescriber",
            {"condition": "depression", "requested_mg_per_kg": "0.9"},
            "override_reason",
            "reason",
        ),
        (
            "prescriber",
            {"condition": "depression", "requested_mg_per_kg": "1.5", "override_reason": "x"},
            "requested_mg_per_kg",
            "hard",
        ),
    ],
)
def test_the_plan_form_refuses_bad_input_and_overrides_without_a_prescriber_or_reason(
    api: Api,
    rows: Callable[[type[Base]], int],
    role: str,
    typed: dict[str, str],
    field: str,
    says: str,
) -> None:
    csrf = _sign_in(api.client, role)
    patient = _patient(api, csrf)
    answer = api.client.post(f"{patient}/plans/new", data={"csrf_token": csrf, **typed})
    assert answer.status_code in (403, 422), answer.text
    errors = _errors(answer.text)
    assert field in errors, errors
    assert says in errors[field]
    assert "--override-reason" not in answer.text  # the CLI's flags mean nothing here
    assert rows(InfusionPlan) == 0


def test_the_override_page_names_the_soft_limit_without_the_cli_flags(api: Api) -> None:
    csrf = _sign_in(api.client, "prescriber")
    patient = _patient(api, csrf)
    answer = api.client.post(
        f"{patient}/plans/new",
        data={"csrf_token": csrf, "condition": "depression", "requested_mg_per_kg": "0.9"},
    )
    assert answer.status_code == 422
    dose = _errors(answer.text)["requested_mg_per_kg"]
    assert dose.startswith("this dose is past a soft limit: ")
    assert "mg/kg" in dose
    assert "--" not in dose
    assert "give the clinical reason" in _errors(answer.text)["override_reason"]


def test_a_prescriber_overrides_a_soft_limit_with_a_reason(api: Api) -> None:
    csrf = _sign_in(api.client, "prescriber")
    patient = _patient(api, csrf)
    answer = api.client.post(
        f"{patient}/plans/new",
        data={
            "csrf_token": csrf,
            "condition": "depression",
            "requested_mg_per_kg": "0.9",
            "override_reason": "partial response at 0.75 mg/kg",
        },
    )
    assert answer.status_code == 200
    assert "Soft limit overridden by prescriber@bay.example" in answer.text
    assert "interaction.benzodiazepine" in answer.text


def test_course_and_session_forms_refuse_bad_input_and_save_nothing(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in(api.client, "nurse")
    patient = _patient(api, csrf)
    plan = api.client.post(
        f"{patient}/plans/new",
        data={"csrf_token": csrf, "condition": "depression"},
        follow_redirects=False,
    ).headers["location"]
    patient_id, plan_id = patient.rsplit("/", 1)[1], plan.rsplit("/", 1)[1]
    _sign(api, plan)
    for first_day, says in (("", "choose"), ("next tuesday", "not a date")):
        answer = api.client.post(
            f"/patients/{patient_id}/courses",
            data={
                "csrf_token": csrf,
                "plan_id": plan_id,
                "condition": "depression",
                "first_day": first_day,
            },
        )
        assert answer.status_code == 422
        assert says in _errors(answer.text)["first_day"]
    assert rows(TreatmentCourse) == 0

    course = api.client.post(
        f"/patients/{patient_id}/courses",
        data={
            "csrf_token": csrf,
            "plan_id": plan_id,
            "condition": "depression",
            "first_day": "2026-12-07",
        },
        follow_redirects=False,
    ).headers["location"]
    page = api.client.get(course)
    assert "$3,600" in page.text  # 6 sessions at the catalog's $600
    session = api.client.post(
        f"{course}/sessions", data={"csrf_token": csrf, "number": "1"}, follow_redirects=False
    ).headers["location"]
    for event, field in (
        (
            {"type": "start", "rate_ml_per_h": "fast", "concentration_mg_per_ml": "0.4"},
            "rate_ml_per_h",
        ),
        (
            {"type": "start", "rate_ml_per_h": "-5", "concentration_mg_per_ml": "0.4"},
            "rate_ml_per_h",
        ),
        ({"type": "check_in", "systolic": "80", "diastolic": "95"}, ""),
    ):
        answer = api.client.post(
            f"{session}/events", data={"csrf_token": csrf, "expected_seq": "0", **event}
        )
        assert answer.status_code == 422, answer.text
        assert "Not charted" in answer.text
        if field:
            assert field in _errors(answer.text)
    assert rows(SessionEvent) == 0
    with api.context.database.session_factory() as db:
        prep = db.get_one(InfusionPlan, int(plan_id)).plan["preparation"]
    vitals = {"systolic": "128", "diastolic": "82", "heart_rate": "76", "spo2": "98"}
    checked_in = api.client.post(
        f"{session}/events",
        data={"csrf_token": csrf, "expected_seq": "0", "type": "check_in", **vitals},
    )
    assert checked_in.status_code == 200
    started = api.client.post(
        f"{session}/events",
        data={
            "csrf_token": csrf,
            "expected_seq": "1",
            "type": "start",
            "rate_ml_per_h": str(prep["pump_rate_ml_per_h"]),
            "concentration_mg_per_ml": str(prep["final_mg_per_ml"]),
        },
    )
    assert started.status_code == 200
    stale = api.client.post(
        f"{session}/events", data={"csrf_token": csrf, "expected_seq": "1", "type": "pause"}
    )
    assert stale.status_code == 409
    assert "someone charted first" in stale.text
    assert rows(SessionEvent) == 2


def test_the_patient_questionnaire_marks_unanswered_questions_and_saves_nothing(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    from ketaplan.store.models import QuestionnaireResponse

    csrf = _sign_in(api.client, "nurse")
    patient = _patient(api, csrf)
    made = api.client.post(f"{patient}/links", data={"csrf_token": csrf, "scales": "phq9"})
    link = re.search(r'id="patient-link" value="([^"]+)"', made.text)
    assert link
    path = "/q/" + link.group(1).rsplit("/q/", 1)[1]
    api.client.cookies.clear()  # the patient has no account
    page = api.client.get(path)
    assert "Little interest or pleasure in doing things" in page.text
    answers = {f"item{i}": "1" for i in range(1, 9)}  # item 9 left out
    refused = api.client.post(path, data={"scale": "phq9", **answers})
    assert refused.status_code == 422
    assert "Please answer this question" in _errors(refused.text)["item9"]
    assert rows(QuestionnaireResponse) == 0
    done = api.client.post(path, data={"scale": "phq9", **answers, "item9": "0"})
    assert done.status_code == 200
    assert "Thank you" in done.text
    assert rows(QuestionnaireResponse) == 1
    assert api.client.get("/q/not-a-real-token").status_code == 404


PHQ9_ON_PAPER = {f"item{i}": str(a) for i, a in enumerate([2, 3, 2, 2, 3, 3, 2, 2, 1], 1)}


@pytest.mark.parametrize(
    ("typed", "field", "says"),
    [
        ({"item4": ""}, "item4", "no answer"),
        ({"item9": "4"}, "item9", "choose 0-3"),
        ({"item2": "-1"}, "item2", "not an answer"),
        ({"answered_at": ""}, "answered_at", "when the patient answered"),
        ({"answered_at": "yesterday"}, "answered_at", "not a date and time"),
        ({"answered_at": "2099-01-01T09:00"}, "answered_at", "in the future"),
        ({"answered_at": "1999-12-31T09:00"}, "answered_at", "before 2000"),
        ({"scale": "bdi"}, "scale", "is not a questionnaire ketaplan knows"),
        ({"course_id": "abc"}, "course_id", "courses"),
    ],
)
def test_the_staff_questionnaire_refuses_bad_input_beside_the_field_and_saves_nothing(
    api: Api,
    rows: Callable[[type[Base]], int],
    typed: dict[str, str],
    field: str,
    says: str,
) -> None:
    from ketaplan.store.models import QuestionnaireResponse

    csrf = _sign_in(api.client, "nurse")
    patient = _patient(api, csrf)
    answer = api.client.post(
        f"{patient}/questionnaires",
        data={
            "csrf_token": csrf,
            "scale": "phq9",
            "answered_at": "2026-11-02T10:15",
            **PHQ9_ON_PAPER,
            **typed,
        },
    )
    assert answer.status_code == 422, answer.text
    errors = _errors(answer.text)
    assert field in errors, errors
    assert says in html.unescape(errors[field])
    assert "Not saved" in answer.text
    assert rows(QuestionnaireResponse) == 0


def test_a_nurse_enters_a_phq9_from_paper_and_it_is_on_the_chart_with_its_flag(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    from ketaplan.store.models import QuestionnaireResponse

    csrf = _sign_in(api.client, "nurse")
    course = _course(api, csrf)
    patient_id = _course_patient(api, course)
    page = api.client.get(f"/patients/{patient_id}/questionnaires/new?scale=pcl5")
    assert page.status_code == 200
    assert page.text.count('type="radio" name="item20"') == 5  # PCL-5: 20 items 0-4
    saved = api.client.post(
        f"/patients/{patient_id}/questionnaires",
        data={
            "csrf_token": csrf,
            "scale": "phq9",
            "answered_at": "2026-11-02T10:15",
            "course_id": course.rsplit("/", 1)[1],
            **PHQ9_ON_PAPER,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    assert rows(QuestionnaireResponse) == 1
    listed = api.client.get(
        f"/api/v1/patients/{patient_id}/questionnaires", headers=api.as_role("nurse")
    ).json()
    (response,) = listed["items"]
    assert response["score"]["total"] == 20
    assert response["source"] == "staff"
    assert response["course_id"] == int(course.rsplit("/", 1)[1])
    assert response["answered_at"].startswith("2026-11-02T18:15")  # 10:15 Pacific, in UTC
    overview = api.client.get(f"/patients/{patient_id}").text
    assert "PHQ-9 item 9 answered above 0" in overview


def test_a_gad7_that_screens_positive_raises_no_phq9_item_9_banner(api: Api) -> None:
    csrf = _sign_in(api.client, "nurse")
    patient = _patient(api, csrf)
    gad7 = {f"item{i}": "2" for i in range(1, 8)}  # 14: screens positive, a flag of its own
    saved = api.client.post(
        f"{patient}/questionnaires",
        data={"csrf_token": csrf, "scale": "gad7", "answered_at": "2026-11-02T10:15", **gad7},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    page = api.client.get(patient).text
    assert 'data-total="14"' in page
    assert "item 9" not in page


@pytest.mark.parametrize("role", ["front_desk", "admin"])
def test_only_those_who_treat_enter_questionnaires(api: Api, role: str) -> None:
    csrf = _sign_in(api.client, role)
    assert api.client.get("/patients/1/questionnaires/new").status_code == 403
    refused = api.client.post(
        "/patients/1/questionnaires", data={"csrf_token": csrf, "scale": "phq9"}
    )
    assert refused.status_code == 403


def _settings_form(client: TestClient) -> dict[str, str]:
    """The settings form as the page fills it in (hidden fields included)."""
    page = client.get("/settings")
    assert page.status_code == 200, page.text
    values = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', page.text))
    for unchecked in re.findall(r'<input type="checkbox" name="(\w+)"[^>]*value="on" >', page.text):
        del values[unchecked]  # a browser posts only the ticked boxes
    values.update(re.findall(r'<textarea[^>]*name="(\w+)"[^>]*>([^<]*)</textarea>', page.text))
    return {name: html.unescape(value) for name, value in values.items()}  # as a browser posts


def test_an_admin_sees_the_clinic_settings_with_calendar_and_monitoring_thresholds(
    api: Api,
) -> None:
    _sign_in(api.client, "admin")
    page = api.client.get("/patients")
    assert 'href="/settings"' in page.text
    form = _settings_form(api.client)
    assert form["name"] == "Bay Ketamine Clinic"
    assert form["price_per_session_usd"] == "600"
    assert "mg/mL x" in form["vials"]
    assert form["version"].isdigit()
    settings = api.client.get("/settings").text
    assert 'id="calendar"' in settings
    assert "Session start times" in settings
    assert 'id="monitoring"' in settings
    assert "pause and recheck" in settings or "call prescriber" in settings


@pytest.mark.parametrize("role", ["prescriber", "nurse", "front_desk"])
def test_only_an_admin_may_open_or_change_the_clinic_settings(api: Api, role: str) -> None:
    csrf = _sign_in(api.client, role)
    assert 'href="/settings"' not in api.client.get("/patients").text
    assert api.client.get("/settings").status_code == 403
    refused = api.client.post("/settings", data={"csrf_token": csrf, "name": "Mine"})
    assert refused.status_code == 403


def test_an_admin_saves_the_clinic_settings_and_sees_them_in_force(
    api: Api,
) -> None:
    csrf = _sign_in(api.client, "admin")
    form = _settings_form(api.client)
    saved = api.client.post(
        "/settings",
        data={
            **form,
            "csrf_token": csrf,
            "name": "Bay Ketamine Clinic West",
            "price_per_session_usd": "$650",
            "bag_sizes_ml": "100, 250 mL",
            "vials": "50 mg/mL x 10 mL\n10 mg/mL x 20 mL",
            "bag_overfill_percent": "7 %",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    page = api.client.get(saved.headers["location"])
    assert "Saved." in page.text
    after = _settings_form(api.client)
    assert after["name"] == "Bay Ketamine Clinic West"
    assert after["price_per_session_usd"] == "650"
    assert after["bag_sizes_ml"] == "100, 250"
    assert after["vials"] == "50 mg/mL x 10 mL\n10 mg/mL x 20 mL"
    assert after["bag_overfill_percent"] == "7"
    assert int(after["version"]) == int(form["version"]) + 1


@pytest.mark.parametrize(
    ("typed", "field", "says"),
    [
        ({"name": "  "}, "name", "1-200 characters"),
        ({"price_per_session_usd": "six hundred"}, "price_per_session_usd", "not a number"),
        ({"price_per_session_usd": "-5"}, "price_per_session_usd", "between 0"),
        ({"bag_sizes_ml": "100, big"}, "bag_sizes_ml", "not a volume"),
        ({"bag_sizes_ml": "5000"}, "bag_sizes_ml", "must be 1 to"),
        ({"vials": "50 mg per vial"}, "vials", "is not written as"),
        ({"vials": ""}, "vials", "at least one vial"),
        ({"bag_overfill_percent": "40"}, "bag_overfill_percent", "from 0 to 25"),
        ({"threshold__mood__in_sbp_hold": "1800"}, "threshold__mood__in_sbp_hold", "120-220"),
        ({"threshold__pain__pre_hr_hold": "fast"}, "threshold__pain__pre_hr_hold", "not a number"),
        ({"close_time": "07:30"}, "close_time", "after opening time"),
        ({"session_times": "09:00, 25:00"}, "session_times", "HH:MM"),
        ({"max_per_week": "0"}, "max_per_week", "1 to 7"),
        ({"holidays": "Christmas"}, "holidays", "YYYY-MM-DD"),
    ],
)
def test_the_settings_form_refuses_bad_input_beside_the_field_and_saves_nothing(
    api: Api, typed: dict[str, str], field: str, says: str
) -> None:
    csrf = _sign_in(api.client, "admin")
    form = _settings_form(api.client)
    answer = api.client.post("/settings", data={**form, "csrf_token": csrf, **typed})
    assert answer.status_code == 422, answer.text
    errors = _errors(answer.text)
    assert field in errors, errors
    assert says in errors[field]
    assert "Not saved" in answer.text
    assert _settings_form(api.client) == form  # nothing saved, version unchanged


def test_an_admin_sets_the_calendar_and_an_alert_threshold_and_the_console_uses_it(
    api: Api,
) -> None:
    csrf = _sign_in(api.client, "admin")
    form = _settings_form(api.client)
    assert form["threshold__mood__pre_sbp_hold"] == "180"
    assert form["open_mon"] == "on"
    assert "open_sat" not in form
    typed = {k: v for k, v in form.items() if k not in ("open_tue", "open_thu")}
    saved = api.client.post(
        "/settings",
        data={
            **typed,
            "csrf_token": csrf,
            "threshold__mood__pre_sbp_hold": "160",
            "session_times": "10:00",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    after = _settings_form(api.client)
    assert after["threshold__mood__pre_sbp_hold"] == "160"
    assert after["session_times"] == "10:00"
    assert "open_tue" not in after
    assert "open_wed" in after

    csrf = _sign_in(api.client, "nurse")
    course = _course(api, csrf)
    page = api.client.get(course).text
    starts = re.findall(r"<td>(\w\w\w) \d\d Dec 2026, (\d\d:\d\d)", page)
    assert len(starts) == 6
    assert {day for day, _ in starts} <= {"Mon", "Wed", "Fri"}
    assert {at for _, at in starts} == {"10:00"}
    session = api.client.post(
        f"{course}/sessions", data={"csrf_token": csrf, "number": "1"}, follow_redirects=False
    ).headers["location"]
    console = api.client.post(
        f"{session}/events",
        data={
            "csrf_token": csrf,
            "expected_seq": "0",
            "type": "check_in",
            "systolic": "170",
            "diastolic": "85",
        },
    )
    assert console.status_code == 200, console.text
    assert "systolic above 160 mmHg: hold the start" in console.text


def test_the_preparation_card_uses_the_vials_and_bags_the_admin_saved(api: Api) -> None:
    csrf = _sign_in(api.client, "admin")
    form = _settings_form(api.client)
    saved = api.client.post(
        "/settings",
        data={**form, "csrf_token": csrf, "bag_sizes_ml": "250", "vials": "10 mg/mL x 20 mL"},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    csrf = _sign_in(api.client, "nurse")
    plan = api.client.post(
        f"{_patient(api, csrf)}/plans/new",
        data={"csrf_token": csrf, "condition": "depression"},
        follow_redirects=False,
    )
    assert plan.status_code == 303, plan.text
    unsigned = api.client.get(plan.headers["location"] + "/card").text
    assert 'data-prep="vial"' not in unsigned  # no card until a prescriber signs
    _sign(api, plan.headers["location"])
    card = api.client.get(plan.headers["location"] + "/card").text
    signer = '<strong title="prescriber@bay.example">prescriber@bay.example</strong>'
    assert f"Order signed by {signer}" in card  # no name on the account: its e-mail
    assert re.search(r'data-prep="vial">ketamine 10 mg/mL', card)
    assert re.search(r'data-prep="bag_ml">250 mL', card)
    assert "Stock used: the clinic's own (settings version" in card
    assert "vials 10 mg/mL × 20 mL; bags 250 mL" in card


def test_a_settings_edit_from_a_stale_version_is_refused_with_a_clear_message(
    api: Api,
) -> None:
    csrf = _sign_in(api.client, "admin")
    opened = _settings_form(api.client)
    first = api.client.post(
        "/settings",
        data={**opened, "csrf_token": csrf, "price_per_session_usd": "700"},
        follow_redirects=False,
    )
    assert first.status_code == 303
    second = api.client.post(
        "/settings", data={**opened, "csrf_token": csrf, "price_per_session_usd": "550"}
    )
    assert second.status_code == 409
    assert "Someone else saved the clinic settings" in second.text
    assert "your changes were not saved" in second.text
    assert 'id="saved-now"' in second.text
    assert 'value="550"' in second.text  # what the admin typed is kept
    now = _settings_form(api.client)
    assert now["price_per_session_usd"] == "700"
    assert int(now["version"]) == int(opened["version"]) + 1


def _course(api: Api, csrf: str) -> str:
    """A depression course (six sessions from 7 Dec 2026) for a new patient; its path."""
    patient = _patient(api, csrf)
    plan = api.client.post(
        f"{patient}/plans/new",
        data={"csrf_token": csrf, "condition": "depression"},
        follow_redirects=False,
    ).headers["location"]
    _sign(api, plan)
    course = api.client.post(
        f"{patient}/courses",
        data={
            "csrf_token": csrf,
            "plan_id": plan.rsplit("/", 1)[1],
            "condition": "depression",
            "first_day": "2026-12-07",
        },
        follow_redirects=False,
    )
    assert course.status_code == 303, course.text
    return str(course.headers["location"])


def _course_patient(api: Api, course: str) -> int:
    """The patient a course page belongs to."""
    found = re.search(r'href="/patients/(\d+)"', api.client.get(course).text)
    assert found
    return int(found.group(1))


def test_the_course_page_suggests_the_next_dose_with_reasons_and_shows_the_booster_advice(
    api: Api,
) -> None:
    csrf = _sign_in(api.client, "nurse")
    course = _course(api, csrf)
    page = api.client.get(course)
    assert "No dose has been suggested" in page.text
    assert 'id="booster"' in page.text
    assert "reassess on" in page.text
    asked = api.client.post(f"{course}/titration", data={"csrf_token": csrf})
    assert asked.status_code == 200
    assert 'id="titration-dose"' in asked.text
    reasons = re.search(r'<ul id="titration-reasons">(.*?)</ul>', asked.text, re.S)
    assert reasons
    assert "<li>" in reasons.group(1)
    assert "Awaiting a prescriber" in asked.text  # a nurse asks; she does not decide
    assert 'id="titration-accept"' not in asked.text


def test_a_nurse_cannot_decide_a_titration(api: Api, rows: Callable[[type[Base]], int]) -> None:
    from ketaplan.store.models import TitrationDecision

    csrf = _sign_in(api.client, "nurse")
    course = _course(api, csrf)
    api.client.post(f"{course}/titration", data={"csrf_token": csrf})
    refused = api.client.post(
        f"{course}/titration/decision",
        data={"csrf_token": csrf, "recommendation_id": "1", "choice": "accept"},
    )
    assert refused.status_code == 403
    assert rows(TitrationDecision) == 0


def _recommendation_id(html: str) -> str:
    found = re.search(r'name="recommendation_id" value="(\d+)"', html)
    assert found, html
    return found.group(1)


def test_a_prescriber_accepts_the_suggested_dose(api: Api) -> None:
    csrf = _sign_in(api.client, "prescriber")
    course = _course(api, csrf)
    page = api.client.post(f"{course}/titration", data={"csrf_token": csrf})
    dose = re.search(r'id="titration-dose">([\d.]+) mg/kg', page.text)
    assert dose
    accepted = api.client.post(
        f"{course}/titration/decision",
        data={
            "csrf_token": csrf,
            "recommendation_id": _recommendation_id(page.text),
            "choice": "accept",
            "password": PASSWORD,
        },
    )
    assert accepted.status_code == 200
    decision = re.search(r'id="titration-decision">(.*?)</div>', accepted.text, re.S)
    assert decision
    assert "Accepted" in decision.group(1)
    assert f"{dose.group(1)} mg/kg" in decision.group(1)
    assert 'id="titration-override"' not in accepted.text


@pytest.mark.parametrize(
    ("typed", "field", "says"),
    [
        ({"mg_per_kg": "", "reason": "x"}, "mg_per_kg", "give the dose"),
        ({"mg_per_kg": "lots", "reason": "x"}, "mg_per_kg", "not a dose"),
        ({"mg_per_kg": "0.65", "reason": "  "}, "reason", "needs a reason"),
        ({"mg_per_kg": "3", "reason": "why not"}, "mg_per_kg", "hard limits"),
        ({"mg_per_kg": "-1", "reason": "x"}, "mg_per_kg", "not a positive dose"),
    ],
)
def test_a_titration_override_refuses_bad_input_beside_the_field_and_saves_nothing(
    api: Api,
    rows: Callable[[type[Base]], int],
    typed: dict[str, str],
    field: str,
    says: str,
) -> None:
    from ketaplan.store.models import TitrationDecision

    csrf = _sign_in(api.client, "prescriber")
    course = _course(api, csrf)
    page = api.client.post(f"{course}/titration", data={"csrf_token": csrf})
    answer = api.client.post(
        f"{course}/titration/decision",
        data={
            "csrf_token": csrf,
            "recommendation_id": _recommendation_id(page.text),
            "choice": "override",
            "password": PASSWORD,
            **typed,
        },
    )
    assert answer.status_code == 422, answer.text
    errors = _errors(answer.text)
    assert field in errors, errors
    assert says in errors[field]
    assert "Not saved" in answer.text
    assert rows(TitrationDecision) == 0


def test_a_prescriber_overrides_the_suggestion_with_a_reason_once(api: Api) -> None:
    csrf = _sign_in(api.client, "prescriber")
    course = _course(api, csrf)
    page = api.client.post(f"{course}/titration", data={"csrf_token": csrf})
    decision = {
        "csrf_token": csrf,
        "recommendation_id": _recommendation_id(page.text),
        "choice": "override",
        "mg_per_kg": "0.65",
        "reason": "nausea at the last session",
        "password": PASSWORD,
    }
    done = api.client.post(f"{course}/titration/decision", data=decision)
    assert done.status_code == 200, done.text
    shown = re.search(r'id="titration-decision">(.*?)</div>', done.text, re.S)
    assert shown
    assert "Overridden" in shown.group(1)
    assert "0.65 mg/kg" in shown.group(1)
    assert "nausea at the last session" in shown.group(1)
    again = api.client.post(f"{course}/titration/decision", data=decision)
    assert again.status_code == 409
    assert "already been decided" in again.text


def test_the_dashboard_shows_a_patient_whose_phq9_item_9_needs_review(api: Api) -> None:
    csrf = _sign_in(api.client, "nurse")
    patient = _patient(api, csrf)
    made = api.client.post(f"{patient}/links", data={"csrf_token": csrf, "scales": "phq9"})
    link = re.search(r'id="patient-link" value="([^"]+)"', made.text)
    assert link
    path = "/q/" + link.group(1).rsplit("/q/", 1)[1]
    api.client.cookies.clear()
    answers = {f"item{i}": "1" for i in range(1, 10)}
    assert api.client.post(path, data={"scale": "phq9", **answers}).status_code == 200
    _sign_in(api.client, "nurse")
    page = api.client.get("/dashboard")
    assert page.status_code == 200, page.text
    flags = re.search(r'id="item9-flags">(.*?)</div>', page.text, re.S)
    assert flags
    assert "Ann Example" in flags.group(1)
    assert "PHQ-9 9" in flags.group(1)
    _sign_in(api.client, "front_desk")  # a score is a clinical fact: not the front desk's
    front_desk = api.client.get("/dashboard")
    assert front_desk.status_code == 200, front_desk.text
    assert 'id="item9-flags"' not in front_desk.text


def test_the_thank_you_page_shows_the_crisis_message_the_admin_set_on_the_settings_page(
    api: Api,
) -> None:
    _sign_in(api.client, "admin")
    form = _settings_form(api.client)
    assert "call or text 988" in form["crisis_message"]  # the catalog's, until the clinic sets one
    refused = api.client.post(
        "/settings", data={**form, "crisis_message": "<b>Call 116 123</b>", "name": ""}
    )
    assert refused.status_code == 422
    errors = _errors(refused.text)
    assert "plain text" in html.unescape(errors["crisis_message"])
    assert "name" in errors
    own = "Call Samaritans free on 116 123, day or night. In danger now, call 999."
    saved = api.client.post(
        "/settings", data={**form, "crisis_message": own}, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    assert own in api.client.get("/settings").text
    csrf = _sign_in(api.client, "nurse")
    made = api.client.post(
        f"{_patient(api, csrf)}/links", data={"csrf_token": csrf, "scales": "phq9"}
    )
    link = re.search(r'id="patient-link" value="([^"]+)"', made.text)
    assert link
    path = "/q/" + link.group(1).rsplit("/q/", 1)[1]
    api.client.cookies.clear()
    assert own in api.client.get(path).text
    answers = {f"item{i}": "1" for i in range(1, 10)}
    thanks = api.client.post(path, data={"scale": "phq9", **answers})
    crisis = re.search(r'id="crisis-message">(.*?)</div>', thanks.text, re.S)
    assert crisis
    assert own in crisis.group(1)
    assert "988" not in crisis.group(1)


def test_a_prescriber_signs_an_order_on_its_page_after_a_wrong_password_is_refused(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    from ketaplan.store.models import OrderEvent

    csrf = _sign_in(api.client, "nurse")
    plan = api.client.post(
        f"{_patient(api, csrf)}/plans/new",
        data={"csrf_token": csrf, "condition": "depression"},
        follow_redirects=False,
    ).headers["location"]
    proposed = api.client.get(plan).text
    assert "proposed, not signed" in proposed
    assert 'id="pump-withheld"' in proposed
    assert 'action="' + plan + '/sign"' not in proposed  # a nurse proposes; she does not sign
    assert "Schedule course" not in proposed
    csrf = _sign_in(api.client, "prescriber")
    wrong = api.client.post(f"{plan}/sign", data={"csrf_token": csrf, "password": "guess again"})
    assert wrong.status_code == 403
    assert "password is wrong" in _errors(wrong.text)["password"]
    assert rows(OrderEvent) == 1
    signed = api.client.post(
        f"{plan}/sign", data={"csrf_token": csrf, "password": PASSWORD}, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text
    page = api.client.get(plan).text
    assert "signed, active" in page
    assert 'Signed by <span title="prescriber@bay.example" data-signer>prescriber@' in page
    assert 'data-prep="pump_rate_ml_per_h"' in page
    assert "Schedule course" in page


def test_a_contraindicated_order_asks_the_prescriber_for_an_override_reason(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    from ketaplan.store.models import OrderEvent

    csrf = _sign_in(api.client, "prescriber")
    patient = api.client.post(
        "/patients/new",
        data={
            "csrf_token": csrf,
            "full_name": "Cora Block",
            "weight": "70 kg",
            "history": "uncontrolled_hypertension",
        },
        follow_redirects=False,
    ).headers["location"]
    plan = api.client.post(
        f"{patient}/plans/new",
        data={"csrf_token": csrf, "condition": "depression"},
        follow_redirects=False,
    ).headers["location"]
    page = api.client.get(plan).text
    assert "contraindicated: do not infuse unless a prescriber overrides" in page
    assert 'name="override_reason"' in page
    refused = api.client.post(f"{plan}/sign", data={"csrf_token": csrf, "password": PASSWORD})
    assert refused.status_code == 422
    assert "override" in _errors(refused.text)["override_reason"]
    assert rows(OrderEvent) == 1
    signed = api.client.post(
        f"{plan}/sign",
        data={"csrf_token": csrf, "password": PASSWORD, "override_reason": "BP now controlled"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    card = api.client.get(f"{plan}/card").text
    assert "Prescriber's override" in card
    assert "BP now controlled" in card


def test_an_order_is_cancelled_with_a_reason_beside_the_field(api: Api) -> None:
    csrf = _sign_in(api.client, "nurse")
    plan = api.client.post(
        f"{_patient(api, csrf)}/plans/new",
        data={"csrf_token": csrf, "condition": "depression"},
        follow_redirects=False,
    ).headers["location"]
    missing = api.client.post(f"{plan}/cancel", data={"csrf_token": csrf, "cancel_reason": " "})
    assert missing.status_code == 422
    assert "why" in _errors(missing.text)["cancel_reason"]
    done = api.client.post(
        f"{plan}/cancel",
        data={"csrf_token": csrf, "cancel_reason": "entered for the wrong patient"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = api.client.get(plan).text
    assert "order cancelled: entered for the wrong patient" in page
    assert 'id="cancel"' not in page


def test_the_protocol_page_shows_where_the_sources_disagree_and_the_crps_rate_cap(
    api: Api,
) -> None:
    """Seeds 000, 001 and 004 disagree on boosters and seeds 001 and 002 on the series and the
    dose form: the page lists every option with its sources, the one in force marked. CRPS
    shows Schwartzman 2009's 25 mg/h cap with its source."""
    _sign_in(api.client, "nurse")
    page = html.unescape(api.client.get("/protocols").text)
    for option in ("every_3_6_weeks", "every_few_months", "once_or_twice_a_year"):
        assert f'<strong title="{option}">' in page  # the option's key as its tooltip
    assert "weekly_4_6_weeks" in page
    assert "per_hour" in page
    assert "(in force)" in page
    assert "at most 25 mg/h" in page
    assert "not to exceed 25 mg/h" in page
    assert "protocol.screen_for_mania" in page
    crps_sources = page.split('id="sources-crps"', 1)[1].split("</ul>", 1)[0]
    assert "Schwartzman RJ et al." in crps_sources  # each protocol lists its sources by title
    assert 'title="seeds/000_' in crps_sources  # a seed page's file only as a tooltip
    assert ">Ketamine Dosing: What and Why? (clinic web page)<" in crps_sources
