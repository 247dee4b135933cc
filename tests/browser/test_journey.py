"""The clinic's path in a real browser, one step after another, a screenshot each.

The whole journey, on a 1024×768 tablet: the admin changes the price per session → sign in →
new patient entered in pounds (checked as typed) → screening with an interaction warning →
plan → soft-limit override by the prescriber → the order signed (a wrong password refused
first) → course at the new price → session console: pre-infusion vitals, start at the order's
bag, a pause, a rate change, a high BP, stop, recovery vitals, discharge with its checklist →
the next dose suggested and accepted, signed: the next session opens on that order's pump rate
and bag → a PHQ-9 entered from paper → questionnaire through the patient link (on a phone) →
the new scores on the outcome chart.

The clinical part of it again on a 768×1024 tablet, with the same steps (the helpers below):
new patient → plan → signed (a wrong password refused first) → course → the session console
from check-in to discharge → the prescriber overrides the suggested dose: the next session
opens on the new order's pump rate and bag, not the first order's.

Each test has its own server; the recovery time after the stop passes on the server's clock
(:class:`~tests.browser.conftest.Clock`), not in real time.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import Browser, Page, expect

from ketaplan.services import get_plan, load_actor
from ketaplan.web.rendering import number

from .conftest import EMAILS, PASSWORD, TABLETS, Server, Shots

PHONE = {"width": 390, "height": 844}
CHECKLIST = (
    "Recovery vitals within limits",
    "Oriented, walking steadily",
    "Escort present; no driving today",
)


def _tablet(chromium: Browser, size: str) -> Page:
    context = chromium.new_context(viewport=TABLETS[size], device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


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


def _intake(page: Page, name: str, weight: str) -> None:
    """The new-patient form filled in (not sent)."""
    page.get_by_role("link", name="New patient").click()
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Age (years)").fill("42")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Height, with its unit").fill("5 ft 9 in")
    page.get_by_label("Weight, with its unit").fill(weight)


def _register(page: Page, name: str) -> str:
    """Send the new-patient form; the patient page's address."""
    page.get_by_role("button", name="Register patient").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    return page.url


def _work_out_plan(page: Page, link: str, mg_per_kg: str = "") -> None:
    """Through ``link`` (the patient page's "New plan", the screening's "Plan a dose"): a
    depression plan, at the requested dose if one is given."""
    page.get_by_role("link", name=link).click()
    page.get_by_label("Condition").select_option("depression")
    if mg_per_kg:
        page.get_by_label("Requested dose (mg/kg), optional").fill(mg_per_kg)
    page.get_by_role("button", name="Work out the plan").click()


def _sign_order(page: Page, shots: Shots, step: str) -> int:
    """The proposed order on its page, signed by the prescriber: with no preparation card or
    pump program until then; a wrong password refused beside the field first (still proposed);
    then the name and the password re-entered. The order's id."""
    expect(page.locator("#order-status")).to_contain_text("proposed")
    expect(page.locator("#pump-withheld")).to_be_visible()
    expect(page.locator("#preparation-card")).to_have_count(0)
    shots.take(page, f"{step}-proposed")
    page.get_by_label("Your password (entered again to sign)").fill("not my password at all")
    page.get_by_role("button", name="Sign order").click()
    expect(page.locator('[data-error-for="password"]')).to_contain_text("password is wrong")
    expect(page.locator("#order-status")).to_contain_text("proposed")
    expect(page.locator("#preparation-card")).to_have_count(0)
    shots.take(page, f"{step}-wrong-password")
    page.get_by_label("Your name as signed").fill("Dr Sam Okafor")
    page.get_by_label("Your password (entered again to sign)").fill(PASSWORD)
    page.get_by_role("button", name="Sign order").click()
    expect(page.locator("#order-status")).to_contain_text("signed, active")
    expect(page.locator("#order")).to_contain_text("Signed by Dr Sam Okafor")
    expect(page.locator('[data-prep="pump_rate_ml_per_h"]')).to_contain_text("mL/h")
    expect(page.locator('[data-prep="signed"]')).to_contain_text("Dr Sam Okafor")
    shots.take(page, step)
    found = re.search(r"/plans/(\d+)", page.url)
    assert found is not None
    return int(found.group(1))


