"""The limits around the whole app: which use cases the password throttle can refuse, a cap on
request bodies, and the last word on an unexpected error.

Rate limits. The one rate limit is the password throttle (:mod:`ketaplan.services.throttle`):
every password a request carries to be checked is counted, and too many wrong ones make the
next try a 429 with ``Retry-After``. :data:`PASSWORD_CHECKED` names the use cases whose
services check one; every route serving one of them can answer 429
(:func:`throttled_routes`), which is how the OpenAPI document lists them
(:mod:`ketaplan.api.document`): a new route for one of these use cases is documented without
another list to keep. A test sends each such API operation to its 429, and another checks that
every operation taking a password to check is here.

Body size. Nothing ketaplan accepts is large (the biggest is a patient's details or a settings
form, a few kB), yet without a cap a client, signed in or not, could send any size and the
worker would hold it all in memory before a route refused it (a 100 MB body grew a worker to
405 MB). :class:`BodySizeLimit` answers 413 ``input.body_too_large`` as soon as it knows: from
``Content-Length`` before reading anything, or, for a body sent in chunks, at the first chunk
past the cap, without reading the rest. The cap is the ``KETAPLAN_MAX_BODY_BYTES`` setting
(:data:`ketaplan.settings.DEFAULT_MAX_BODY_BYTES` by default).

Unexpected errors. Starlette answers an unhandled exception with the app's handler and then
raises it again for the server to log, traceback and message. The message may quote what a
request carried, so :class:`UnexpectedErrors` stops it there: the handler's answer goes out and
the error is logged once, by :mod:`ketaplan.http.errors`, without its message.
"""

from __future__ import annotations

from typing import Final

from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ketaplan.http.errors import error_response, unexpected_error
from ketaplan.http.permissions import ROUTES, UseCase

PASSWORD_CHECKED: Final = frozenset(
    {
        UseCase.SIGN_IN,  # services.accounts.sign_in
        UseCase.SIGN_ORDER,  # services.plans.check_signature_password
        UseCase.DECIDE_TITRATION,  # the same, signing the decision
        UseCase.TAKE_INVENTORY,  # the same, signing the inventory
        UseCase.WASTE_DRUG,  # services.ledger_signatures.check_witness
        UseCase.DESTROY_STOCK,  # the same, for each witness
        UseCase.RECORD_LEDGER_ENTRY,  # the ledger page's form: waste, destroy, inventory
    }
)
"""Use cases whose service checks a password through the throttle, so can answer 429."""


def throttled_routes() -> frozenset[str]:
    """The names of the routes (API and pages) serving a use case the throttle counts: the
    ones that can answer 429 (and the sign-in page's GET, which shows the form the refusal
    comes back to)."""
    return frozenset(name for name, use in ROUTES.items() if use in PASSWORD_CHECKED)


class BodyTooLarge(HTTPException):
    """Raised while a streamed body is being read, past the cap (a 413)."""

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(413, too_large_message(max_body_bytes))


def too_large_message(max_body_bytes: int) -> str:
    return (
        f"the request body is larger than this server accepts ({max_body_bytes:,} bytes); "
        "nothing was read or saved"
    )


def _too_large(max_body_bytes: int) -> Response:
    response = error_response(413, "input.body_too_large", too_large_message(max_body_bytes))
    response.headers["Connection"] = "close"
    return response


class BodySizeLimit:
    """ASGI middleware: a request body of more than ``max_body_bytes`` is a 413."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            text = declared.decode("latin-1").strip()
            if not (text.isascii() and text.isdigit()) or int(text) > self.max_body_bytes:
                await _too_large(self.max_body_bytes)(scope, receive, send)
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def noted(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, noted)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(self.max_body_bytes)(scope, receive, send)


class UnexpectedErrors:
    """ASGI middleware, outermost but for Starlette's own: an exception no handler took is
    answered and logged by :func:`~ketaplan.http.errors.unexpected_error`, and goes no further
    (the server would log it again, message and all)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def noted(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, noted)
        except Exception as error:
            response = await unexpected_error(Request(scope), error)
            if not started:
                await response(scope, receive, send)
