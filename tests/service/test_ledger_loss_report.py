"""The loss report (DEA Form 106 cases) and the clinic's DEA number in every ledger CSV.

A case shows when it was discovered, both clocks (the written notice by the end of the next
business day, the form within 45 days), whether each was met, its notes and its resolution; the
report is the same text from the command line, the API and the page, and its read is audited.
Every CSV report carries the clinic's DEA registration in a ``dea_registration`` column on every
row (blank until the clinic records one), never as a line above the headings.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ketaplan.cli import main
from ketaplan.clinical.catalog import Catalog
from ketaplan.export.pdf import ledger_report_pdf
from ketaplan.services import Actor, UnitOfWork, load_actor
from ketaplan.services.ledger import Supplier, VialIn, receive_vials
from ketaplan.services.ledger_loss import record_loss_step
from ketaplan.services.ledger_printing import printable_report, report_csv
from ketaplan.services.ledger_records import REPORTS, report
from ketaplan.store import Database
from ketaplan.store.models import Clinic

from .conftest import PASSWORD, ROLE_EMAILS, Api, post_sign_in
from .pdf_pages import read_pdf

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # Monday 7 December, 18:00 in the clinic
THURSDAY_EVENING = NOW - timedelta(days=4)  # Thursday 3 December, 18:00 in Los Angeles
SUPPLIER = Supplier("Cardinal Health", "7000 Cardinal Pl, Dublin OH", "RC0123456", "INV-881")


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


def _cases(uow: UnitOfWork, nurse: Actor, admin: Actor) -> tuple[int, int]:
    """A loss found Thursday evening: notice sent Friday, Form 106 filed, a note, resolved.
    A theft found Monday afternoon: nothing sent yet."""
    loss = record_loss_step(
        uow,
        "open",
        actor=nurse,
        at=THURSDAY_EVENING,
        kind="loss",
        text="vial K-0003 not in the safe at the count",
        missing="K-0003, 20 mL",
    )["case_id"]
    friday = THURSDAY_EVENING + timedelta(hours=20)
    record_loss_step(uow, "notice", actor=admin, case_id=loss, at=friday)
    record_loss_step(
        uow, "form_106", actor=admin, case_id=loss, at=friday, reference="TLR-2026-0042"
    )
    record_loss_step(
        uow, "note", actor=nurse, case_id=loss, at=friday, text="police report 26-118 filed"
    )
    record_loss_step(
        uow,
        "resolve",
        actor=admin,
        case_id=loss,
        at=friday + timedelta(hours=1),
        text="not found after search; reported",
    )
    theft = record_loss_step(
        uow,
        "open",
        actor=nurse,
        at=NOW - timedelta(hours=3),
        kind="theft",
        text="lock of the safe forced overnight",
        missing="K-0004",
    )["case_id"]
    return loss, theft


def test_the_loss_report_shows_each_case_with_both_clocks_and_whether_they_were_met(
    uow: UnitOfWork,
    nurse: Actor,
    admin: Actor,
    audit_log: Callable[[], list[str]],
) -> None:
    loss, theft = _cases(uow, nurse, admin)
    rows = report(uow, "losses", actor=admin)
    assert audit_log()[-1] == "ledger.report.losses"
    assert [row["case_id"] for row in rows] == [loss, theft]
    found, stolen = rows
    assert found["kind"] == "loss"
    assert found["discovered_at"] == THURSDAY_EVENING.isoformat()
    assert found["opened_by"] == nurse.email
    assert found["missing"] == "K-0003, 20 mL"
    # the notice is due at the end of Friday, the form at the end of the 45th day, both local
    assert found["notice_due_at"] == "2026-12-04T23:59:59-08:00"
    assert found["notice_status"] == "met"
    assert found["form_106_due_at"] == "2027-01-17T23:59:59-08:00"
    assert found["form_106_status"] == "met"
    assert found["form_106_reference"] == "TLR-2026-0042"
    assert "police report 26-118 filed" in found["notes"]
    assert found["resolution"] == "not found after search; reported"
    assert found["resolved_at"] is not None
    assert stolen["kind"] == "theft"
    assert stolen["notice_sent_at"] is None
    assert stolen["notice_status"] == "not yet due"  # due at the end of Tuesday
    assert stolen["form_106_status"] == "not yet due"
    assert stolen["resolved_at"] is None
    assert {row["status_as_of"] for row in rows} == {NOW.isoformat()}


def test_a_notice_not_sent_in_time_is_missed_and_one_sent_late_is_done_late(
    database: Database, nurse: Actor, admin: Actor
) -> None:
    early = UnitOfWork(database.session_factory, clock=lambda: NOW)
    case = record_loss_step(
        early,
        "open",
        actor=nurse,
        at=THURSDAY_EVENING,
        kind="loss",
        text="two vials short at the count",
    )["case_id"]
    [row] = report(early, "losses", actor=admin)
    assert row["notice_status"] == "missed"  # due Friday night, nothing sent by Monday
    record_loss_step(early, "notice", actor=admin, case_id=case, at=NOW - timedelta(hours=1))
    [row] = report(early, "losses", actor=admin)
    assert row["notice_status"] == "done late"
    later = UnitOfWork(database.session_factory, clock=lambda: NOW + timedelta(days=60))
    [row] = report(later, "losses", actor=admin)
    assert row["form_106_status"] == "missed"


def test_the_period_keeps_cases_by_discovery_and_a_patient_or_vial_has_none(
    uow: UnitOfWork, nurse: Actor, admin: Actor
) -> None:
    loss, theft = _cases(uow, nurse, admin)
    in_week = report(uow, "losses", actor=admin, since=date(2026, 12, 1), until=date(2026, 12, 5))
    assert [row["case_id"] for row in in_week] == [loss]
    assert in_week[0]["resolution"]  # a step after the period's first day still shows
    assert [r["case_id"] for r in report(uow, "losses", actor=admin, since=date(2026, 12, 7))] == [
        theft
    ]
    assert report(uow, "losses", actor=admin, vial="K-0003") == []
    assert report(uow, "losses", actor=admin, patient_id=1) == []


def test_the_loss_report_prints_with_the_clinics_dea_number(
    database: Database, uow: UnitOfWork, nurse: Actor, admin: Actor, catalog: Catalog
) -> None:
    _cases(uow, nurse, admin)
    with database.session_factory() as session:
        clinic = session.get(Clinic, admin.clinic_id)
        assert clinic is not None
        clinic.settings = {**(clinic.settings or {}), "dea_registration": "FB1234563"}
        session.commit()
    printable = printable_report(uow, "losses", actor=admin, catalog=catalog, now=NOW)
    text = " ".join(" ".join(page.text for page in read_pdf(ledger_report_pdf(printable))).split())
    squeezed = text.replace(" ", "")
    assert "DEA registration: FB1234563" in text
    assert "Signature" not in text  # a loss report is not a signed record
    for expected in ("TLR-2026-0042", "notyetdue", "lockofthesafeforcedovernight", "form106due"):
        assert expected in squeezed, expected


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("name", REPORTS)
def test_every_csv_report_has_the_dea_number_on_every_row(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    admin: Actor,
    catalog: Catalog,
    name: str,
) -> None:
    receive_vials(
        uow,
        SUPPLIER,
        [VialIn("K-0001", "0409-2051-05", "LOT-7731", date(2028, 6, 30), 10.0, 20.0)],
        actor=nurse,
    )
    _cases(uow, nurse, admin)
    unset = report_csv(uow, name, actor=admin, catalog=catalog)
    assert unset.splitlines()[0].split(",")[0] == "dea_registration"
    assert {row["dea_registration"] for row in _csv(unset)} <= {""}
    with database.session_factory() as session:
        clinic = session.get(Clinic, admin.clinic_id)
        assert clinic is not None
        clinic.settings = {**(clinic.settings or {}), "dea_registration": "FB1234563"}
        session.commit()
    text = report_csv(uow, name, actor=admin, catalog=catalog)
    rows = _csv(text)
    assert [row["dea_registration"] for row in rows] == ["FB1234563"] * len(rows)
    assert len(rows) == len(report(uow, name, actor=admin))
    assert not text.startswith("DEA")  # the headings are the first line
    if name in ("receipts", "losses", "entries"):
        assert rows  # these reports have rows here: the column is seen on real rows


def test_the_cli_the_api_and_the_page_give_the_same_loss_report(
    api: Api,
    database_url: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ketaplan.cli import ledger

    uow = UnitOfWork(api.context.database.session_factory, clock=lambda: NOW)
    nurse = load_actor(uow, ROLE_EMAILS["nurse"], origin="test")
    admin = load_actor(uow, ROLE_EMAILS["admin"], origin="test")
    _cases(uow, nurse, admin)
    api.client.app.state.services = dataclasses.replace(api.context, clock=lambda: NOW)  # type: ignore[attr-defined]
    monkeypatch.setattr(ledger, "clock", lambda: NOW)
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    by_api = api.client.get(
        "/api/v1/ledger/reports/losses?format=csv", headers=api.as_role("prescriber")
    )
    assert by_api.status_code == 200, by_api.text
    assert by_api.headers["content-type"].startswith("text/csv")
    assert "TLR-2026-0042" in by_api.text
    out = tmp_path / "losses.csv"
    code = main(
        ["ledger", "report", "--as", ROLE_EMAILS["prescriber"], "losses", "--csv", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes() == by_api.content
    pdf = api.client.get(
        "/api/v1/ledger/reports/losses?format=pdf", headers=api.as_role("prescriber")
    )
    printed = tmp_path / "losses.pdf"
    code = main(
        ["ledger", "report", "--as", ROLE_EMAILS["prescriber"], "losses", "--pdf", str(printed)]
    )
    assert code == 0, capsys.readouterr().err
    assert printed.read_bytes() == pdf.content
    signed_in = post_sign_in(api.client, ROLE_EMAILS["prescriber"], PASSWORD)
    assert signed_in.status_code in (302, 303), signed_in.text
    page = api.client.get("/ledger/reports/losses")
    assert page.status_code == 200, page.text
    assert "DEA registration: not recorded" in page.text
    assert "lock of the safe forced overnight" in page.text
    assert 'href="/ledger/reports/losses?format=csv" id="report-csv"' in page.text
    assert api.client.get("/ledger/reports/losses?format=csv").content == by_api.content
    assert api.client.get("/ledger/reports/losses?format=pdf").content == pdf.content
    refused = api.client.get(
        "/api/v1/ledger/reports/losses?format=csv", headers=api.as_role("front_desk")
    )
    assert refused.status_code == 403


def test_the_api_lists_the_loss_cases_a_page_at_a_time_with_the_total(api: Api) -> None:
    uow = UnitOfWork(api.context.database.session_factory, clock=lambda: NOW)
    nurse = load_actor(uow, ROLE_EMAILS["nurse"], origin="test")
    admin = load_actor(uow, ROLE_EMAILS["admin"], origin="test")
    loss, theft = _cases(uow, nurse, admin)
    url, headers = "/api/v1/ledger/losses", api.as_role("prescriber")
    first = api.client.get(url, params={"limit": 1}, headers=headers)
    assert first.status_code == 200, first.text
    assert (first.json()["total_count"], first.json()["limit"]) == (2, 1)
    second = api.client.get(
        url, params={"limit": 1, "cursor": first.json()["next"]}, headers=headers
    )
    assert second.json()["next"] is None
    seen = [page.json()["items"][0]["case_id"] for page in (first, second)]
    assert sorted(seen) == sorted([loss, theft])
    too_many = api.client.get(url, params={"limit": 201}, headers=headers)
    assert too_many.status_code == 422
    assert "limit" in too_many.text