def _pump(server: Server, plan_id: int) -> tuple[float, float]:
    """The signed order's pump rate (mL/h) and bag (mg/mL), read through the services."""
    context = server.context
    prescriber = load_actor(context.unit_of_work(), EMAILS["prescriber"], origin="test")
    record = get_plan(context.unit_of_work(), plan_id, actor=prescriber)
    assert record.status == "active", record.status
    preparation = record.plan["preparation"]
    return preparation["pump_rate_ml_per_h"], preparation["final_mg_per_ml"]


def _schedule_course(page: Page, shots: Shots) -> str:
    """From the signed order's page, six sessions from next Monday; the course page's address."""
    today = date.today()
    monday = today + timedelta(days=7 - today.weekday())
    page.get_by_label("First session").fill(monday.isoformat())
    page.get_by_role("button", name="Schedule course").click()
    expect(page.locator("#course-calendar td.session")).to_have_count(6)
    shots.take(page, "course")
    return page.url


def _open_session(page: Page, course_url: str, session: int) -> None:
    page.goto(course_url)
    page.get_by_role("button", name=f"Open session {session}").click()
    expect(page.locator("#state")).to_have_text("checked in")


def _vitals(page: Page, systolic: int, diastolic: int, heart_rate: int, spo2: int) -> None:
    page.get_by_label("Systolic (mmHg)").fill(str(systolic))
    page.get_by_label("Diastolic (mmHg)").fill(str(diastolic))
    page.get_by_label("Heart rate (bpm)").fill(str(heart_rate))
    page.get_by_label("SpO₂ (%)").fill(str(spo2))


def _check_in_and_start(page: Page, pump: tuple[float, float]) -> None:
    """Pre-infusion vitals, then the start at the order's bag: the pump rate pre-filled from
    the order, the bag's concentration read off its label (the order's is only the hint)."""
    rate, concentration = pump
    _vitals(page, 128, 82, 74, 98)
    page.get_by_role("button", name=re.compile("Check in")).click()
    expect(page.get_by_label("Pump rate (mL/h)")).to_have_value(number(rate))
    expect(page.locator("#ev-start .hint")).to_have_text(f"order: {number(concentration, 4)} mg/mL")
    page.get_by_label("Bag label (mg/mL)").fill(number(concentration, 4))
    page.get_by_role("button", name=re.compile("^Start")).click()
    expect(page.locator("#state")).to_have_text("infusing")
    expect(page.locator("#rate")).to_have_text(number(rate))
    page.wait_for_timeout(1200)
    expect(page.locator("#timer")).not_to_have_text("0:00")  # the timer runs between events


def _pause_and_resume(page: Page, shots: Shots) -> None:
    page.keyboard.press("p")  # keyboard: P pauses
    expect(page.locator("#state")).to_have_text("paused")
    shots.take(page, "console-paused")
    page.get_by_role("button", name=re.compile("Resume")).click()
    expect(page.locator("#state")).to_have_text("infusing")


def _stop_recover_and_discharge(page: Page, server: Server, shots: Shots) -> None:
    """Stop (the planned dose completed); the recovery time passes on the server's clock;
    recovery vitals; discharge with the whole checklist, stored with who ticked it."""
    page.get_by_role("button", name=re.compile("^Stop")).click()
    page.get_by_label("Planned dose completed").check()
    page.get_by_role("button", name="Confirm stop").click()
    expect(page.locator("#state")).to_have_text("stopped")
    expect(page.locator("#discharge-blockers")).to_contain_text("discharge from")
    shots.take(page, "console-stopped")
    recovery = server.context.catalog.protocol("depression").recovery_min
    server.clock.advance(timedelta(minutes=recovery + 1))
    page.reload()
    _vitals(page, 122, 78, 70, 97)
    page.get_by_role("button", name=re.compile("Record vitals")).click()
    expect(page.locator("#discharge-blockers")).to_have_count(0)
    for box in CHECKLIST:
        page.get_by_label(box).check()
    page.get_by_role("button", name=re.compile("^Discharge")).click()
    expect(page.locator("#state")).to_have_text("discharged")
    discharge = page.locator("#chart tbody tr[data-seq]").first
    expect(discharge).to_contain_text("escort present: yes")
    expect(discharge).to_contain_text(EMAILS["prescriber"])
    shots.take(page, "console-discharged")


