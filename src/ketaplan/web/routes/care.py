"""Measurement-based care on the patient page: e-mail a questionnaire link (with its QR code),
and mark a PHQ-9 item 9 answer reviewed with a note.

The page adds nothing of its own: the link and its e-mail are made in one transaction by
:func:`ketaplan.services.outbox.email_patient_link`; a review is
:func:`ketaplan.services.item9_reviews.review_item9_flag`. A refusal re-shows the patient page
with the message beside its field, and nothing is written.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ketaplan.errors import ConflictError, InputError, InputErrors
from ketaplan.http.context import services
from ketaplan.http.params import RecordId
from ketaplan.http.security import SignedIn
from ketaplan.web.qr import qr_svg
from ketaplan.web.rendering import call, form_of, page_message, redirect, render
from ketaplan.web.routes.patients import patient_page_values

router = APIRouter()


def _scales(text: str) -> list[str]:
    return [s for s in text.replace(",", " ").split() if s] or ["phq9"]


@router.post("/patients/{patient_id}/links/email", name="web_email_patient_link")
async def email_link(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    try:
        emailed = await call(
            context.care.email_link,
            patient_id,
            scales=_scales(form.get("scales", "")),
            to_address=form.get("email", ""),
            actor=actor,
        )
    except InputError as refused:
        values = await patient_page_values(request, patient_id, actor)
        errors: dict[str, str] = {}
        for each in refused.errors if isinstance(refused, InputErrors) else (refused,):
            field = str(each.fields.get("field", "email"))
            errors.setdefault("scales" if field == "scales" else "email", page_message(each))
        return render(
            request,
            "patient.html",
            {**values, "errors": errors, "email_values": form},
            status=422,
        )
    values = await patient_page_values(request, patient_id, actor)
    return render(
        request,
        "patient.html",
        {
            **values,
            "link": emailed.url,
            "link_expires": emailed.link.expires_at,
            "link_qr": qr_svg(emailed.url),
            "link_emailed_to": emailed.to_address,
        },
    )


@router.post("/patients/{patient_id}/item9-reviews/{response_id}", name="web_review_item9_flag")
async def review_item9(
    patient_id: RecordId, response_id: RecordId, actor: SignedIn, request: Request
) -> Response:
    form = await form_of(request)
    try:
        await call(
            services(request).care.review_item9,
            response_id,
            note=form.get("note", ""),
            actor=actor,
        )
    except (InputError, ConflictError) as refused:
        values = await patient_page_values(request, patient_id, actor)
        errors = {f"note-{response_id}": refused.message}
        return render(
            request,
            "patient.html",
            {
                **values,
                "errors": errors,
                "note_values": {f"note-{response_id}": form.get("note", "")},
            },
            status=409 if isinstance(refused, ConflictError) else 422,
        )
    return redirect(f"/patients/{patient_id}#item9-flags")
