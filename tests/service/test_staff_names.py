"""Pages name a member of staff by their name, not their e-mail (issue 18, item 7): the item 9
reviewer, a record version's author, the bookings history, the ledger's signers, the audit
trail, and the signed-in member of staff in the header and where they sign; an account with no
name is shown by its e-mail. The API keeps the e-mails and gives the names beside them."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from ketaplan.services.staff_names import shown_name, staff_members, staff_names
from ketaplan.store.models import User

from .conftest import ROLE_EMAILS, Api
from .test_ledger_pages import RECEIVE
from .test_plain_language import visible_text
from .test_web_pages import PHQ9_ON_PAPER, _course, _course_patient, _patient, _sign_in

NURSE = "Robin Diaz"
NURSE_EMAIL = ROLE_EMAILS["nurse"]
PRESCRIBER = "Priya Raman"
PRESCRIBER_EMAIL = ROLE_EMAILS["prescriber"]


def _name(api: Api, role: str, name: str) -> None:
    with api.context.database.session_factory() as db:
        db.execute(update(User).where(User.email == ROLE_EMAILS[role]).values(full_name=name))
        db.commit()


def _shown(page: str) -> str:
    """The page's visible text without the pickers (the audit trail's choice of staff lists
    name and e-mail)."""
    return visible_text(re.sub(r"<select.*?</select>", "", page, flags=re.S))


def test_a_name_is_shown_and_an_account_without_one_by_its_e_mail(api: Api) -> None:
    _name(api, "nurse", f"  {NURSE} ")
    with api.context.database.session_factory() as db:
        ids = dict(db.execute(select(User.email, User.id)).all())
        nurse, prescriber = ids[NURSE_EMAIL], ids[ROLE_EMAILS["prescriber"]]
        assert staff_names(db, [nurse, prescriber, None]) == {
            nurse: NURSE,
            prescriber: ROLE_EMAILS["prescriber"],
        }
        member = staff_members(db, [nurse])[nurse]
        assert (member.email, member.name) == (NURSE_EMAIL, NURSE)
        assert staff_names(db, []) == {}
    assert shown_name(None, NURSE_EMAIL) == NURSE_EMAIL


def test_the_patient_course_and_audit_pages_name_the_nurse_and_the_api_keeps_the_e_mail(
    api: Api,
) -> None:
    _name(api, "nurse", NURSE)
    csrf = _sign_in(api.client, "nurse")
    course = _course(api, csrf)  # the nurse registers the patient and books the course
    patient_id = _course_patient(api, course)
    saved = api.client.post(
        f"/patients/{patient_id}/questionnaires",
        data={
            "csrf_token": csrf,
            "scale": "phq9",
            "answered_at": "2026-11-02T10:15",
            **PHQ9_ON_PAPER,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    headers = api.as_role("nurse")
    flags = api.client.get(f"/api/v1/patients/{patient_id}/item9-flags", headers=headers)
    assert flags.status_code == 200, flags.text
    response_id = flags.json()["items"][0]["response_id"]
    reviewed = api.client.post(
        f"/patients/{patient_id}/item9-reviews/{response_id}",
        data={"csrf_token": csrf, "note": "Called; safety plan reviewed."},
        follow_redirects=False,
    )
    assert reviewed.status_code == 303, reviewed.text

    patient_page = _shown(api.client.get(f"/patients/{patient_id}").text)
    assert f"reviewed by {NURSE} on" in patient_page
    course_page = _shown(api.client.get(course).text)
    assert f", {NURSE}:" in course_page  # the bookings history
    for shown in (patient_page, course_page):
        assert NURSE_EMAIL not in shown

    flag = api.client.get(f"/api/v1/patients/{patient_id}/item9-flags", headers=headers)
    (item,) = flag.json()["items"]
    assert (item["reviewed_by"], item["reviewer_name"]) == (NURSE_EMAIL, NURSE)
    versions = api.client.get(f"/api/v1/patients/{patient_id}/versions", headers=headers).json()
    first = versions["versions"][-1]
    assert (first["recorded_by"], first["recorded_by_name"]) == (NURSE_EMAIL, NURSE)

    api.client.cookies.clear()
    _sign_in(api.client, "admin")
    audit = api.client.get(f"/audit?patient={patient_id}").text
    assert f'title="{NURSE_EMAIL}" data-actor>{NURSE}</span>' in audit
    assert NURSE_EMAIL not in _shown(audit)
    events = api.client.get(
        f"/api/v1/audit/events?patient={patient_id}", headers=api.as_role("admin")
    ).json()["items"]
    by_nurse = [e for e in events if e["actor_email"] == NURSE_EMAIL]
    assert by_nurse
    assert {e["actor_name"] for e in by_nurse} == {NURSE}


def test_the_ledger_names_who_wrote_an_entry_on_its_pages_and_reports(api: Api) -> None:
    from .test_ledger_pages import _sign_in as _sign_in_to_ledger

    _name(api, "nurse", NURSE)
    csrf = _sign_in_to_ledger(api.client, "nurse")
    received = api.client.post(
        "/ledger/receive", data={**RECEIVE, "csrf_token": csrf}, follow_redirects=False
    )
    assert received.status_code == 303, received.text
    report = api.client.get("/ledger/reports/entries").text
    assert NURSE in visible_text(report)
    assert NURSE_EMAIL not in _shown(report)
    assert f"Printed by {NURSE}." in report
    vial = api.client.get("/api/v1/ledger/vials/K-0001", headers=api.as_role("nurse")).json()
    entry = vial["entries"][0]
    assert (entry["by"], entry["by_name"]) == (NURSE_EMAIL, NURSE)


def test_the_header_and_the_signing_lines_name_the_signed_in_prescriber(api: Api) -> None:
    """They showed the signed-in account's e-mail; the name now, the e-mail in the tooltip."""
    _name(api, "prescriber", PRESCRIBER)
    me = f'<span title="{PRESCRIBER_EMAIL}" data-me>{PRESCRIBER}</span>'
    csrf = _sign_in(api.client, "prescriber")
    patient = _patient(api, csrf)
    overriding = api.client.post(
        f"{patient}/plans/new",
        data={"csrf_token": csrf, "condition": "depression", "requested_mg_per_kg": "0.9"},
    )
    assert overriding.status_code == 422, overriding.text
    assert f"You are overriding as prescriber {me}." in overriding.text
    plan = api.client.post(
        f"{patient}/plans/new",
        data={"csrf_token": csrf, "condition": "depression"},
        follow_redirects=False,
    ).headers["location"]
    proposed = api.client.get(plan).text
    assert f'Signing as <strong title="{PRESCRIBER_EMAIL}" data-me>{PRESCRIBER}</strong>.' in (
        proposed
    )
    for page in (overriding.text, proposed):
        assert f'<span class="who">{me} · ' in page
        assert PRESCRIBER_EMAIL not in _shown(page)
    me_in_the_api = api.client.get("/api/v1/auth/me", headers=api.as_role("prescriber")).json()
    assert me_in_the_api["email"] == PRESCRIBER_EMAIL

    api.client.cookies.clear()
    _sign_in(api.client, "nurse")  # no name on her account: her e-mail
    header = f'<span class="who"><span title="{NURSE_EMAIL}" data-me>{NURSE_EMAIL}</span>'
    assert header in api.client.get("/patients").text
