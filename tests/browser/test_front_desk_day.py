"""The front desk's day in a real browser (issue 18): book a course on a signed order at a day,
time and chair; move one session with a reason; cancel another; book a booster on the day
suggested; watch the chair board change without reloading when a nurse starts an infusion.

The orders are signed and the infusion charted through the services (other tests drive those
pages); every booking step is done on the pages, as the front desk, who sees no clinical fact.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from playwright.sync_api import Browser, Page, expect

from ketaplan.services import (
    PatientDetails,
    PlanOrder,
    append_session_event,
    create_patient,
    create_plan,
    load_actor,
    open_session,
    schedule_course,
    sign_order,
)

from .conftest import EMAILS, PASSWORD, TABLETS, Server, Shots


def _open_day_at_ten(server: Server) -> date:
    """Move the server's clock on to 10:00 on the next day the clinic is open."""
    calendar = server.context.calendar
    now = server.clock().astimezone(calendar.zone)
    day = now.date() + timedelta(days=1)
    while not calendar.is_open(day):
        day += timedelta(days=1)
    server.clock.advance(datetime.combine(day, time(10, 0), calendar.zone) - now)
    return day


def _signed_patient(server: Server, name: str) -> int:
    context = server.context
    nurse = load_actor(context.unit_of_work(), EMAILS["nurse"], origin="test")
    prescriber = load_actor(context.unit_of_work(), EMAILS["prescriber"], origin="test")
    patient = create_patient(
        context.unit_of_work(),
        PatientDetails(full_name=name, weight="80 kg", height="175 cm", age_years=40, sex="female"),
        actor=nurse,
        catalog=context.catalog,
    )
    proposed = create_plan(
        context.unit_of_work(),
        patient.patient_id,
        PlanOrder("depression"),
        actor=prescriber,
        policy=context.policy,
        resolver=context.resolver,
    )
    sign_order(context.unit_of_work(), proposed.plan_id, password=PASSWORD, actor=prescriber)
    return patient.patient_id