def _decide_next_dose(page: Page, course_url: str, shots: Shots, *, instead: str = "") -> int:
    """On the course page, the next dose suggested from the finished session and decided by
    the prescriber with their password: accepted, or ``instead`` another dose with a reason.
    The decision is the next order, signed; its id."""
    page.goto(course_url)
    page.get_by_role("button", name="Recommend next dose").click()
    expect(page.locator("#titration-reasons li").first).to_be_visible()
    suggested = page.locator("#titration-dose").inner_text()
    page.get_by_label("Your password (entered again to sign)").fill(PASSWORD)
    decision = page.locator("#titration-decision")
    if instead:
        page.get_by_label("Dose for the next session (mg/kg)").fill(instead)
        page.get_by_label("Clinical reason").fill("well tolerated; no response yet")
        page.get_by_role("button", name="Override and sign this dose").click()
        expect(decision).to_contain_text("Overridden")
        expect(decision).to_contain_text(f"{instead} mg/kg")
    else:
        page.get_by_role("button", name=re.compile(r"^Accept ")).click()
        expect(decision).to_contain_text("Accepted")
        expect(decision).to_contain_text(suggested)
    shots.take(page, "titration-decided")
    order = decision.get_by_role("link", name=re.compile("signed order"))
    found = re.search(r"/plans/(\d+)", order.get_attribute("href") or "")
    assert found is not None
    return int(found.group(1))


def _next_session_runs_on(
    page: Page, server: Server, course_url: str, plan_id: int
) -> tuple[float, float]:
    """Session 2 opened from the course charts against the decision's order: its pump rate
    pre-filled, its bag the hint, its rate in the pump readout. The order's (rate, bag)."""
    _open_session(page, course_url, 2)
    rate, concentration = _pump(server, plan_id)
    expect(page.locator(".crumbs")).to_contain_text(f"Order #{plan_id}")
    expect(page.get_by_label("Pump rate (mL/h)")).to_have_value(number(rate))
    expect(page.locator("#ev-start .hint")).to_have_text(f"order: {number(concentration, 4)} mg/mL")
    expect(page.locator("#controlbar")).to_contain_text(f"order {number(rate)}")
    return rate, concentration


