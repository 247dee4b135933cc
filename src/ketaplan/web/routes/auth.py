"""Signing in and out in the browser: the sign-in cookie and its CSRF token, and the sign-in
form's own CSRF token (no one else's form can sign a browser into an account)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.errors import NotSignedIn, TooManyAttempts
from ketaplan.http.context import services
from ketaplan.http.errors import retry_after
from ketaplan.http.params import Line
from ketaplan.http.security import CSRF_FORM_FIELD, SIGN_IN_COOKIE, SignedIn, client_origin
from ketaplan.web.rendering import call, form_of, redirect, render

router = APIRouter()


def _safe_next(target: str) -> str:
    """Only a path on this site (never ``//elsewhere`` or ``https://...``)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/", name="web_home")
async def home(actor: SignedIn) -> Response:
    return redirect("/dashboard")


SIGN_IN_CSRF_COOKIE = "ketaplan_sign_in_csrf"
"""The sign-in form's CSRF token before any sign-in (login CSRF): a random value in a cookie
only this site's pages can set, repeated in the form; a form posted from another site carries
the cookie but cannot know the value."""


def _sign_in_page(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    target: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    presented = request.cookies.get(SIGN_IN_CSRF_COOKIE, "")
    token = presented if len(presented) == 43 else secrets.token_urlsafe(32)
    page = render(
        request,
        "sign_in.html",
        {"values": values, "errors": errors, "next": target, "sign_in_csrf": token},
        status=status,
        headers=headers,
    )
    page.set_cookie(
        SIGN_IN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=services(request).secure_cookies,
        path="/sign-in",
    )
    return page


@router.get("/sign-in", name="web_sign_in_page", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: Line = "/") -> Response:
    return _sign_in_page(request, {}, {}, _safe_next(next))


@router.post("/sign-in", name="web_sign_in")
async def sign_in_form(request: Request) -> Response:
    form = await form_of(request)
    email, password = form.get("email", ""), form.get("password", "")
    target = _safe_next(form.get("next", "/"))
    context = services(request)
    expected = request.cookies.get(SIGN_IN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(form.get(CSRF_FORM_FIELD, ""), expected):
        refused = "this sign-in form was not the one this site gave you; sign in again here"
        return _sign_in_page(request, {"email": email}, {"": refused}, target, status=403)
    errors: dict[str, str] = {}
    if not email.strip():
        errors["email"] = "enter your e-mail address"
    if not password:
        errors["password"] = "enter your password"
    status, headers = 422, {}
    if not errors:
        try:
            done = await call(
                context.accounts.sign_in,
                email,
                password,
                kind="cookie",
                origin=client_origin(request),
            )
        except NotSignedIn as refused:
            errors["password"], status = refused.message, 401
        except TooManyAttempts as refused:
            errors["password"], status = refused.message, 429
            headers = retry_after(refused.fields)
        else:
            response = redirect(target)
            # Max-Age, not Expires: the browser counts the lifetime from when it got the
            # cookie, so a tablet whose clock is off (or a server clock set for a test) does
            # not drop the sign-in at once or keep it past the server's own expiry.
            lifetime_s = (done.expires_at - context.clock()).total_seconds()
            response.set_cookie(
                SIGN_IN_COOKIE,
                done.token,
                max_age=max(0, int(lifetime_s)),
                httponly=True,
                samesite="lax",
                secure=context.secure_cookies,
                path="/",
            )
            response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/sign-in")
            return response
    return _sign_in_page(request, {"email": email}, errors, target, status=status, headers=headers)


@router.post("/sign-out", name="web_sign_out")
async def sign_out_form(actor: SignedIn, request: Request) -> Response:
    await call(services(request).accounts.sign_out, request.state.token, actor=actor)
    response = redirect("/sign-in")
    response.delete_cookie(SIGN_IN_COOKIE, path="/")
    return response
