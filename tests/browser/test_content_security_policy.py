"""The Content-Security-Policy in a real browser (issue 14, item 7): the pages work under it
with nothing blocked, and another site cannot frame them."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, ConsoleMessage, expect

from .conftest import EMAILS, PASSWORD, Server


def test_the_pages_break_no_rule_of_the_policy(server: Server, chromium: Browser) -> None:
    page = chromium.new_page()
    page.set_default_timeout(10_000)
    blocked: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            blocked.append(message.text)

    page.on("console", note)
    page.goto(f"{server.base_url}/sign-in")
    page.get_by_label("E-mail").fill(EMAILS["nurse"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    page.goto(f"{server.base_url}/patients/new")
    page.get_by_label("Full name").fill("Policy Check")
    page.get_by_label("Age (years)").fill("42")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Height, with its unit").fill("175 cm")
    page.get_by_label("Weight, with its unit").fill("80")  # checked as typed by /static/app.js
    page.get_by_label("Age (years)").click()
    expect(page.locator('[data-error-for="weight"]')).not_to_be_empty()
    page.get_by_label("Weight, with its unit").fill("80 kg")
    page.get_by_role("button", name="Register patient").click()
    expect(page.get_by_role("heading", name="Policy Check")).to_be_visible()
    page.get_by_role("button", name="Make a questionnaire link").click()
    link = page.locator("#patient-link")
    link.focus()  # selected on focus by /static/app.js (was an inline handler)
    selected = page.evaluate(
        "() => { const f = document.getElementById('patient-link');"
        " return f.selectionEnd - f.selectionStart; }"
    )
    assert selected == len(link.input_value())
    page.goto(f"{server.base_url}/patients")
    page.goto(f"{server.base_url}/patients/99999")
    expect(page.get_by_role("link", name="Go back")).to_be_visible()
    page.get_by_role("link", name="Go back").click()  # history.back() from /static/app.js
    expect(page).to_have_url(re.compile(r"/patients$"))
    assert blocked == []
    page.close()


def test_another_site_cannot_frame_a_page(server: Server, chromium: Browser) -> None:
    page = chromium.new_page()
    page.set_content(f'<iframe id="framed" src="{server.base_url}/sign-in"></iframe>')
    page.wait_for_timeout(500)  # the frame's navigation is refused, not awaited
    framed = [f for f in page.frames if f != page.main_frame]
    assert framed
    assert all("Sign in" not in f.content() for f in framed)
    page.close()
