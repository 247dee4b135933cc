"""The admin's pages in a real browser (issue 18, item 4): add a member of staff (a first try
with every field wrong shows every field's error at once), change their role, filter the audit
trail by them and see their actions in plain words with the code in a tooltip, then download
the filtered trail as CSV.
"""

from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import Browser, Page, expect

from .conftest import EMAILS, PASSWORD, TABLETS, Server, Shots

NEW_EMAIL = "robin@bay.example"
NEW_PASSWORD = "a long initial passphrase"


def _signed_in(chromium: Browser, server: Server, email: str, password: str, path: str) -> Page:
    page = chromium.new_context(viewport=TABLETS["landscape"], accept_downloads=True).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.base_url}{path}")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    return page


def test_an_admin_adds_a_member_changes_their_role_and_reads_and_downloads_their_trail(
    chromium: Browser, server: Server, shots: Shots
) -> None:
    admin = _signed_in(chromium, server, EMAILS["admin"], PASSWORD, "/staff")
    expect(admin.get_by_role("heading", name="Staff", exact=True)).to_be_visible()
    form = admin.locator("#add-member-form")

    # Every field wrong at once: each says what is wrong, beside it; nothing is added.
    form.get_by_label("E-mail").fill("robin at bay")
    form.get_by_label("Initial password").fill("short")
    form.get_by_role("button", name="Add member of staff").click()
    expect(admin.get_by_role("alert").filter(has_text="4 fields need attention")).to_be_visible()
    for field, words in (
        ("full_name", "give the member of staff's name"),
        ("email", "is not an e-mail address"),
        ("role", "is not one of"),
        ("password", "12 to 1024 characters"),
    ):
        expect(admin.locator(f'[data-error-for="{field}"]')).to_contain_text(words)
    expect(form.get_by_label("E-mail")).to_have_value("robin at bay")
    expect(form.get_by_label("Initial password")).to_have_value("")
    shots.take(admin, "add-refused")

    form = admin.locator("#add-member-form")
    form.get_by_label("Name").fill("Robin Reyes")
    form.get_by_label("E-mail").fill(NEW_EMAIL)
    form.get_by_label("Role").select_option("nurse")
    form.get_by_label("Initial password").fill(NEW_PASSWORD)
    form.get_by_role("button", name="Add member of staff").click()
    expect(admin.get_by_role("status")).to_contain_text(f"{NEW_EMAIL} is added as nurse")
    row = admin.locator("#staff-list tr", has_text=NEW_EMAIL)
    expect(row).to_contain_text("Robin Reyes")
    user_id = row.get_attribute("data-user-id")
    assert user_id is not None

    # The new member signs in with the initial password and opens a page (in the trail).
    robin = _signed_in(chromium, server, NEW_EMAIL, NEW_PASSWORD, "/patients")
    expect(robin).to_have_url(re.compile(r"/patients$"))
    robin.context.close()

    # Change their role.
    row = admin.locator(f"#user-{user_id}")
    row.get_by_label("Role").select_option("prescriber")
    row.get_by_role("button", name="Change role").click()
    expect(admin.get_by_role("status")).to_contain_text(f"{NEW_EMAIL} is now prescriber")
    shots.take(admin, "staff-after-role-change")

    # The audit trail, filtered by that member of staff.
    admin.get_by_role("link", name="Audit trail", exact=True).click()
    expect(admin.get_by_role("heading", name="Audit trail")).to_be_visible()
    admin.get_by_label("Member of staff").select_option(user_id)
    admin.get_by_role("button", name="Show").click()
    events = admin.locator("#audit-events tbody tr")
    expect(events.first).to_contain_text("Robin Reyes")  # named; the e-mail in the tooltip
    expect(events.first.locator("[data-actor]")).to_have_attribute("title", NEW_EMAIL)
    actions = admin.locator("#audit-events [data-action]")
    codes = {actions.nth(i).get_attribute("data-action") for i in range(actions.count())}
    assert "auth.sign_in" in codes, codes
    signed_in = admin.locator('#audit-events [data-action="auth.sign_in"]').first
    expect(signed_in).to_have_text("Sign-in: signed in")  # plain words on the page...
    expect(signed_in).to_have_attribute("title", "auth.sign_in")  # ...the code in the tooltip
    for i in range(events.count()):  # only their events
        expect(events.nth(i).locator("[data-actor]")).to_have_attribute("title", NEW_EMAIL)
    shots.take(admin, "audit-by-user")

    # The admin's own actions about them are another filter: the role change, by the admin.
    admin.get_by_label("Member of staff").select_option("")
    admin.get_by_label("Action").select_option("user.change_role")
    admin.get_by_role("button", name="Show").click()
    by = admin.locator("#audit-events tbody tr").first.locator("[data-actor]")
    expect(by).to_have_attribute("title", EMAILS["admin"])
    expect(admin.locator("#audit-events tbody tr").first).to_contain_text(
        "Staff account: role changed"
    )

    # Download the trail filtered by the new member as CSV.
    admin.get_by_label("Action").select_option("")
    admin.get_by_label("Member of staff").select_option(user_id)
    admin.get_by_role("button", name="Show").click()
    with admin.expect_download() as downloading:
        admin.locator("#audit-csv").click()
    download = downloading.value
    assert download.suggested_filename == "ketaplan-audit-trail.csv"
    path = download.path()
    assert path is not None
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows
    assert {row["actor"] for row in rows} == {NEW_EMAIL}
    assert "auth.sign_in" in {row["action"] for row in rows}
    seqs = [int(row["seq"]) for row in rows]
    assert seqs == sorted(seqs)  # oldest first
