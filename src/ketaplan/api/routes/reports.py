"""Reports as PDF: the progress report for the referring clinician and the preparation card.

Clinical staff only (the permission table and the report services both say so); each download
is audited as a read of the patient's record (:mod:`ketaplan.services.reports`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ketaplan.export.pdf import preparation_card_pdf, progress_report_pdf
from ketaplan.http.context import services
from ketaplan.http.params import RecordId
from ketaplan.http.security import SignedIn
from ketaplan.services.reports import preparation_card, progress_report

router = APIRouter(tags=["reports"])

PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The document as PDF"}
}


def _pdf(document: bytes, filename: str) -> Response:
    return Response(
        document,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/patients/{patient_id}/progress-report.pdf",
    name="progress_report_pdf",
    response_class=Response,
    responses=PDF,
)
def progress_report_download(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    """The patient's progress for the referring clinician: scores over time with the chart,
    doses per session, alerts and adverse events, response and remission."""
    context = services(request)
    report = progress_report(
        context.unit_of_work(), patient_id, actor=actor, policy=context.policy, now=context.clock()
    )
    return _pdf(progress_report_pdf(report), f"progress-report-patient-{patient_id}.pdf")


@router.get(
    "/plans/{plan_id}/preparation-card.pdf",
    name="preparation_card_pdf",
    response_class=Response,
    responses=PDF,
)
def preparation_card_download(plan_id: RecordId, actor: SignedIn, request: Request) -> Response:
    """An active order's preparation card: vial, draw, bag, final concentration, pump rate."""
    context = services(request)
    card = preparation_card(
        context.unit_of_work(),
        plan_id,
        actor=actor,
        catalog=context.catalog,
        now=context.clock(),
    )
    return _pdf(preparation_card_pdf(card), f"preparation-card-plan-{plan_id}.pdf")
