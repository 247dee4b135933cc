"""The progress report and the preparation card as PDF: rendered by an independent engine
(PDFium) to A4 pages that are not blank, whose text says what the record says; clinical staff
only, every download audited, the same document from the API and the command line."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ketaplan.cli import main
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.errors import ConflictError, PermissionDenied
from ketaplan.export.pdf import preparation_card_pdf, progress_report_pdf
from ketaplan.services import (
    Actor,
    PatientRecord,
    PlanOrder,
    UnitOfWork,
    append_session_event,
    create_plan,
    open_session,
    record_questionnaire,
    schedule_course,
)
from ketaplan.services.reports import preparation_card, progress_report

from .conftest import PASSWORD, Api, example_chart, signed_plan
from .pdf_pages import A4_POINTS, is_blank, read_pdf

BASELINE = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # 08:00 in the clinic, before check-in
LATER = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)  # 11:00, after discharge
CLINIC_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 18:00 in the clinic
PHQ9_BASELINE = [3, 2, 2, 2, 2, 2, 2, 2, 2]  # 19: moderately severe
PHQ9_LATER = [1, 1, 0, 1, 0, 0, 1, 0, 0]  # 4: minimal -> response (-79 %) and remission


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The clinic's clock stands on the evening of the charted day (7 December 2026)."""
    return lambda: CLINIC_EVENING


@pytest.fixture
def treated(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: object,
) -> int:
    """The patient's signed order, course, one charted session (dissociation and nausea,
    a systolic alert) and two PHQ-9s: 19 before, 4 after. Returns the plan id."""
    policy = load_policy()
    plan = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    course = schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2026, 12, 7),
        actor=nurse,
        policy=policy,
        plan_id=plan.plan_id,
    )
    record_questionnaire(
        uow,
        patient.patient_id,
        scale="phq9",
        answers=PHQ9_BASELINE,
        answered_at=BASELINE,
        actor=nurse,
    )
    chart = open_session(
        uow,
        patient.patient_id,
        condition="depression",
        actor=nurse,
        policy=policy,
        course_id=course.course_id,
        number=1,
    )
    for seq, event in enumerate(example_chart()):
        append_session_event(
            uow, chart.session_id, event, expected_seq=seq, actor=nurse, policy=policy
        )
    record_questionnaire(
        uow, patient.patient_id, scale="phq9", answers=PHQ9_LATER, answered_at=LATER, actor=nurse
    )
    return plan.plan_id


def _text(document: bytes) -> str:
    pages = read_pdf(document)
    for page in pages:
        assert page.image.size == A4_POINTS
        assert not is_blank(page.image)
        assert page.ink_fraction > 0.01
    return "\n".join(page.text for page in pages)


def test_the_progress_report_renders_to_a4_pages_that_say_what_the_record_says(
    uow: UnitOfWork,
    nurse: Actor,
    patient: PatientRecord,
    treated: int,
    audit_log: Callable[[], list[str]],
) -> None:
    report = progress_report(
        uow, patient.patient_id, actor=nurse, policy=load_policy(), now=CLINIC_EVENING
    )
    assert audit_log()[-1] == "report.progress.read"
    (outcome,) = report.outcomes
    assert (outcome.baseline_total, outcome.latest_total) == (19, 4)
    assert outcome.response
    assert outcome.remission
    (session,) = report.sessions
    document = progress_report_pdf(report)
    assert document == progress_report_pdf(report)  # the same report, the same bytes
    text = _text(document)
    for expected in (
        "Progress report",
        "Alex Example",
        "Bay Ketamine Clinic",
        "Patient Health Questionnaire-9",
        "19/27",
        "4/27",
        "-79 %",
        "response, remission",
        f"{session.delivered_mg:.1f} mg ({session.delivered_mg_per_kg:.3f} mg/kg)",
        "dissociation (mild)",
        "nausea (mild)",
        "systolic",
        "07 Dec 2026",
        "Scores over time",
        "printed 07 Dec 2026 18:00 (America/Los_Angeles) by nurse@bay.example",
    ):
        assert expected in text, expected
    assert "No questionnaire" not in text


def test_the_front_desk_gets_no_clinical_report_and_nothing_is_read_in_its_name(
    uow: UnitOfWork,
    front_desk: Actor,
    patient: PatientRecord,
    treated: int,
    audit_log: Callable[[], list[str]],
) -> None:
    before = audit_log()
    with pytest.raises(PermissionDenied):
        progress_report(
            uow, patient.patient_id, actor=front_desk, policy=load_policy(), now=CLINIC_EVENING
        )
    with pytest.raises(PermissionDenied):
        preparation_card(
            uow, treated, actor=front_desk, catalog=load_policy().catalog, now=CLINIC_EVENING
        )
    assert audit_log() == before


def test_the_preparation_card_prints_the_signed_orders_numbers(
    uow: UnitOfWork, nurse: Actor, treated: int, audit_log: Callable[[], list[str]]
) -> None:
    card = preparation_card(
        uow, treated, actor=nurse, catalog=load_policy().catalog, now=CLINIC_EVENING
    )
    assert audit_log()[-1] == "report.preparation_card.read"
    prep = card.plan["preparation"]
    text = _text(preparation_card_pdf(card))
    for expected in (
        "Preparation card",
        "Alex Example",
        "Order signed by",
        f"{prep['pump_rate_ml_per_h']:g} mL/h",
        f"{prep['draw_ml']:.2f}".rstrip("0").rstrip(".") + " mL",
        "mg/mL",
        "Prepared by",
    ):
        assert expected in text, expected


