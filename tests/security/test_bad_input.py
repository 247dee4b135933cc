"""Bad input is a 4xx everywhere, on SQLite and PostgreSQL (issue 14, item 4).

One table per class of bad input, each row a try and its expected outcome:

* control characters in every text a request carries (API bodies, query and path parameters,
  form fields, before and after sign-in): 422 naming the field, nothing stored;
* out-of-range values typed in forms (years, ids past 32 bits, Unicode digits, inf/nan/1e308):
  422 naming the field;
* bodies past the cap: 413 before the rest is read, from Content-Length or counted in chunks;
* an unexpected error logs no patient data.

PostgreSQL is where most of these used to fail (it refuses NUL and integers past 2^31 - 1);
SQLite stored them. Every row runs on both.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.service.conftest import PASSWORD, ROLE_EMAILS, Api, post_sign_in

from ketaplan.app import create_app
from ketaplan.http.limits import BodySizeLimit
from ketaplan.store.models import Base, Patient

CONTROL_CHARACTERS = ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\ud800"]
"""NUL (PostgreSQL cannot store it), other C0 controls, DEL, a C1 control, a lone surrogate
(no encoding can write it)."""

PATIENT = {"full_name": "Alex Example", "weight": "80 kg"}

# (label, role or None for no sign-in, method, path, body with TEXT where the try goes, field)
API_TEXTS: list[tuple[str, str | None, str, str, Any, str]] = [
    ("sign-in e-mail", None, "POST", "/api/v1/auth/token", {"email": "TEXT", "password": "x"}, "email"),
    ("sign-in password", None, "POST", "/api/v1/auth/token", {"email": "a@b.example", "password": "TEXT"}, "password"),
    ("patient link", None, "GET", "/api/v1/links/TEXT", None, "token"),
    ("patient link answer", None, "POST", "/api/v1/links/abc/responses", {"scale": "TEXT", "answers": [0]}, "scale"),
    ("patient name", "nurse", "POST", "/api/v1/patients", {**PATIENT, "full_name": "Alex TEXT"}, "full_name"),
    ("patient weight", "nurse", "POST", "/api/v1/patients", {**PATIENT, "weight": "80 TEXTkg"}, "weight"),
    ("patient height", "nurse", "POST", "/api/v1/patients", {**PATIENT, "height": "175TEXT cm"}, "height"),
    ("blood pressure", "nurse", "POST", "/api/v1/patients", {**PATIENT, "blood_pressure": "120/TEXT"}, "blood_pressure"),
    ("history term", "nurse", "POST", "/api/v1/patients", {**PATIENT, "history": ["asthma", "TEXT"]}, "history.1"),
    ("medication", "nurse", "POST", "/api/v1/patients", {**PATIENT, "medications": ["TEXT"]}, "medications.0"),
    ("alcohol", "nurse", "POST", "/api/v1/patients", {**PATIENT, "alcohol": "TEXT"}, "alcohol"),
    ("patient update", "nurse", "PUT", "/api/v1/patients/1", {**PATIENT, "full_name": "TEXT", "expected_version": 1}, "full_name"),
    ("patient search", "nurse", "GET", "/api/v1/patients?q=TEXT", None, "q"),
    ("screening condition", "nurse", "POST", "/api/v1/patients/1/screenings", {"condition": "TEXT"}, "condition"),
    ("plan condition", "prescriber", "POST", "/api/v1/patients/1/plans", {"condition": "TEXT"}, "condition"),
    ("plan override reason", "prescriber", "POST", "/api/v1/patients/1/plans", {"condition": "depression", "override_reason": "TEXT"}, "override_reason"),
    ("signature password", "prescriber", "POST", "/api/v1/plans/1/sign", {"password": "TEXT"}, "password"),
    ("signature meaning", "prescriber", "POST", "/api/v1/plans/1/sign", {"password": "x", "meaning": "TEXT"}, "meaning"),
    ("signer name", "prescriber", "POST", "/api/v1/plans/1/sign", {"password": "x", "signer_name": "TEXT"}, "signer_name"),
    ("cancel reason", "prescriber", "POST", "/api/v1/plans/1/cancel", {"reason": "TEXT"}, "reason"),
    ("course condition", "prescriber", "POST", "/api/v1/patients/1/courses", {"condition": "TEXT", "first_day": "2026-12-07"}, "condition"),
    ("session condition", "nurse", "POST", "/api/v1/patients/1/sessions", {"condition": "TEXT"}, "condition"),
    ("chart note", "nurse", "POST", "/api/v1/sessions/1/events", {"expected_seq": 0, "event": {"type": "note", "text": "TEXT"}}, "event.text"),
    ("chart field name", "nurse", "POST", "/api/v1/sessions/1/events", {"expected_seq": 0, "event": {"TEXT": 1}}, "event"),
    ("questionnaire scale", "nurse", "POST", "/api/v1/patients/1/questionnaires", {"scale": "TEXT", "answers": [0], "answered_at": "2026-11-20T10:00:00-08:00"}, "scale"),
    ("link scales", "nurse", "POST", "/api/v1/patients/1/links", {"scales": ["TEXT"]}, "scales.0"),
    ("titration reason", "prescriber", "POST", "/api/v1/titration/1/decision", {"password": "x", "reason": "TEXT"}, "reason"),
    ("titration password", "prescriber", "POST", "/api/v1/titration/1/decision", {"password": "TEXT"}, "password"),
]  # fmt: skip


def _with(value: Any, text: str) -> Any:
    """``value`` with every ``TEXT`` replaced by ``text`` (the try)."""
    if isinstance(value, str):
        return value.replace("TEXT", text)
    if isinstance(value, list):
        return [_with(v, text) for v in value]
    if isinstance(value, dict):
        return {_with(k, text): _with(v, text) for k, v in value.items()}
    return value


def _url(path: str, text: str) -> str:
    from urllib.parse import quote

    return path.replace("TEXT", quote(text.encode("utf-8", "surrogatepass"), safe=""))


def _problem_fields(answer: Any) -> list[str]:
    """The fields a 422 names, without FastAPI's ``path.`` / ``query.`` prefix."""
    fields = [p["field"] for p in answer.json().get("problems", [])]
    return [f.split(".", 1)[1] if f.startswith(("path.", "query.")) else f for f in fields]


