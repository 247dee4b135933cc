"""Screening, the patient's questionnaire link (made by staff, answered on the phone), and the
clinic's day (dashboard)."""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.clinical.protocols import describe_protocol
from ketaplan.errors import ConflictError, InputError
from ketaplan.http.context import services
from ketaplan.http.params import LinkToken, RecordId
from ketaplan.http.security import SignedIn, client_origin
from ketaplan.services.item9_reviews import ITEM9_FLAG
from ketaplan.services.listing import Window
from ketaplan.web.item_texts import ITEM_TEXTS
from ketaplan.web.labels import protocol_source_keys
from ketaplan.web.qr import qr_svg
from ketaplan.web.rendering import call, field_errors, form_of, page_message, redirect, render
from ketaplan.web.routes.patients import patient_page_values

router = APIRouter()


@router.post("/patients/{patient_id}/screenings", name="web_screen_patient")
async def screen(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    try:
        await call(
            context.screenings.screen,
            patient_id,
            condition=form.get("screen_condition", "").strip() or "(none chosen)",
            actor=actor,
        )
    except InputError as refused:
        values = await patient_page_values(request, patient_id, actor)
        errors = {"screen_condition": field_errors(refused).popitem()[1]}
        return render(request, "patient.html", {**values, "errors": errors}, status=422)
    return redirect(f"/patients/{patient_id}/screening")


@router.get("/patients/{patient_id}/screening", name="web_screening", response_class=HTMLResponse)
async def latest_screening(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    context = services(request)
    newest = Window(limit=1)
    found = (await call(context.screenings.listing, patient_id, actor=actor, window=newest)).rows
    if not found:
        return redirect(f"/patients/{patient_id}")
    patient = await call(context.patients.get, patient_id, actor=actor)
    latest = found[0]
    title = context.catalog.protocol(latest.condition).title
    return render(
        request,
        "screening.html",
        {"s": latest, "patient": patient, "condition_title": title},
    )


@router.post("/patients/{patient_id}/links", name="web_create_patient_link")
async def make_link(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    scales = [s for s in form.get("scales", "phq9").replace(",", " ").split() if s]
    values = await patient_page_values(request, patient_id, actor)
    try:
        link = await call(
            services(request).patient_links.create, patient_id, scales=scales, actor=actor
        )
    except InputError as refused:
        errors = {"scales": page_message(refused)}
        return render(request, "patient.html", {**values, "errors": errors}, status=422)
    path = request.app.url_path_for("web_patient_questionnaire", token=link.token)
    url = services(request).public_url + path  # never from the Host header
    return render(
        request,
        "patient.html",
        {**values, "link": url, "link_expires": link.expires_at, "link_qr": qr_svg(url)},
    )


@router.get("/q/{token}", name="web_patient_questionnaire", response_class=HTMLResponse)
async def questionnaire(token: LinkToken, request: Request) -> Response:
    view = await call(services(request).patient_links.open, token, origin=client_origin(request))
    return render(
        request,
        "questionnaire.html",
        {
            "view": view,
            "item_texts": ITEM_TEXTS,
            "values": {},
            "missing": set(),
            "error": "",
            "help": view.crisis_message,
        },
    )


@router.post("/q/{token}", name="web_answer_questionnaire")
async def answer(token: LinkToken, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    view = await call(context.patient_links.open, token, origin=client_origin(request))
    asked = next((q for q in view.to_answer if q.scale == form.get("scale")), None)
    error = ""
    missing: set[str] = set()
    if asked is None:
        error = "this questionnaire is not on your link any more; reload the page"
    else:
        names = [f"item{i}" for i in range(1, asked.items + 1)]
        missing = {n for n in names if not form.get(n, "").strip()}
        if missing:
            error = f"{len(missing)} question(s) still need an answer; they are marked below"
        else:
            try:
                answers = [int(form[n]) for n in names]
                record = await call(
                    context.patient_links.answer,
                    token,
                    scale=asked.scale,
                    answers=answers,
                    origin=client_origin(request),
                )
            except ValueError:
                error = "an answer was not one of the choices; choose again"
            except (InputError, ConflictError) as refused:
                error = refused.message
            else:
                remaining = tuple(q for q in view.to_answer if q.scale != asked.scale)
                # PHQ-9 item 9 above 0: the clinic's crisis message (988 in the US by default)
                # on the very next page, whatever comes after it.
                flags = record.score.get("flags")
                crisis = (
                    view.crisis_message if isinstance(flags, list) and ITEM9_FLAG in flags else ""
                )
                if remaining and not crisis:
                    return redirect(request.url.path)
                # The link is used up now: thank the patient here (opening it again would not).
                return render(
                    request,
                    "questionnaire.html",
                    {
                        "view": replace(view, to_answer=remaining),
                        "item_texts": ITEM_TEXTS,
                        "values": {},
                        "missing": set(),
                        "error": "",
                        "crisis": crisis,
                    },
                )
    return render(
        request,
        "questionnaire.html",
        {
            "view": view,
            "item_texts": ITEM_TEXTS,
            "values": form,
            "missing": missing,
            "error": error,
            "help": view.crisis_message,
        },
        status=422,
    )


@router.get("/dashboard", name="web_dashboard", response_class=HTMLResponse)
async def dashboard(actor: SignedIn, request: Request) -> Response:
    context = services(request)
    day = await call(
        context.clinic.dashboard, actor=actor, zone=ZoneInfo(context.calendar.time_zone)
    )
    return render(request, "dashboard.html", {"d": day})


@router.get("/protocols", name="web_protocols", response_class=HTMLResponse)
async def protocols(actor: SignedIn, request: Request) -> Response:
    catalog = services(request).catalog
    ordered = sorted(catalog.protocols.values(), key=lambda p: p.title)
    return render(
        request,
        "protocols.html",
        {
            "protocols": [describe_protocol(p, catalog) for p in ordered],
            "sources": {p.key: protocol_source_keys(p) for p in ordered},
            "c": catalog,
        },
    )
