"""A questionnaire by e-mail, in a real browser (issue 18 item 6).

The nurse e-mails a PHQ-9 link from the patient page (its QR code shown beside it);
``ketaplan outbox send`` delivers it to a local SMTP server (aiosmtpd on 127.0.0.1); the patient
opens the link from the e-mail on a 390×844 phone, answers item 9 above 0 and reads the clinic's
crisis message (988 by default); the nurse sees the flag on the dashboard and the patient page,
and marks it reviewed with a note; the e-mail shows as sent.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect
from tests.service.smtp_capture import smtp_server

from ketaplan.cli import main
from ketaplan.services import PatientDetails, create_patient, load_actor

from .conftest import EMAILS, PASSWORD, Server, Shots

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 1024, "height": 768}
ADDRESS = "robin.patient@example.org"
ITEM_9_ABOVE_ZERO = [1, 2, 1, 1, 0, 1, 1, 0, 2]


def _patient(server: Server) -> int:
    uow = server.context.unit_of_work()
    nurse = load_actor(uow, EMAILS["nurse"], origin="test")
    details = PatientDetails(
        full_name="Robin Lane", weight="70 kg", height="170 cm", age_years=35, sex="female"
    )
    return create_patient(uow, details, actor=nurse, catalog=server.context.catalog).patient_id


def test_a_patient_answers_an_e_mailed_link_on_a_phone_and_the_nurse_reviews_the_flag(
    chromium: Browser, server: Server, shots: Shots, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient_id = _patient(server)
    staff = chromium.new_context(viewport=TABLET, device_scale_factor=1).new_page()
    staff.set_default_timeout(10_000)
    staff.goto(f"{server.base_url}/patients/{patient_id}")
    staff.get_by_label("E-mail").fill(EMAILS["nurse"])
    staff.get_by_label("Password").fill(PASSWORD)
    staff.get_by_role("button", name="Sign in").click()
    expect(staff.get_by_role("heading", name="Robin Lane")).to_be_visible()

    # A wrong address is refused beside the field, and nothing is queued.
    staff.get_by_label("Patient's e-mail").fill("robin at example")
    staff.get_by_role("button", name="E-mail a questionnaire link").click()
    expect(staff.locator('[data-error-for="email"]')).to_contain_text("not an e-mail address")
    expect(staff.locator("#patient-emails")).to_have_count(0)

    staff.get_by_label("Patient's e-mail").fill(ADDRESS)
    staff.get_by_role("button", name="E-mail a questionnaire link").click()
    expect(staff.get_by_text(f"e-mailed to {ADDRESS}")).to_be_visible()
    expect(staff.locator("#patient-link-qr svg")).to_be_visible()
    expect(staff.locator("#patient-emails [data-status='queued']")).to_have_count(1)
    shots.take(staff, "link-emailed-with-qr")

    with smtp_server() as inbox:
        url = server.context.database.engine.url.render_as_string(hide_password=False)
        for name, value in {
            "KETAPLAN_DATABASE_URL": url,
            "KETAPLAN_SMTP_HOST": inbox.settings.host,
            "KETAPLAN_SMTP_PORT": str(inbox.settings.port),
            "KETAPLAN_SMTP_FROM": inbox.settings.sender,
            "KETAPLAN_SMTP_STARTTLS": "no",
        }.items():
            monkeypatch.setenv(name, value)
        assert main(["outbox", "send"]) == 0
        (mail,) = inbox.wait_for(1)
    assert mail["To"] == ADDRESS
    found = re.search(rf"{re.escape(server.base_url)}/q/\S+", mail.get_content())
    assert found is not None
    assert "Robin" not in mail.get_content()

    phone = chromium.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    patient = phone.new_page()
    patient.goto(found.group(0))
    expect(patient.get_by_role("heading", name=re.compile("PHQ-9"))).to_be_visible()
    for item, answer in enumerate(ITEM_9_ABOVE_ZERO, start=1):
        patient.locator(f'input[name="item{item}"][value="{answer}"]').check()
    patient.get_by_role("button", name="Send my answers").click()
    expect(patient.get_by_role("heading", name=re.compile("Thank you"))).to_be_visible()
    crisis = patient.locator("#crisis-message")
    expect(crisis).to_be_visible()
    expect(crisis).to_contain_text("call or text 988")
    assert patient.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shots.take(patient, "thank-you-with-crisis-message")
    phone.close()

    staff.goto(f"{server.base_url}/dashboard")
    expect(staff.locator("#item9-flags")).to_contain_text("Robin Lane")
    staff.goto(f"{server.base_url}/patients/{patient_id}")
    flag = staff.locator("[data-item9-flag]")
    expect(flag).to_contain_text("not reviewed yet")
    expect(staff.locator("#patient-emails [data-status='sent']")).to_have_count(1)
    shots.take(staff, "flag-to-review")
    flag.get_by_role("button", name="Mark reviewed").click()
    expect(flag.locator('[role="alert"][data-error-for]')).to_contain_text("say what was done")
    staff.locator("[data-item9-flag]").get_by_label("What was done").fill(
        "Called Robin at 10:40; no plan or intent; safety plan reviewed."
    )
    staff.locator("[data-item9-flag]").get_by_role("button", name="Mark reviewed").click()
    expect(staff.locator("[data-item9-flag]")).to_have_count(0)
    expect(staff.locator("[data-item9-reviewed]")).to_contain_text("safety plan reviewed")
    shots.take(staff, "flag-reviewed")
    staff.goto(f"{server.base_url}/dashboard")
    expect(staff.locator("#item9-flags")).to_have_count(0)