@pytest.mark.parametrize(
    ("role", "method", "path", "body", "field"),
    [case[1:] for case in API_TEXTS],
    ids=[case[0] for case in API_TEXTS],
)
def test_a_control_character_in_any_api_text_is_a_422_naming_the_field(
    api: Api,
    rows: Callable[[type[Base]], int],
    subtests: pytest.Subtests,
    role: str | None,
    method: str,
    path: str,
    body: Any,
    field: str,
) -> None:
    """Every character of the table, one after the other against one database (each is
    refused and stores nothing, so each meets the database as the first did)."""
    headers = {**(api.as_role(role) if role else {}), "Content-Type": "application/json"}
    for character in CONTROL_CHARACTERS:
        if "TEXT" in path and character == "\ud800":
            continue  # a URL carries UTF-8 bytes: a lone surrogate cannot be sent in one
        with subtests.test(character=f"U+{ord(character):04X}"):
            # json.dumps escapes what UTF-8 cannot carry (a lone surrogate as \\ud800), as
            # clients do.
            content = None if body is None else json.dumps(_with(body, character))
            answer = api.client.request(
                method, _url(path, character), content=content, headers=headers
            )
            assert answer.status_code == 422, answer.text
            assert answer.json()["code"] == "input.invalid_request"
            assert any(f == field or f.startswith(f"{field}.") for f in _problem_fields(answer)), (
                answer.json()
            )
            if character != "\ud800":  # pydantic refuses that one first: no string can hold it
                assert "control character" in answer.text
            assert rows(Patient) == 0


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("ketamine started\nfelt calm", True),  # a note may run over lines
        ("a\ttab", True),
        ("a NUL \x00", False),
        ("an escape \x1b[31m", False),
    ],
)
def test_a_note_may_hold_line_breaks_but_no_other_control_character(
    api: Api, value: str, accepted: bool
) -> None:
    answer = api.client.post(
        "/api/v1/sessions/1/events",
        json={"expected_seq": 0, "event": {"type": "note", "text": value}},
        headers=api.as_role("nurse"),
    )
    # Accepted text goes on to the service (no session 1 here: a 404); refused text stops at 422.
    assert answer.status_code == (404 if accepted else 422), answer.text