def test_an_order_not_yet_signed_has_no_preparation_card(
    uow: UnitOfWork, nurse: Actor, patient: PatientRecord, resolver: object
) -> None:
    proposed = create_plan(
        uow,
        patient.patient_id,
        PlanOrder("depression"),
        actor=nurse,
        policy=load_policy(),
        resolver=resolver,  # type: ignore[arg-type]
    )
    with pytest.raises(ConflictError, match="proposed") as refused:
        preparation_card(
            uow, proposed.plan_id, actor=nurse, catalog=load_policy().catalog, now=CLINIC_EVENING
        )
    assert refused.value.fields["order_status"] == "proposed"


# ------------------------------------------------------------- API and CLI ----


def _api_patient_with_a_signed_order(api: Api) -> tuple[int, int]:
    nurse = api.as_role("nurse")
    answer = api.client.post(
        "/api/v1/patients",
        json={"full_name": "Jordan Sample", "weight": "80 kg", "height": "175 cm", "age_years": 42},
        headers=nurse,
    )
    assert answer.status_code == 201, answer.text
    patient_id = int(answer.json()["patient_id"])
    plan = api.client.post(
        f"/api/v1/patients/{patient_id}/plans", json={"condition": "depression"}, headers=nurse
    )
    assert plan.status_code == 201, plan.text
    plan_id = int(plan.json()["plan_id"])
    signed = api.client.post(
        f"/api/v1/plans/{plan_id}/sign",
        json={"password": PASSWORD},
        headers=api.as_role("prescriber"),
    )
    assert signed.status_code == 200, signed.text
    return patient_id, plan_id


@pytest.mark.parametrize(
    ("role", "status"), [("nurse", 200), ("prescriber", 200), ("admin", 200), ("front_desk", 403)]
)
def test_the_api_gives_the_pdfs_to_clinical_staff_only(api: Api, role: str, status: int) -> None:
    patient_id, plan_id = _api_patient_with_a_signed_order(api)
    for url in (
        f"/api/v1/patients/{patient_id}/progress-report.pdf",
        f"/api/v1/plans/{plan_id}/preparation-card.pdf",
    ):
        answer = api.client.get(url, headers=api.as_role(role))
        assert answer.status_code == status, answer.text
        if status == 200:
            assert answer.headers["content-type"] == "application/pdf"
            assert "attachment" in answer.headers["content-disposition"]
            assert "Jordan Sample" in _text(answer.content)
        else:
            assert answer.json()["code"].startswith("permission")


def test_the_cli_writes_the_same_progress_report_as_the_api(
    api: Api,
    database_url: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ketaplan.cli import report

    patient_id, _ = _api_patient_with_a_signed_order(api)
    now = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    api.client.app.state.services = dataclasses.replace(api.context, clock=lambda: now)  # type: ignore[attr-defined]
    monkeypatch.setattr(report, "clock", lambda: now)
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    from_api = api.client.get(
        f"/api/v1/patients/{patient_id}/progress-report.pdf", headers=api.as_role("nurse")
    ).content
    out = tmp_path / "progress.pdf"
    code = main(
        ["report", "progress", str(patient_id), "--pdf", str(out), "--as", "nurse@bay.example"]
    )
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes() == from_api
    refused = main(
        ["report", "progress", str(patient_id), "--pdf", str(out), "--as", "front_desk@bay.example"]
    )
    assert refused != 0
    assert "clinical facts" in capsys.readouterr().err


def test_the_api_answers_a_card_for_an_unsigned_order_with_a_409_and_a_missing_one_with_a_404(
    api: Api,
) -> None:
    nurse = api.as_role("nurse")
    patient = api.client.post(
        "/api/v1/patients",
        json={"full_name": "Jordan Sample", "weight": "80 kg", "height": "175 cm", "age_years": 42},
        headers=nurse,
    )
    plan = api.client.post(
        f"/api/v1/patients/{patient.json()['patient_id']}/plans",
        json={"condition": "depression"},
        headers=nurse,
    )
    unsigned = api.client.get(
        f"/api/v1/plans/{plan.json()['plan_id']}/preparation-card.pdf", headers=nurse
    )
    assert unsigned.status_code == 409
    assert unsigned.json()["code"] == "conflict.order_not_active"
    assert unsigned.json()["order_status"] == "proposed"
    missing = api.client.get("/api/v1/patients/999/progress-report.pdf", headers=nurse)
    assert missing.status_code == 404


def test_the_patient_page_links_its_progress_report_which_a_signed_in_browser_downloads(
    api: Api,
) -> None:
    import re

    from .conftest import ROLE_EMAILS, post_sign_in

    patient_id, plan_id = _api_patient_with_a_signed_order(api)
    signed_in = post_sign_in(api.client, ROLE_EMAILS["nurse"], PASSWORD)
    assert signed_in.status_code in (302, 303), signed_in.text
    page = api.client.get(f"/patients/{patient_id}")
    assert page.status_code == 200
    link = re.search(r'href="([^"]+)" id="progress-report-pdf"', page.text)
    assert link is not None
    answer = api.client.get(link.group(1))
    assert answer.headers["content-type"] == "application/pdf"
    assert "Jordan Sample" in _text(answer.content)
    card_page = api.client.get(f"/plans/{plan_id}/card")
    card_link = re.search(r'href="([^"]+)" id="preparation-card-pdf"', card_page.text)
    assert card_link is not None
    assert api.client.get(card_link.group(1)).headers["content-type"] == "application/pdf"
