"""Signing in for a bearer token, signing out, and who the token belongs to."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ketaplan.http.context import services
from ketaplan.http.params import Line
from ketaplan.http.security import SignedIn, client_origin

router = APIRouter(prefix="/auth", tags=["accounts"])


class Credentials(BaseModel):
    email: Line = Field(max_length=320, examples=["nurse@clinic.example"])
    password: Line = Field(max_length=1024)


class StaffMember(BaseModel):
    user_id: int
    clinic_id: int
    email: str
    role: str


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    user: StaffMember


def _member(actor: SignedIn) -> StaffMember:
    return StaffMember(
        user_id=actor.user_id, clinic_id=actor.clinic_id, email=actor.email, role=actor.role
    )


@router.post("/token", name="sign_in_for_token")
async def sign_in_for_token(credentials: Credentials, request: Request) -> Token:
    """Sign in with e-mail and password; the token goes in ``Authorization: Bearer …``.

    Wrong passwords make the next try wait (429 ``auth.too_many_attempts`` with
    ``Retry-After``): see :mod:`ketaplan.services.throttle`.
    """
    context = services(request)
    done = await run_in_threadpool(
        context.accounts.sign_in,
        credentials.email,
        credentials.password,
        kind="bearer",
        origin=client_origin(request),
    )
    return Token(access_token=done.token, expires_at=done.expires_at, user=_member(done.actor))


@router.post("/sign-out", name="sign_out", status_code=204)
def sign_out_route(actor: SignedIn, request: Request) -> None:
    """End the sign-in that this request carries (token or cookie)."""
    services(request).accounts.sign_out(request.state.token, actor=actor)


@router.get("/me", name="who_am_i")
def who_am_i(actor: SignedIn) -> StaffMember:
    """The signed-in member of staff."""
    return _member(actor)