def _front_desk(chromium: Browser, server: Server, path: str) -> Page:
    page = chromium.new_context(viewport=TABLETS["landscape"]).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.base_url}{path}")
    page.get_by_label("E-mail").fill(EMAILS["front_desk"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def test_the_front_desk_books_moves_cancels_and_watches_the_chairs(
    chromium: Browser, server: Server, shots: Shots
) -> None:
    day = _open_day_at_ten(server)
    context = server.context
    nurse = load_actor(context.unit_of_work(), EMAILS["nurse"], origin="test")
    in_chair = _signed_patient(server, "Blair Inchair")
    booked_today = schedule_course(
        context.unit_of_work(),
        in_chair,
        condition="depression",
        first_day=day,
        actor=nurse,
        policy=context.policy,
        start_time=time(9, 0),
        chair=1,
    )
    _signed_patient(server, "Casey Newcomer")

    page = _front_desk(chromium, server, "/patients")
    # The name opens the registration; the row's "bookings" link the bookings.
    page.get_by_role("row", name=re.compile("Casey Newcomer")).get_by_role(
        "link", name="bookings"
    ).click()
    expect(page.get_by_role("heading", name="Bookings for Casey Newcomer")).to_be_visible()
    # A taken chair is refused on the form, nothing booked.
    page.locator("#book-day").fill(day.isoformat())
    page.locator("#book-time").select_option("09:00")
    page.locator("#book-chair").select_option("1")
    page.locator("#book-course-submit").click()
    expect(page.locator("#book-course .error")).to_contain_text("chair 1 is taken")
    expect(page.locator("section.course-bookings")).to_have_count(0)
    shots.take(page, "chair-taken")
    # Book the series at 13:00 in chair 2.
    page.locator("#book-time").select_option("13:00")
    page.locator("#book-chair").select_option("2")
    page.locator("#book-course-submit").click()
    course = page.locator("section.course-bookings")
    expect(course).to_have_count(1)
    course_id = (course.get_attribute("id") or "").removeprefix("course-")
    expect(course.locator("td.chair").first).to_have_text("Chair 2")
    expect(course.locator("td.chair", has_text="Chair 2")).to_have_count(6)
    shots.take(page, "course-booked")

    # Move session 2 to 11:00 with a reason.
    row = page.locator(f"#booking-{course_id}-2")
    row.locator("summary", has_text="Move").click()
    row.locator(f"#move-{course_id}-2-time").select_option("11:00")
    row.locator(f"#move-{course_id}-2-reason").fill("school run moved")
    row.get_by_role("button", name="Move session 2").click()
    expect(page.locator(f"#booking-{course_id}-2 td.when")).to_contain_text("11:00")
    expect(page.locator(f"#history-{course_id}")).to_contain_text("Reason: school run moved")

    # Cancel session 3: without a reason it is refused, then with one.
    row = page.locator(f"#booking-{course_id}-3")
    row.locator("summary", has_text="Cancel").click()
    row.get_by_role("button", name="Cancel session 3").click()
    expect(page.locator(f"#booking-{course_id}-3 .error")).to_contain_text("give the reason")
    row = page.locator(f"#booking-{course_id}-3")
    row.locator(f"#cancel-{course_id}-3-reason").fill("away for a funeral")
    row.get_by_role("button", name="Cancel session 3").click()
    expect(page.locator(f"#history-{course_id}")).to_contain_text("Reason: away for a funeral")
    expect(page.locator(f"#history-{course_id}")).to_contain_text("session 3 on")
    shots.take(page, "moved-and-cancelled")

    # Book the first suggested booster.
    page.locator(".booster-form").first.get_by_role("button", name="Book this booster").click()
    expect(page.locator(f"#course-{course_id} td").filter(has_text="(booster)")).to_have_count(1)
    expect(page.locator(f"#history-{course_id}")).to_contain_text("booster (session 7) booked")
    text = page.content().lower()
    assert "depression" not in text
    assert " mg" not in text
    shots.take(page, "booster-booked")

    # The chair board: Blair is booked in chair 1; a nurse starts the infusion; the board
    # follows without a reload.
    board = _front_desk(chromium, server, "/board")
    blocked: list[str] = []
    board.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    slot = board.locator("#chair-1 .slot").first
    expect(slot).to_have_attribute("data-state", "booked")
    expect(board.locator("#chair-2 .slot")).to_have_count(1)  # Casey at 13:00
    shots.take(board, "board-before", doc=None)
    chart = open_session(
        context.unit_of_work(),
        in_chair,
        condition="depression",
        actor=nurse,
        policy=context.policy,
        course_id=booked_today.course_id,
        number=1,
    )
    at = context.clock().astimezone(context.calendar.zone)
    for seq, event in enumerate(
        [
            {"at": (at - timedelta(minutes=6)).isoformat(), "type": "check_in", "systolic": 126,
             "diastolic": 80, "heart_rate": 70, "spo2": 98, "resp_rate": 14},
            {"at": (at - timedelta(minutes=2)).isoformat(), "type": "start",
             "rate_ml_per_h": 150, "concentration_mg_per_ml": 0.354},
        ]
    ):  # fmt: skip
        append_session_event(
            context.unit_of_work(),
            chart.session_id,
            event,
            expected_seq=seq,
            actor=nurse,
            policy=context.policy,
        )
    expect(slot).to_have_attribute("data-state", "infusing", timeout=15_000)
    expect(slot).to_contain_text(re.compile(r"\d+ min since start"))
    expect(slot).not_to_contain_text("mg")
    assert blocked == []  # the polling script runs under the policy
    shots.take(board, "board-infusing", doc="chair-board")
    board.set_viewport_size({"width": 1920, "height": 1080})  # the wall screen
    shots.take(board, "board-wall-screen")
