"""The clinic's whole journey in a real browser, one step after another, a screenshot each.

the admin changes the price per session → sign in → new patient entered in pounds (checked as
typed) → screening with an interaction warning → plan → soft-limit override by the prescriber →
the order signed (a wrong password refused first) → course at the new price → session console with a pause and a rate change → the next dose
suggested and accepted → a PHQ-9 entered from paper → questionnaire through the patient link
(on a phone) → the new scores on the outcome chart.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import Browser, Page, expect

from .conftest import EMAILS, PASSWORD, Server, Shots

TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}


def _sign_in(page: Page, server: Server, role: str) -> None:
    page.goto(f"{server.base_url}/patients")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    page.get_by_label("E-mail").fill(EMAILS[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()


def _answer_link(browser: Browser, link: str, answers: list[int], shots: Shots, step: str) -> None:
    """The patient, on a phone and signed in nowhere, answers the PHQ-9 through the link."""
    phone = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    page = phone.new_page()
    page.goto(link)
    expect(page.get_by_role("heading", name=re.compile("PHQ-9"))).to_be_visible()
    shots.take(page, f"{step}-link")
    for item, answer in enumerate(answers, start=1):
        page.locator(f'input[name="item{item}"][value="{answer}"]').check()
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("heading", name=re.compile("Thank you"))).to_be_visible()
    shots.take(page, f"{step}-answered")
    phone.close()


def _make_link(page: Page, shots: Shots, step: str) -> str:
    page.get_by_role("button", name="Make a questionnaire link").click()
    link = page.locator("#patient-link").input_value()
    assert "/q/" in link
    shots.take(page, f"{step}-link-made")
    return link


def test_the_whole_journey_from_sign_in_to_the_new_score_on_the_chart(
    server: Server, chromium: Browser, shots: Shots
) -> None:
    # The admin sets the clinic's price per session; every course is costed at it.
    admin = chromium.new_context(viewport=TABLET, device_scale_factor=1)
    settings = admin.new_page()
    settings.set_default_timeout(10_000)
    _sign_in(settings, server, "admin")
    settings.get_by_role("link", name="Settings").click()
    settings.get_by_label("Price per session (USD)").fill("650")
    settings.get_by_role("button", name="Save settings").click()
    expect(settings.get_by_role("status")).to_contain_text("Saved.")
    expect(settings.get_by_label("Price per session (USD)")).to_have_value("650")
    shots.take(settings, "clinic-settings-saved")
    admin.close()

    context = chromium.new_context(viewport=TABLET, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(10_000)

    # Sign in (the prescriber: the override is theirs).
    page.goto(f"{server.base_url}/")
    shots.take(page, "sign-in")
    _sign_in(page, server, "prescriber")

    # New patient, weight in pounds; a weight without a unit is refused beside the field first.
    page.get_by_role("link", name="New patient").click()
    page.get_by_label("Full name").fill("Jordan Rivera")
    page.get_by_label("Age (years)").fill("42")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Height, with its unit").fill("5 ft 9 in")
    page.get_by_label("Weight, with its unit").fill("180 kg")
    # Checked as typed, by the server's own parser: 180 "kg" at 5 ft 9 in is probably pounds.
    expect(page.locator('[data-error-for="weight"]')).to_contain_text("was in pounds")
    shots.take(page, "intake-live-check")
    page.get_by_label("Weight, with its unit").fill("176")
    expect(page.locator('[data-error-for="weight"]')).to_contain_text("no unit")
    page.get_by_label("Medications, one a line").fill("alprazolam 0.5 mg\nLamictal 100 mg")
    page.get_by_role("button", name="Register patient").click()
    expect(page.locator('[data-error-for="weight"]')).to_contain_text("no unit")
    shots.take(page, "intake-refused")
    page.get_by_label("Weight, with its unit").fill("176 lb")
    page.get_by_role("button", name="Register patient").click()
    expect(page.get_by_role("heading", name="Jordan Rivera")).to_be_visible()
    expect(page.get_by_text("79.8")).to_be_visible()  # 176 lb in kg
    patient_url = page.url
    shots.take(page, "patient")

    # Baseline PHQ-9 through a patient link (PHQ-9 19).
    baseline = _make_link(page, shots, "baseline")
    _answer_link(chromium, baseline, [2, 3, 2, 2, 3, 3, 2, 2, 0], shots, "baseline")

    # Screening: alprazolam is a benzodiazepine, a caution with its reason.
    page.get_by_label("Screen for").select_option("depression")
    page.get_by_role("button", name="Screen").click()
    caution = page.locator(".findings.caution")
    expect(caution).to_contain_text("interaction.benzodiazepine")
    expect(caution).to_contain_text("alprazolam")
    shots.take(page, "screening")

    # Plan with a dose past the soft limit: refused until the prescriber gives a reason.
    page.get_by_role("link", name="Plan a dose").click()
    page.get_by_label("Condition").select_option("depression")
    page.get_by_label("Requested dose (mg/kg), optional").fill("0.9")
    page.get_by_role("button", name="Work out the plan").click()
    expect(page.locator('[data-error-for="override_reason"]')).to_contain_text("reason")
    shots.take(page, "override-needed")
    page.get_by_label("Reason for the override (required)").fill("partial response at 0.75 mg/kg")
    page.get_by_role("button", name="Work out the plan").click()
    expect(page.locator("#override")).to_contain_text("partial response at 0.75 mg/kg")
    expect(page.locator("#verdict")).to_have_text("caution")
    expect(page.locator("#explanation")).to_contain_text("protocol.start")
    # A proposed order: no preparation card or pump program until the prescriber signs it.
    expect(page.locator("#order-status")).to_contain_text("proposed")
    expect(page.locator("#pump-withheld")).to_be_visible()
    expect(page.locator("#preparation-card")).to_have_count(0)
    shots.take(page, "plan-proposed")
    page.get_by_label("Your password (entered again to sign)").fill("not my password at all")
    page.get_by_role("button", name="Sign order").click()
    expect(page.locator('[data-error-for="password"]')).to_contain_text("password is wrong")
    expect(page.locator("#order-status")).to_contain_text("proposed")
    page.get_by_label("Your name as signed").fill("Dr Sam Okafor")
    page.get_by_label("Your password (entered again to sign)").fill(PASSWORD)
    page.get_by_role("button", name="Sign order").click()
    expect(page.locator("#order-status")).to_contain_text("signed, active")
    expect(page.locator("#order")).to_contain_text("Signed by Dr Sam Okafor")
    expect(page.locator('[data-prep="pump_rate_ml_per_h"]')).to_contain_text("mL/h")
    expect(page.locator('[data-prep="signed"]')).to_contain_text("Dr Sam Okafor")
    shots.take(page, "plan")
    page.get_by_role("link", name="Printable preparation card").click()
    expect(page.locator("#preparation-card")).to_contain_text("Draw")
    page.emulate_media(media="print")
    shots.take(page, "preparation-card-print")
    page.emulate_media(media="screen")
    page.go_back()

    # Course from next Monday: calendar and cost.
    today = date.today()
    monday = today + timedelta(days=7 - today.weekday())
    page.get_by_label("First session").fill(monday.isoformat())
    page.get_by_role("button", name="Schedule course").click()
    expect(page.locator("#course-cost")).to_have_text("$3,900")  # 6 at the admin's $650
    expect(page.locator("#course-calendar td.session")).to_have_count(6)
    course_url = page.url
    shots.take(page, "course")

    # Session console: check-in, start, pause, resume, rate change, a high BP, stop.
    page.get_by_role("button", name="Open session 1").click()
    expect(page.locator("#state")).to_have_text("checked in")
    page.get_by_label("Systolic (mmHg)").fill("128")
    page.get_by_label("Diastolic (mmHg)").fill("82")
    page.get_by_label("Heart rate (bpm)").fill("74")
    page.get_by_label("SpO₂ (%)").fill("98")
    page.get_by_role("button", name=re.compile("Check in")).click()
    # The bag's concentration is read off its label, never pre-filled: the order's is the hint.
    order_concentration = page.locator("#ev-start .hint")
    page.get_by_label("Bag label (mg/mL)").fill(order_concentration.first.inner_text().split()[1])
    page.get_by_role("button", name=re.compile("^Start")).click()
    expect(page.locator("#state")).to_have_text("infusing")
    page.wait_for_timeout(1200)
    expect(page.locator("#timer")).not_to_have_text("0:00")  # the timer runs between events
    page.keyboard.press("p")  # keyboard: P pauses
    expect(page.locator("#state")).to_have_text("paused")
    shots.take(page, "console-paused")
    page.get_by_role("button", name=re.compile("Resume")).click()
    expect(page.locator("#state")).to_have_text("infusing")
    page.get_by_label("New rate (mL/h)").fill("abc")
    page.get_by_role("button", name=re.compile("Change rate")).click()
    expect(page.locator('[data-error-for="rate_ml_per_h"]').first).to_contain_text("not a number")
    page.get_by_label("New rate (mL/h)").fill("120")
    page.get_by_role("button", name=re.compile("Change rate")).click()
    expect(page.locator("#rate")).to_have_text("120")
    page.get_by_label("Systolic (mmHg)").fill("184")
    page.get_by_label("Diastolic (mmHg)").fill("104")
    page.get_by_role("button", name=re.compile("Record vitals")).click()
    expect(page.locator('[data-alert="vitals.in_sbp_hold"]')).to_contain_text("Pause")
    shots.take(page, "console-alert")
    page.get_by_role("button", name=re.compile("^Stop")).click()
    page.get_by_label("Planned dose completed").check()
    page.get_by_role("button", name="Confirm stop").click()
    expect(page.locator("#state")).to_have_text("stopped")
    shots.take(page, "console-stopped")

    # The next dose: suggested from the finished session, accepted by the prescriber.
    page.goto(course_url)
    page.get_by_role("button", name="Recommend next dose").click()
    expect(page.locator("#titration-reasons li").first).to_be_visible()
    suggested = page.locator("#titration-dose").inner_text()
    page.get_by_label("Your password (entered again to sign)").fill(PASSWORD)
    page.get_by_role("button", name=re.compile(r"^Accept ")).click()
    expect(page.locator("#titration-decision")).to_contain_text("Accepted")
    expect(page.locator("#titration-decision")).to_contain_text(suggested)
    shots.take(page, "titration-accepted")

    # A PHQ-9 the patient filled in on paper after the session, entered by the prescriber.
    page.goto(patient_url)
    page.get_by_role("link", name="Enter a questionnaire").click()
    page.get_by_label("Course (optional)").select_option(index=1)
    for item, answer in enumerate([2, 2, 1, 2, 1, 2, 1, 1, 0], start=1):
        page.locator(f'input[name="item{item}"][value="{answer}"]').check()
    shots.take(page, "questionnaire-from-paper")
    page.get_by_role("button", name="Save the answers").click()
    expect(page.locator('#outcome-chart circle[data-total="12"]')).to_be_visible()

    # The patient answers again on the phone; the new score is on the chart.
    follow_up = _make_link(page, shots, "follow-up")
    _answer_link(chromium, follow_up, [1, 1, 1, 1, 0, 1, 1, 1, 0], shots, "follow-up-2")
    page.reload()
    expect(page.locator('#outcome-chart circle[data-scale="phq9"]')).to_have_count(3)
    expect(page.locator('#outcome-chart circle[data-total="7"]')).to_be_visible()
    expect(page.locator("#outcomes")).to_contain_text("PHQ9 19 → 7")
    expect(page.locator('[data-badge="response"]')).to_be_visible()
    expect(page.locator("#outcome-chart rect[data-dose]")).to_have_count(1)
    shots.take(page, "outcome-chart")
    context.close()