def _sign_in(client: TestClient, role: str) -> str:
    answer = post_sign_in(client, ROLE_EMAILS[role], PASSWORD)
    assert answer.status_code == 303, answer.text
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get("/patients").text)
    assert found
    return found.group(1)


# (label, signed in as, method, path, form with TEXT where the try goes, field named)
# The intake's live check answers 200 with the message beside the field (it is not a submit).
FORM_TEXTS: list[tuple[str, str | None, str, str, dict[str, str] | None, str]] = [
    ("sign-in e-mail", None, "POST", "/sign-in", {"email": "a@bTEXT", "password": "x"}, "email"),
    ("sign-in next", None, "GET", "/sign-in?next=/TEXT", None, "next"),
    ("patient link page", None, "GET", "/q/TEXT", None, "token"),
    ("patient link answer", None, "POST", "/q/TEXT", {"scale": "phq9"}, "token"),
    ("intake name", "nurse", "POST", "/patients/new", {**PATIENT, "full_name": "TEXT"}, "full_name"),
    ("intake weight", "nurse", "POST", "/patients/new", {**PATIENT, "weight": "80TEXT kg"}, "weight"),
    ("intake medications", "nurse", "POST", "/patients/new", {**PATIENT, "medications": "a\nTEXT"}, "medications"),
    ("intake live check", "nurse", "POST", "/patients/check", {"weight": "TEXT"}, "weight"),
    ("patient search", "nurse", "GET", "/patients?q=TEXT", None, "q"),
    ("screening", "nurse", "POST", "/patients/1/screenings", {"screen_condition": "TEXT"}, "screen_condition"),
    ("plan", "prescriber", "POST", "/patients/1/plans/new", {"condition": "TEXT"}, "condition"),
    ("course", "prescriber", "POST", "/patients/1/courses", {"condition": "TEXT"}, "condition"),
    ("chart event", "nurse", "POST", "/sessions/1/events", {"type": "note", "text": "TEXT"}, "text"),
    ("settings", "admin", "POST", "/settings", {"name": "TEXT"}, "name"),
]  # fmt: skip


FORM_CONTROL_CHARACTERS = ["\x00", "\x08", "\x9b"]


@pytest.mark.parametrize(
    ("role", "method", "path", "form", "field"),
    [case[1:] for case in FORM_TEXTS],
    ids=[case[0] for case in FORM_TEXTS],
)
def test_a_control_character_in_any_form_field_or_page_parameter_is_a_422_naming_it(
    api: Api,
    rows: Callable[[type[Base]], int],
    subtests: pytest.Subtests,
    role: str | None,
    method: str,
    path: str,
    form: dict[str, str] | None,
    field: str,
) -> None:
    """Every character of the table, one after the other against one database, each from a
    browser of its own signed in afresh (as each was when it had a test of its own)."""
    for character in FORM_CONTROL_CHARACTERS:
        with subtests.test(character=f"U+{ord(character):04X}"):
            client = TestClient(api.client.app)
            data = None
            if form is not None:
                data = _with(form, character)
                if role is not None:
                    data["csrf_token"] = _sign_in(client, role)
            elif role is not None:
                _sign_in(client, role)
            answer = client.request(
                method, _url(path, character), data=data, follow_redirects=False
            )
            assert answer.status_code == (200 if path == "/patients/check" else 422), answer.text
            assert field in answer.text
            assert "control character" in answer.text
            assert rows(Patient) == 0


def _patient_with_course(api: Api) -> dict[str, int]:
    """A patient with a signed order, a course and an open session (through the API)."""
    nurse, prescriber = api.as_role("nurse"), api.as_role("prescriber")
    patient = api.client.post("/api/v1/patients", json=PATIENT, headers=nurse).json()
    pid = patient["patient_id"]
    plan = api.client.post(
        f"/api/v1/patients/{pid}/plans", json={"condition": "depression"}, headers=prescriber
    ).json()
    signed = api.client.post(
        f"/api/v1/plans/{plan['plan_id']}/sign", json={"password": PASSWORD}, headers=prescriber
    )
    assert signed.status_code == 200, signed.text
    course = api.client.post(
        f"/api/v1/patients/{pid}/courses",
        json={"condition": "depression", "first_day": "2026-12-07"},
        headers=prescriber,
    )
    assert course.status_code == 201, course.text
    return {"patient": pid, "plan": plan["plan_id"], "course": course.json()["course_id"]}


