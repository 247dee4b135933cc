"""Signing in and out in the browser: the session cookie and its CSRF token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.api.context import services
from ketaplan.api.params import Line
from ketaplan.api.security import SESSION_COOKIE, SignedIn, client_origin
from ketaplan.errors import NotSignedIn, TooManyAttempts
from ketaplan.services.accounts import sign_in, sign_out
from ketaplan.web.rendering import call, form_of, redirect, render

router = APIRouter()


def _safe_next(target: str) -> str:
    """Only a path on this site (never ``//elsewhere`` or ``https://...``)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/", name="web_home")
async def home(actor: SignedIn) -> Response:
    return redirect("/dashboard")


@router.get("/sign-in", name="web_sign_in_page", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: Line = "/") -> Response:
    return render(request, "sign_in.html", {"values": {}, "errors": {}, "next": _safe_next(next)})


@router.post("/sign-in", name="web_sign_in")
async def sign_in_form(request: Request) -> Response:
    form = await form_of(request)
    email, password = form.get("email", ""), form.get("password", "")
    target = _safe_next(form.get("next", "/"))
    context = services(request)
    errors: dict[str, str] = {}
    if not email.strip():
        errors["email"] = "enter your e-mail address"
    if not password:
        errors["password"] = "enter your password"
    if not errors:
        try:
            done = await call(
                sign_in,
                context.unit_of_work(),
                email,
                password,
                kind="cookie",
                origin=client_origin(request),
            )
        except (NotSignedIn, TooManyAttempts) as refused:
            errors["password"] = refused.message
        else:
            response = redirect(target)
            response.set_cookie(
                SESSION_COOKIE,
                done.token,
                expires=done.expires_at,
                httponly=True,
                samesite="lax",
                secure=context.secure_cookies,
                path="/",
            )
            return response
    values = {"email": email}
    return render(
        request,
        "sign_in.html",
        {"values": values, "errors": errors, "next": target},
        status=401 if "password" in errors and email and password else 422,
    )


@router.post("/sign-out", name="web_sign_out")
async def sign_out_form(actor: SignedIn, request: Request) -> Response:
    await call(sign_out, services(request).unit_of_work(), request.state.token, actor=actor)
    response = redirect("/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
