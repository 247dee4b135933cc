"""Issue 14, item 7: security headers on every response, login CSRF, and patient links built
from the configured public URL, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.service.conftest import PASSWORD, ROLE_EMAILS, Api, post_sign_in

from ketaplan.app import create_app
from ketaplan.errors import InputError
from ketaplan.http.headers import CONTENT_SECURITY_POLICY
from ketaplan.settings import load_settings
from ketaplan.web import STATIC_DIR

TEMPLATES = Path(STATIC_DIR).parent / "templates"
PATIENT = {"full_name": "Alex Example", "weight": "80 kg", "height": "175 cm", "age_years": 42}


def _signed_in_browser(api: Api, app: object | None = None) -> tuple[TestClient, str]:
    browser = TestClient(app or api.client.app)
    assert post_sign_in(browser, ROLE_EMAILS["nurse"], PASSWORD).status_code == 303
    page = browser.get("/patients")
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert csrf
    return browser, csrf.group(1)


def _patient(api: Api) -> int:
    made = api.client.post("/api/v1/patients", json=PATIENT, headers=api.as_role("nurse"))
    assert made.status_code == 201, made.text
    patient_id: int = made.json()["patient_id"]
    return patient_id


def test_every_response_carries_the_security_headers(api: Api) -> None:
    browser, _ = _signed_in_browser(api)
    patient_id = _patient(api)
    nurse = api.as_role("nurse")
    responses = {
        # (what, response, carries patient data or a sign-in)
        "sign-in page": (api.client.get("/sign-in"), True),
        "a page, signed in": (browser.get(f"/patients/{patient_id}"), True),
        "a page, signed out (redirect)": (
            TestClient(api.client.app).get("/patients", follow_redirects=False),
            True,
        ),
        "an error page": (browser.get("/patients/99999"), True),
        "API answer": (api.client.get(f"/api/v1/patients/{patient_id}", headers=nurse), True),
        "API error": (api.client.get("/api/v1/patients/99999", headers=nurse), True),
        "API refusal": (api.client.get("/api/v1/patients"), True),
        "health": (api.client.get("/api/v1/health"), True),
        "a missing page": (api.client.get("/no/such/page"), True),
        "static script": (api.client.get("/static/app.js"), False),
        "static style": (api.client.get("/static/app.css"), False),
    }
    for what, (answer, private) in responses.items():
        headers = answer.headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, what
        assert headers["X-Frame-Options"] == "DENY", what
        assert headers["X-Content-Type-Options"] == "nosniff", what
        assert headers["Referrer-Policy"] == "no-referrer", what
        assert ("no-store" in headers.get("Cache-Control", "")) is private, what
        assert "Strict-Transport-Security" not in headers, what  # not served with TLS


def test_the_policy_refuses_inline_script_and_framing() -> None:
    directives = dict(
        part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";") if part.strip()
    )
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_hsts_is_sent_when_serving_with_secure_cookies(api: Api) -> None:
    secure = TestClient(create_app(replace(api.context, secure_cookies=True)))
    for path in ("/sign-in", "/api/v1/health", "/static/app.js"):
        assert secure.get(path).headers["Strict-Transport-Security"] == "max-age=31536000"


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler"),
    (re.compile(r"\sstyle\s*=", re.I), "an inline style attribute"),
    (re.compile(r"<style", re.I), "a <style> element"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_no_template_has_inline_script_or_style(template: str) -> None:
    """What the policy would block: each page's behaviour is in /static/app.js."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    for pattern, what in INLINE:
        assert not pattern.search(text), f"{template} has {what}"


def test_the_rendered_patient_page_with_its_chart_has_nothing_inline(api: Api) -> None:
    browser, _ = _signed_in_browser(api)
    patient_id = _patient(api)
    answer = api.client.post(
        f"/api/v1/patients/{patient_id}/questionnaires",
        json={
            "scale": "phq9",
            "answers": [1, 1, 1, 1, 1, 1, 1, 1, 0],
            "answered_at": "2026-11-20T10:00:00-08:00",
        },
        headers=api.as_role("nurse"),
    )
    assert answer.status_code == 201, answer.text
    page = browser.get(f"/patients/{patient_id}")
    assert 'id="outcome-chart"' in page.text
    for pattern, what in INLINE:
        assert not pattern.search(page.text), what


# ---------------------------------------------------------------- login CSRF ----

FORM = {"email": ROLE_EMAILS["nurse"], "password": PASSWORD, "next": "/"}
LOGIN_CSRF = [
    # (what, send the page's cookie, the form's csrf_token, expected status)
    ("no token at all (a form on another site)", False, None, 403),
    ("the form's token without the cookie", False, "page", 403),
    ("the cookie without the form's token", True, None, 403),
    ("a made-up token", True, "x" * 43, 403),
    ("an empty token", True, "", 403),
    ("the page's own form", True, "page", 303),
]


@pytest.mark.parametrize(
    ("what", "cookie", "token", "status"), LOGIN_CSRF, ids=[c[0] for c in LOGIN_CSRF]
)
def test_the_sign_in_form_refuses_login_csrf(
    api: Api, what: str, cookie: bool, token: str | None, status: int
) -> None:
    browser = TestClient(api.client.app)
    page = browser.get("/sign-in")
    given = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert given
    if not cookie:
        browser.cookies.clear()
    data = dict(FORM)
    if token is not None:
        data["csrf_token"] = given.group(1) if token == "page" else token
    answer = browser.post("/sign-in", data=data, follow_redirects=False)
    assert answer.status_code == status, what
    assert ("ketaplan_session" in answer.headers.get("set-cookie", "")) is (status == 303)


def test_the_sign_in_csrf_cookie_is_strict_and_private(api: Api) -> None:
    cookie = TestClient(api.client.app).get("/sign-in").headers["set-cookie"]
    assert "ketaplan_sign_in_csrf=" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Path=/sign-in" in cookie


# ------------------------------------------------------------ patient links ----


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1:8000", "clinic.example:9999"])
def test_a_patient_link_starts_with_the_configured_url_whatever_the_host_header(
    api: Api, host: str
) -> None:
    public = "https://ketaplan.clinic.example"
    app = create_app(replace(api.context, public_url=public))
    browser, csrf = _signed_in_browser(api, app)
    patient_id = _patient(api)
    made = browser.post(
        f"/patients/{patient_id}/links",
        data={"csrf_token": csrf, "scales": "phq9"},
        headers={"Host": host},
    )
    link = re.search(r'id="patient-link" value="([^"]+)"', made.text)
    assert link, made.text[:500]
    assert re.fullmatch(re.escape(public) + r"/q/[A-Za-z0-9_-]+", link.group(1))


PUBLIC_URLS = [
    ("https://ketaplan.clinic.example", "https://ketaplan.clinic.example"),
    ("https://ketaplan.clinic.example/", "https://ketaplan.clinic.example"),
    ("http://192.0.2.10:8000/ketaplan/", "http://192.0.2.10:8000/ketaplan"),
    ("ketaplan.clinic.example", None),
    ("ftp://ketaplan.clinic.example", None),
    ("https://", None),
    ("https://ketaplan.clinic.example/?next=x", None),
    ("https://ketaplan.clinic.example/#top", None),
]


@pytest.mark.parametrize(("given", "used"), PUBLIC_URLS)
def test_the_public_url_setting(given: str, used: str | None) -> None:
    if used is None:
        with pytest.raises(InputError, match="not a base URL for patient links"):
            load_settings({"KETAPLAN_PUBLIC_URL": given})
    else:
        assert load_settings({"KETAPLAN_PUBLIC_URL": given}).public_url == used
