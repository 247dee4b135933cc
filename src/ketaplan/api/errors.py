"""Errors as JSON: ``{code, message, ...fields}`` with the error's HTTP status, never a 500 page.

ketaplan's own errors carry their code and status (:mod:`ketaplan.errors`). A request FastAPI
cannot parse or validate (malformed JSON, a missing field, a string for a number) becomes
``input.invalid_request`` with one entry per problem saying where it is and what is accepted.
A database that is busy past the lock timeout or out of reach is a 503 (``database.busy``,
``database.unavailable``) with ``Retry-After``. Anything else unexpected is logged with its
traceback and answered ``internal_error`` with no detail: a bug, which the tests (schemathesis
included) are there to find.

Under ``/api/`` errors stay JSON. Elsewhere (the web pages) they go to the page renderer the web
app installs (:data:`PAGE_ERRORS`): a 401 sends the browser to the sign-in page and anything
else is a readable page with the same message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ketaplan.api.refusals import mark_refused
from ketaplan.errors import KetaplanError

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
    if renderer is not None:
        return await renderer(request, status, code, message)
    return error_response(status, code, message, **fields)


HEADERS_BY_STATUS: dict[int, dict[str, str]] = {
    401: {"WWW-Authenticate": "Bearer"},
    503: {"Retry-After": "5"},  # the database was busy or out of reach: try again shortly
}


def error_response(status: int, code: str, message: str, **fields: Any) -> JSONResponse:
    headers = HEADERS_BY_STATUS.get(status)
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
    codes = {404: "not_found", 405: "method_not_allowed"}
    return await _respond(
        request, error.status_code, codes.get(error.status_code, "http_error"), str(error.detail)
    )


async def _database_unavailable(request: Request, error: Exception) -> Response:
    """503, not 500: the request was fine, the database was busy or out of reach."""
    assert isinstance(error, OperationalError)
    log.warning("database error on %s %s: %s", request.method, request.url.path, error.orig)
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


async def _unexpected(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
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
    app.add_exception_handler(Exception, _unexpected)