def test_the_whole_journey_from_sign_in_to_the_new_score_on_the_chart(
    server: Server, chromium: Browser, shots: Shots
) -> None:
    # The admin sets the clinic's price per session; every course is costed at it.
    settings = _tablet(chromium, "landscape")
    _sign_in(settings, server, "admin")
    settings.get_by_role("link", name="Settings").click()
    settings.get_by_label("Price per session (USD)").fill("650")
    settings.get_by_role("button", name="Save settings").click()
    expect(settings.get_by_role("status")).to_contain_text("Saved.")
    expect(settings.get_by_label("Price per session (USD)")).to_have_value("650")
    shots.take(settings, "clinic-settings-saved")
    settings.context.close()

    # Sign in (the prescriber: the override is theirs).
    page = _tablet(chromium, "landscape")
    page.goto(f"{server.base_url}/")
    shots.take(page, "sign-in")
    _sign_in(page, server, "prescriber")

    # New patient, weight in pounds; a weight without a unit is refused beside the field first.
    _intake(page, "Jordan Rivera", "180 kg")
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
    patient_url = _register(page, "Jordan Rivera")
    expect(page.get_by_text("79.8")).to_be_visible()  # 176 lb in kg
    shots.take(page, "patient")

    # Baseline PHQ-9 through a patient link (PHQ-9 19).
    baseline = _make_link(page, shots, "baseline")
    _answer_link(chromium, baseline, [2, 3, 2, 2, 3, 3, 2, 2, 0], shots, "baseline")

    # Screening: alprazolam is a benzodiazepine, a caution with its reason.
    page.get_by_label("Screen for").select_option("depression")
    page.get_by_role("button", name="Screen").click()
    caution = page.locator(".findings.caution")
    expect(caution).to_contain_text("Interaction: Benzodiazepines")
    expect(caution).to_contain_text("alprazolam")
    shots.take(page, "screening")

    # Plan with a dose past the soft limit: refused until the prescriber gives a reason.
    _work_out_plan(page, "Plan a dose", "0.9")
    expect(page.locator('[data-error-for="override_reason"]')).to_contain_text("reason")
    shots.take(page, "override-needed")
    page.get_by_label("Reason for the override (required)").fill("partial response at 0.75 mg/kg")
    page.get_by_role("button", name="Work out the plan").click()
    expect(page.locator("#override")).to_contain_text("partial response at 0.75 mg/kg")
    expect(page.locator("#verdict")).to_have_text("caution")
    expect(page.locator("#explanation")).to_contain_text("Protocol starting dose")
    # A proposed order, signed by the prescriber (a wrong password refused first).
    first_order = _sign_order(page, shots, "plan")
    first_pump = _pump(server, first_order)
    page.get_by_role("link", name="Printable preparation card").click()
    expect(page.locator("#preparation-card")).to_contain_text("Draw")
    page.emulate_media(media="print")
    shots.take(page, "preparation-card-print")
    page.emulate_media(media="screen")
    page.go_back()

    # Course from next Monday: calendar and cost.
    course_url = _schedule_course(page, shots)
    expect(page.locator("#course-cost")).to_have_text("$3,900")  # 6 at the admin's $650

    # Session console: check-in, start at the order's bag, pause, resume, rate change, a high
    # BP, stop, recovery vitals, discharge.
    _open_session(page, course_url, 1)
    _check_in_and_start(page, first_pump)
    _pause_and_resume(page, shots)
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
    _stop_recover_and_discharge(page, server, shots)

    # The next dose: suggested from the finished session, accepted and signed by the
    # prescriber; session 2 opens on that order's pump rate and bag.
    next_order = _decide_next_dose(page, course_url, shots)
    assert next_order != first_order
    next_pump = _next_session_runs_on(page, server, course_url, next_order)
    # Poorly tolerated (a high BP): 0.75 mg/kg after 0.9, so a new pump rate and bag.
    expect(page.locator("#controlbar")).not_to_contain_text(f"order {number(first_pump[0])})")
    assert next_pump[0] != first_pump[0]
    assert next_pump[1] != first_pump[1]
    shots.take(page, "next-session")

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
    expect(page.locator("#outcomes")).to_contain_text("PHQ-9 19 → 7")
    expect(page.locator('[data-badge="response"]')).to_be_visible()
    expect(page.locator("#outcome-chart rect[data-dose]")).to_have_count(1)
    shots.take(page, "outcome-chart")
    page.context.close()


def test_the_clinical_path_on_a_portrait_tablet_with_a_titration_into_the_next_order(
    server: Server, chromium: Browser, shots: Shots
) -> None:
    page = _tablet(chromium, "portrait")
    _sign_in(page, server, "prescriber")
    _intake(page, "Avery Chen", "165 lb")
    _register(page, "Avery Chen")
    shots.take(page, "patient")
    _work_out_plan(page, "New plan")
    first_order = _sign_order(page, shots, "plan")
    first_pump = _pump(server, first_order)
    course_url = _schedule_course(page, shots)

    _open_session(page, course_url, 1)
    _check_in_and_start(page, first_pump)
    _pause_and_resume(page, shots)
    _stop_recover_and_discharge(page, server, shots)

    # The prescriber chooses another dose than the suggestion: the next order is at that dose,
    # and session 2's pump program is the new order's, not the first's.
    next_order = _decide_next_dose(page, course_url, shots, instead="0.6")
    next_pump = _next_session_runs_on(page, server, course_url, next_order)
    assert next_pump[0] != first_pump[0]
    assert next_pump[1] != first_pump[1]
    expect(page.get_by_label("Pump rate (mL/h)")).not_to_have_value(number(first_pump[0]))
    shots.take(page, "next-session")
    page.context.close()
