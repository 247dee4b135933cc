"""Rendering pages: the Jinja2 environment, what every page gets, forms, and error pages.

Templates live in ``templates/`` inside the package and are autoescaped. Every page gets the
signed-in actor, the CSRF token its forms carry as a hidden field, and filters that show
numbers and times the way the clinic reads them (times in the clinic's zone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from ketaplan.errors import InputErrors, KetaplanError
from ketaplan.http.context import services
from ketaplan.http.permissions import can
from ketaplan.http.security import SIGN_IN_COOKIE, client_origin
from ketaplan.inputs import check_text
from ketaplan.services import Actor
from ketaplan.services.accounts import csrf_token_for, signed_in_actor
from ketaplan.web import labels

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")

P = ParamSpec("P")
T = TypeVar("T")


def label(value: object) -> str:
    """``moderately_severe`` → ``moderately severe``, ``rate_ml_per_h`` → ``rate (mL/h)``: a
    one-word code as words (dotted codes: the ``code`` filter of :mod:`ketaplan.web.labels`)."""
    name, unit = labels.split_unit(str(value))
    return f"{name} ({unit})" if unit else name


def number(value: object, places: int = 1) -> str:
    """A number without trailing zeros: 40.0 → 40, 0.55 → 0.55 (at most ``places``)."""
    if value is None:
        return "—"
    if not isinstance(value, int | float):
        return str(value)
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _zone(request: Request) -> ZoneInfo:
    return ZoneInfo(services(request).calendar.time_zone)


def local_time(request: Request, value: datetime | str | None, pattern: str) -> str:
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(_zone(request)).strftime(pattern)


def long_date(value: date | str) -> str:
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return day.strftime("%a %d %b %Y")


TEMPLATES.env.filters["label"] = label
TEMPLATES.env.filters["num"] = number
TEMPLATES.env.filters["long_date"] = long_date
labels.install(TEMPLATES.env)  # codes, sources, booleans and units in clinician words


def actor_of(request: Request) -> Actor | None:
    actor: Actor | None = getattr(request.state, "actor", None)
    return actor


def _actor_for_error_page(request: Request) -> Actor | None:
    """Who sees an error page, so that it keeps the navigation: the signed-in actor, else the
    token's owner a refusal was made for (a 403), else the sign-in cookie's owner (a 404 matched
    no route, so no rule signed anyone in). Only the cookie counts: a page is a browser's."""
    actor = actor_of(request) or getattr(request.state, "token_owner", None)
    if actor is not None:
        return actor
    token = request.cookies.get(SIGN_IN_COOKIE)
    if not token:
        return None
    try:
        context = services(request)
        return signed_in_actor(
            context.database,
            token,
            kind="cookie",
            origin=client_origin(request),
            now=context.clock(),
        )
    except KetaplanError:
        return None


def csrf_of(request: Request) -> str:
    """The CSRF token for this request's sign-in, for the page's forms ('' when signed out)."""
    token: str | None = getattr(request.state, "token", None) or request.cookies.get(SIGN_IN_COOKIE)
    return csrf_token_for(token) if token else ""


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page: the template with the actor, CSRF token and time helpers."""
    values: dict[str, Any] = {
        "actor": actor_of(request),
        "can": can,  # `can(actor, "sign_order")`: offer what the actor may do, by use case
        "csrf_token": csrf_of(request),
        "time": partial(local_time, request, pattern="%H:%M"),
        "when": partial(local_time, request, pattern="%a %d %b %Y, %H:%M"),
        "clinic_zone": services(request).calendar.time_zone,
        **(context or {}),
    }
    return TEMPLATES.TemplateResponse(
        request, template, values, status_code=status, headers=headers
    )


def redirect(url: str) -> RedirectResponse:
    """After a form post: see the result at ``url`` (POST-redirect-GET)."""
    return RedirectResponse(url, status_code=303)


async def call(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a (blocking) service function off the event loop."""
    return await run_in_threadpool(function, *args, **kwargs)


MULTILINE_FIELDS = frozenset(
    {
        "medications",
        "history",
        "allergies",
        "override_reason",
        "reason",
        "vials",
        "holidays",
        "note",
        "crisis_message",
    }
)
"""Form fields written in a textarea: they may hold line breaks (and a pasted tab)."""


async def form_of(request: Request) -> dict[str, str]:
    """The posted form as text fields (files are not accepted anywhere), every name and value
    checked for control characters: a 422 naming the first field that holds one."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    for key, value in fields.items():
        check_text(key, field="a field name")
        check_text(value, field=key, multiline=key in MULTILINE_FIELDS)
    return fields


def page_message(error: KetaplanError) -> str:
    """An error's message as a page says it: a questionnaire refused by its key is worded with
    the scales' names (:func:`~ketaplan.web.labels.scale_refusal`); the API keeps the codes."""
    return labels.scale_refusal(error.fields) or error.message


def field_errors(error: KetaplanError, aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """The error's message keyed by the form field it is about (``""`` when it names none);
    for :class:`~ketaplan.errors.InputErrors`, every field's message at once (the first about
    a field, when two checks refused the same one)."""
    parts = error.errors if isinstance(error, InputErrors) else (error,)
    found: dict[str, str] = {}
    for part in parts:
        field = str(part.fields.get("field", ""))
        message = page_message(part)
        if "_" in field:  # a message naming its field by code ("heart_rate 'x' is not ...")
            message = message.replace(field, label(field))
        found.setdefault((aliases or {}).get(field, field), message)
    return found


async def render_error(request: Request, status: int, code: str, message: str) -> Response:
    """Errors on pages: sign-in for a 401, otherwise a readable page with the message."""
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/sign-in?next={quote(target, safe='')}")
    actor = _actor_for_error_page(request)
    return render(
        request,
        "error.html",
        {"status": status, "code": code, "message": message, "actor": actor},
        status=status,
    )
