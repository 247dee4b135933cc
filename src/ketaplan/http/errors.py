"""Errors as JSON: ``{code, message, ...fields}`` with the error's HTTP status, never a 500 page.

ketaplan's own errors carry their code and status (:mod:`ketaplan.errors`). A request FastAPI
cannot parse or validate (malformed JSON, a missing field, a string for a number) becomes
``input.invalid_request`` with one entry per problem saying where it is and what is accepted.
A database that is busy past the lock timeout or out of reach is a 503 (``database.busy``,
``database.unavailable``) with ``Retry-After``, and so is every 429 (how long the sign-in
throttle asks to wait, on pages too). Anything else unexpected is logged with its
traceback and answered ``internal_error`` with no detail: a bug, which the tests (schemathesis
included) are there to find.

What an unexpected error logs is the error's type and where it was raised (the traceback's
frames, which show code, not values): never its message, the request's body or its query.
A message can quote what was typed (a database driver's "invalid input value ...", a
``KeyError`` of a patient's name), and logs are read and kept by people who may not see patient
data. The engines also hide SQL parameters from their errors (``hide_parameters``).

Under ``/api/`` errors stay JSON. Elsewhere (the web pages) they go to the page renderer the web
app installs (:data:`PAGE_ERRORS`): a 401 sends the browser to the sign-in page and anything
else is a readable page with the same message.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ketaplan.access_log import redacted
from ketaplan.errors import KetaplanError
from ketaplan.http.refusals import mark_refused

log = logging.getLogger("ketaplan.api")

PageErrorRenderer = Callable[[Request, int, str, str], Awaitable[Response]]
PAGE_ERRORS = "page_errors"
"""``app.state`` attribute of the renderer for errors outside ``/api/`` (set by the web app)."""


def _page_renderer(request: Request) -> PageErrorRenderer | None:
    if request.url.path.startswith("/api/"):
        return None
    renderer: PageErrorRenderer | None = getattr(request.app.state, PAGE_ERRORS, None)
    return renderer


async def _respond(
    request: Request, status: int, code: str, message: str, **fields: Any
) -> Response:
    renderer = _page_renderer(request)
    if renderer is None:
        return error_response(status, code, message, **fields)
    page = await renderer(request, status, code, message)
    if status == 503:  # a page's 503 says when to try again, as the API's does
        page.headers.update(RETRY_LATER)
    page.headers.update(retry_after(fields))
    return page


RETRY_LATER: dict[str, str] = {"Retry-After": "5"}
"""A 503's: the database was busy or out of reach, try again shortly."""
HEADERS_BY_STATUS: dict[int, dict[str, str]] = {
    401: {"WWW-Authenticate": "Bearer"},
    503: RETRY_LATER,
}


def retry_after(fields: Mapping[str, object]) -> dict[str, str]:
    """``Retry-After`` for a refusal that says how long to wait (a 429 from the sign-in
    throttle carries ``retry_after_s``), else nothing."""
    seconds = fields.get("retry_after_s")
    return {"Retry-After": str(seconds)} if isinstance(seconds, int) else {}


def error_response(status: int, code: str, message: str, **fields: Any) -> JSONResponse:
    headers = {**HEADERS_BY_STATUS.get(status, {}), **retry_after(fields)}
    return JSONResponse({"code": code, "message": message, **fields}, status, headers=headers)


def _where(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location if part != "body") or "body"


def _problems(error: RequestValidationError) -> list[dict[str, Any]]:
    problems = []
    for item in error.errors():
        problems.append({"field": _where(tuple(item.get("loc", ()))), "problem": item["msg"]})
    return problems


async def _ketaplan_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, KetaplanError)
    mark_refused(request, error)  # a 401, 403 or 429 goes in the audit trail
    return await _respond(request, error.http_status, **error.to_dict())  # type: ignore[arg-type]


async def _invalid_request(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = _problems(error)
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
    return await _respond(
        request,
        422,
        "input.invalid_request",
        f"the request is not valid: {summary}",
        problems=problems,
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400:  # FastAPI could not decode the body it was sent
        return error_response(
            400,
            "input.unreadable_body",
            f"{error.detail}: send the body as JSON (Content-Type: application/json)",
        )
    codes = {404: "not_found", 405: "method_not_allowed", 413: "input.body_too_large"}
    return await _respond(
        request, error.status_code, codes.get(error.status_code, "http_error"), str(error.detail)
    )


async def _database_unavailable(request: Request, error: Exception) -> Response:
    """503, not 500: the request was fine, the database was busy or out of reach."""
    assert isinstance(error, OperationalError)
    path = redacted(request.url.path)
    log.warning("database error on %s %s: %s", request.method, path, error.orig)
    if "database is locked" in str(error.orig):
        code = "database.busy"
        message = (
            "the database is busy with other changes and this one could not start in time; "
            "nothing was saved, try again in a moment"
        )
    else:
        code = "database.unavailable"
        message = (
            "the database could not be reached; if you were saving something, reload to check "
            "whether it was saved before trying again"
        )
    return await _respond(request, 503, code, message)


def _without_values(error: BaseException) -> str:
    """The error's type and traceback frames, without its message (nor its causes')."""
    frames = "".join(traceback.format_tb(error.__traceback__))
    return f"{type(error).__module__}.{type(error).__qualname__} (message withheld)\n{frames}"


async def unexpected_error(request: Request, error: Exception) -> Response:
    """A 500 ``internal_error`` with no detail, logged without values (see above)."""
    log.error(
        "unhandled error on %s %s: %s",
        request.method,
        redacted(request.url.path),
        _without_values(error),
    )
    return await _respond(
        request,
        500,
        "internal_error",
        "ketaplan hit an internal error; nothing was saved. It is logged.",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KetaplanError, _ketaplan_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(Exception, unexpected_error)
