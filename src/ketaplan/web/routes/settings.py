"""Clinic settings (admins): name, address, DEA registration, price per session, vial stock and
bag sizes, the calendar courses are scheduled against (with its public holiday region and the
title its events carry), and the vital-sign alert thresholds. The defaults come from the
catalog; the service validates and stores the clinic's own values."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.clinical.calendar import WEEKDAYS as WEEKDAY_KEYS
from ketaplan.clinical.measurement import default_schedules
from ketaplan.clinical.monitoring import rule_direction, threshold_text
from ketaplan.clinical.outcomes import SCALES
from ketaplan.errors import ConflictError, InputError
from ketaplan.http.context import services
from ketaplan.http.params import Line
from ketaplan.http.security import SignedIn
from ketaplan.services import Actor
from ketaplan.services.clinic_identity import IdentityInput
from ketaplan.services.clinic_settings import ClinicSettingsRecord
from ketaplan.services.clinic_settings_form import (
    CalendarInput,
    ClinicSettingsInput,
    calendar_as_text,
    thresholds_as_text,
    vials_as_text,
)
from ketaplan.services.questionnaire_intervals import FIELD_PREFIX, MAX_EVERY_DAYS, MIN_EVERY_DAYS
from ketaplan.web.rendering import call, field_errors, form_of, number, redirect, render

router = APIRouter()

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _scheduled_scales() -> tuple[str, ...]:
    """The scales some questionnaire schedule asks, in the catalog's order of scales."""
    schedules = default_schedules()
    return tuple(s for s in SCALES if schedules.catalog_every_days(s))


def _questionnaire_rows() -> list[dict[str, Any]]:
    """One row per scheduled scale: its field, title, and the catalog's intervals with the
    schedule that asks it and the source."""
    schedules = default_schedules()
    return [
        {
            "name": FIELD_PREFIX + scale,
            "title": SCALES[scale].title,
            "defaults": schedules.catalog_every_days(scale),
        }
        for scale in _scheduled_scales()
    ]


def form_values(record: ClinicSettingsRecord) -> dict[str, str]:
    """The settings as the form shows them (what an admin would type)."""
    return {
        "version": str(record.version),
        "name": record.name,
        "price_per_session_usd": number(record.price_per_session_usd, 2),
        "bag_sizes_ml": ", ".join(number(b) for b in record.bag_sizes_ml),
        "bag_overfill_percent": number(record.bag_overfill_percent, 2),
        "chairs": str(record.chairs),
        "vials": vials_as_text(record.vials),
        "holiday_region": record.holiday_region,
        "address": record.address,
        "calendar_title": record.calendar_title,
        "dea_registration": record.dea_registration,
        "crisis_message": record.crisis_message,
        **{
            FIELD_PREFIX + scale: str(record.every_days.get(scale, ""))
            for scale in _scheduled_scales()
        },
        **calendar_as_text(record.calendar),
        **thresholds_as_text(record.monitoring),
    }


def _page(
    request: Request, values: dict[str, str], errors: dict[str, str], **extra: Any
) -> dict[str, Any]:
    context = services(request)
    return {
        "values": values,
        "errors": errors,
        "calendar_zone": context.calendar.time_zone,
        "weekdays": tuple(zip(WEEKDAY_KEYS, WEEKDAYS, strict=True)),
        "monitoring": [
            (
                category,
                [(rule, threshold_text(rule.vital, rule_direction(rule))) for rule in rules],
            )
            for category, rules in sorted(context.monitoring.by_category.items())
        ],
        "questionnaires": _questionnaire_rows(),
        "every_days_bounds": (MIN_EVERY_DAYS, MAX_EVERY_DAYS),
        **extra,
    }


async def _current(request: Request, actor: Actor) -> ClinicSettingsRecord:
    context = services(request)
    return await call(context.clinic.settings, actor=actor)


def _typed(form: dict[str, str]) -> ClinicSettingsInput:
    """The posted form as the service's input (weekdays are one checkbox each)."""
    return ClinicSettingsInput(
        name=form.get("name", ""),
        price_per_session_usd=form.get("price_per_session_usd", ""),
        bag_sizes_ml=form.get("bag_sizes_ml", ""),
        vials=form.get("vials", ""),
        bag_overfill_percent=form.get("bag_overfill_percent"),
        identity=IdentityInput(
            holiday_region=form.get("holiday_region"),
            address=form.get("address"),
            calendar_title=form.get("calendar_title"),
            dea_registration=form.get("dea_registration"),
            crisis_message=form.get("crisis_message"),
        ),
        chairs=form.get("chairs"),
        calendar=CalendarInput(
            open_weekdays=tuple(day for day in WEEKDAY_KEYS if form.get(f"open_{day}")),
            open_time=form.get("open_time", ""),
            close_time=form.get("close_time", ""),
            session_times=form.get("session_times", ""),
            holidays=form.get("holidays", ""),
            min_hours_between=form.get("min_hours_between", ""),
            max_per_week=form.get("max_per_week", ""),
        ),
        thresholds={k: v for k, v in form.items() if k.startswith("threshold__")},
        every_days={k: v for k, v in form.items() if k.startswith(FIELD_PREFIX)},
    )


@router.get("/settings", name="web_clinic_settings", response_class=HTMLResponse)
async def settings_page(actor: SignedIn, request: Request, saved: Line = "") -> Response:
    record = await _current(request, actor)
    return render(
        request, "settings.html", _page(request, form_values(record), {}, saved=bool(saved))
    )


@router.post("/settings", name="web_update_clinic_settings")
async def save_settings(actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    version_text = form.get("version", "").strip()
    try:
        if not (version_text.isascii() and version_text.isdigit()):
            raise InputError(
                "the form lost the settings version it was opened at; reload the page",
                fields={"field": ""},
            )
        await call(
            context.clinic.update_settings,
            _typed(form),
            expected_version=int(version_text),
            actor=actor,
        )
    except InputError as refused:
        return render(
            request, "settings.html", _page(request, form, field_errors(refused)), status=422
        )
    except ConflictError as stale:
        # Keep what the admin typed, and show what is saved now, so the change can be made again.
        current = await _current(request, actor)
        message = (
            "Someone else saved the clinic settings after you opened this page, so your changes "
            f"were not saved (you started from version {version_text}; the settings are now at "
            f"version {current.version}). The values saved now are shown under “Saved now”; "
            "make your change again on top of them."
        )
        return render(
            request,
            "settings.html",
            _page(
                request,
                {**form, "version": str(current.version)},
                {"": message},
                current=form_values(current),
                conflict=stale.code,
            ),
            status=409,
        )
    return redirect("/settings?saved=1")