HUGE = "9" * 30
# (label, signed in as, path with {patient}/{plan}/{course}, form, field named)
FORM_NUMBERS: list[tuple[str, str, str, dict[str, str], str]] = [
    ("course in year 9999", "prescriber", "/patients/{patient}/courses", {"condition": "depression", "first_day": "9999-12-31", "plan_id": "{plan}"}, "first_day"),
    ("course in year 1", "prescriber", "/patients/{patient}/courses", {"condition": "depression", "first_day": "0001-01-01", "plan_id": "{plan}"}, "first_day"),
    ("30-digit plan id", "prescriber", "/patients/{patient}/courses", {"condition": "depression", "first_day": "2026-12-07", "plan_id": HUGE}, "plan_id"),
    ("superscript plan id", "prescriber", "/patients/{patient}/courses", {"condition": "depression", "first_day": "2026-12-07", "plan_id": "²"}, "plan_id"),
    ("session number 2^31", "nurse", "/courses/{course}/sessions", {"number": str(2**31)}, "number"),
    ("superscript session number", "nurse", "/courses/{course}/sessions", {"number": "²"}, "number"),
    ("Arabic-Indic session number", "nurse", "/courses/{course}/sessions", {"number": "٣"}, "number"),
    ("superscript answer", "nurse", "/patients/{patient}/questionnaires", {"scale": "phq9", "answered_at": "2026-11-20T10:00", **{f"item{i}": "0" for i in range(1, 9)}, "item9": "²"}, "item9"),
    ("30-digit course id", "nurse", "/patients/{patient}/questionnaires", {"scale": "phq9", "answered_at": "2026-11-20T10:00", **{f"item{i}": "0" for i in range(1, 10)}, "course_id": HUGE}, "course_id"),
    ("superscript age", "nurse", "/patients/new", {**PATIENT, "age_years": "4²"}, "age_years"),
    ("30-digit age", "nurse", "/patients/new", {**PATIENT, "age_years": HUGE}, "age_years"),
    ("birth in year 9999", "nurse", "/patients/new", {**PATIENT, "date_of_birth": "9999-01-01"}, "date_of_birth"),
    ("dose 1e308", "prescriber", "/patients/{patient}/plans/new", {"condition": "depression", "requested_mg_per_kg": "1e308"}, "requested_mg_per_kg"),
    ("dose nan", "prescriber", "/patients/{patient}/plans/new", {"condition": "depression", "requested_mg_per_kg": "nan"}, "requested_mg_per_kg"),
    ("dose inf", "prescriber", "/patients/{patient}/plans/new", {"condition": "depression", "requested_mg_per_kg": "inf"}, "requested_mg_per_kg"),
    ("superscript visits per week", "admin", "/settings", {"max_per_week": "²", "version": "1"}, "max_per_week"),
    ("superscript settings version", "admin", "/settings", {"version": "²"}, ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("role", "path", "form", "field"),
    [case[1:] for case in FORM_NUMBERS],
    ids=[case[0] for case in FORM_NUMBERS],
)
def test_an_out_of_range_number_or_date_in_a_form_is_a_4xx_naming_the_field(
    api: Api, role: str, path: str, form: dict[str, str], field: str
) -> None:
    ids = _patient_with_course(api)
    client = TestClient(api.client.app)
    data = {k: v.format(**ids) for k, v in form.items()}
    data["csrf_token"] = _sign_in(client, role)
    answer = client.post(path.format(**ids), data=data, follow_redirects=False)
    assert 400 <= answer.status_code < 500, answer.text
    assert field in answer.text


def test_a_session_number_past_32_bits_is_refused_by_the_api_too(api: Api) -> None:
    ids = _patient_with_course(api)
    answer = api.client.post(
        f"/api/v1/patients/{ids['patient']}/sessions",
        json={"condition": "depression", "course_id": ids["course"], "number": 2**31},
        headers=api.as_role("nurse"),
    )
    assert answer.status_code == 422, answer.text
    assert "number" in _problem_fields(answer)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/api/v1/patients/{2**31}", "patient_id"),
        (f"/api/v1/plans/{HUGE}", "plan_id"),
        ("/api/v1/sessions/0", "session_id"),
    ],
)
def test_an_id_past_32_bits_in_an_api_path_is_a_422(api: Api, path: str, field: str) -> None:
    answer = api.client.get(path, headers=api.as_role("nurse"))
    assert answer.status_code == 422, answer.text
    assert field in _problem_fields(answer)


