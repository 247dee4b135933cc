"""Signing requests in, checking CSRF, and enforcing the role matrix on every route.

:func:`authorize` is a dependency of the whole app: for each request it looks up the matched
route's rule (:mod:`ketaplan.http.permissions`), and unless the route is public it

1. finds the sign-in token: ``Authorization: Bearer …`` (API clients) or the sign-in cookie
   (the web app); a missing, expired or revoked token is a 401;
2. for a cookie-authenticated request that may change something (not GET/HEAD/OPTIONS),
   requires the CSRF token derived from the cookie, in the ``X-CSRF-Token`` header or a
   ``csrf_token`` form field; a cross-site form can send the cookie but cannot know this token.
   Bearer requests need no CSRF token: browsers never attach them on their own;
3. checks the user's role against the rule (403 otherwise);
4. leaves the signed-in :class:`~ketaplan.services.Actor` on ``request.state`` for the route,
   with the client's address as the origin the audit trail records.

A refusal (401, 403) is recorded in the audit trail by :mod:`ketaplan.http.refusals`, with the
token's owner when the token was valid (``request.state.token_owner``).

A route whose name has no rule is refused for everybody (and fails the route-walking test).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from ketaplan.errors import NotSignedIn, PermissionDenied
from ketaplan.http.context import services
from ketaplan.http.permissions import PUBLIC, rule_for
from ketaplan.services import Actor
from ketaplan.services.accounts import TokenKind, csrf_token_for, signed_in_actor

SIGN_IN_COOKIE = "ketaplan_session"
"""The browser's sign-in (not an infusion session, not a database session); the wire name
stays what browsers already hold."""
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def client_origin(request: Request) -> str:
    """Where the request came from, as the audit trail records it."""
    return request.client.host if request.client else "unknown"


def presented_token(request: Request) -> tuple[str, TokenKind] | None:
    """The sign-in token the request carries, and how: bearer header first, then cookie."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip(), "bearer"
    cookie = request.cookies.get(SIGN_IN_COOKIE)
    return (cookie, "cookie") if cookie else None


async def _presented_csrf_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FORM_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def authorize(request: Request) -> None:
    """Enforce the route's rule (see the module docstring); a dependency of every route."""
    route_name = getattr(request.scope.get("route"), "name", None)
    rule = rule_for(route_name) if route_name else None
    if rule is None:
        raise PermissionDenied(
            "this route has no access rule, so nobody may use it",
            code="permission.no_rule",
            fields={"route": route_name},
        )
    if rule == PUBLIC:
        return
    presented = presented_token(request)
    if presented is None:
        raise NotSignedIn(
            "sign in first: send 'Authorization: Bearer <token>' (POST /api/v1/auth/token "
            "gives one) or use the web app's sign-in page"
        )
    token, kind = presented
    context = services(request)
    # On the event loop, not in a worker thread: one indexed read that never waits for a
    # writer (SQLite's WAL, PostgreSQL's MVCC) costs less than the hop to a thread and back,
    # which every signed-in request would pay.
    actor = signed_in_actor(
        context.database, token, kind=kind, origin=client_origin(request), now=context.clock()
    )
    request.state.token_owner = actor  # who a refusal below is recorded for; not signed in yet
    if kind == "cookie" and request.method not in SAFE_METHODS:
        presented_csrf = await _presented_csrf_token(request)
        if not hmac.compare_digest(presented_csrf, csrf_token_for(token)):
            raise PermissionDenied(
                f"this change needs the page's CSRF token (the {CSRF_HEADER} header or the "
                f"{CSRF_FORM_FIELD} form field); reload the page and try again",
                code="permission.csrf_token_missing",
            )
    if actor.role not in rule:
        allowed = " or ".join(sorted(rule))
        raise PermissionDenied(
            f"{actor.email} is {actor.role}; this needs the role {allowed}",
            code="permission.role_not_allowed",
            fields={"role": actor.role, "allowed": sorted(rule)},
        )
    request.state.actor = actor
    request.state.token = token


async def signed_in(request: Request) -> Actor:
    """The actor :func:`authorize` signed in for this request.

    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker
    thread, and that hop cost more than the rest of the dependency machinery."""
    actor: Actor = request.state.actor
    return actor


SignedIn = Annotated[Actor, Depends(signed_in)]