@pytest.mark.parametrize("number", ["1e308", "NaN", "Infinity", "-Infinity"])
def test_a_dose_that_is_not_a_finite_number_is_a_422_in_the_api(api: Api, number: str) -> None:
    body = '{"condition": "depression", "requested_mg_per_kg": NUMBER}'.replace("NUMBER", number)
    answer = api.client.post(
        "/api/v1/patients/1/plans",
        content=body,
        headers={**api.as_role("prescriber"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert "requested_mg_per_kg" in _problem_fields(answer)


# ------------------------------------------------------------------ body size ----

CAP = 1024 * 1024


@pytest.mark.parametrize(
    ("path", "signed_in"),
    [("/api/v1/auth/token", False), ("/sign-in", False), ("/api/v1/patients", True)],
)
def test_a_body_past_the_cap_is_a_413_with_or_without_sign_in(
    api: Api, path: str, signed_in: bool
) -> None:
    headers = {**(api.as_role("nurse") if signed_in else {}), "Content-Type": "application/json"}
    answer = api.client.post(path, content=b" " * (CAP + 1), headers=headers)
    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == "input.body_too_large"


def test_a_body_sent_in_chunks_is_cut_off_at_the_cap(api: Api) -> None:
    def chunks() -> Any:
        for _ in range(4):
            yield b" " * (CAP // 2)

    answer = api.client.post(
        "/api/v1/auth/token", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == "input.body_too_large"


def test_a_body_at_the_cap_is_read() -> None:
    async def echo(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})

    client = TestClient(BodySizeLimit(echo, max_body_bytes=100))  # type: ignore[arg-type]
    assert client.post("/", content=b"x" * 100).text == "100"
    assert client.post("/", content=b"x" * 101).status_code == 413


def test_the_cap_reads_no_chunk_past_the_one_that_crosses_it() -> None:
    """The rest of a large body is never read: a worker's memory stays bounded."""
    read: list[int] = []
    chunk = 64 * 1024

    async def receive() -> dict[str, Any]:
        read.append(chunk)
        return {"type": "http.request", "body": b"x" * chunk, "more_body": True}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive_: Any, send_: Any) -> None:
        while True:
            await receive_()

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    asyncio.run(BodySizeLimit(app, max_body_bytes=CAP)(scope, receive, send))  # type: ignore[arg-type]
    assert sum(read) == CAP + chunk  # 100 MB sent: 1 MiB and one chunk read
    assert sent[0]["status"] == 413


# ------------------------------------------------------------------- the logs ----


def test_an_unexpected_error_logs_no_patient_data(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """A failure whose message quotes a patient (here the service clock's, the app's seam for
    time) is answered 500 and logged by type and place only."""

    def failing_clock() -> datetime:
        raise ValueError(f"{PATIENT['full_name']} weighs {PATIENT['weight']}")

    app = create_app(dataclasses.replace(api.context, clock=failing_clock))
    with caplog.at_level(logging.DEBUG), TestClient(app) as client:
        answer = client.post("/api/v1/patients", json=PATIENT, headers=api.as_role("nurse"))
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal_error"
    assert "ValueError" in caplog.text  # what and where is logged ...
    assert "Alex Example" not in caplog.text  # ... never the message
    assert "80 kg" not in caplog.text


def test_refused_bad_input_logs_nothing_typed(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        for field in ("full_name", "weight"):
            body = {**PATIENT, field: "Robin Private\x00 72 kg"}
            api.client.post("/api/v1/patients", json=body, headers=api.as_role("nurse"))
    assert "Robin Private" not in caplog.text
