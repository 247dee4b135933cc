"""Staff accounts (admins): list, add, change a role, reset a password, deactivate, reactivate.

The rules are the service's (:mod:`ketaplan.services.staff`): another clinic's user is a 404,
the clinic's last active admin cannot be deactivated or demoted (409), and deactivating ends
every sign-in of the account at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ketaplan.api.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page_in_memory
from ketaplan.http.context import services
from ketaplan.http.params import Line, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.services import ROLES
from ketaplan.services.passwords import MAX_PASSWORD_LENGTH
from ketaplan.services.staff import MAX_NAME_LENGTH, NewStaffMember, StaffMember

router = APIRouter(prefix="/staff", tags=["staff"])


class StaffMemberOut(BaseModel):
    user_id: int
    email: str
    full_name: str = Field(description="Blank for accounts added without a name.")
    role: str
    active: bool
    has_password: bool = Field(description="Without one the account cannot sign in.")
    open_sign_ins: int = Field(description="Sign-ins not ended and not expired.")
    created_at: datetime


class StaffPage(Page[StaffMemberOut]):
    """A page of the clinic's staff, active first, by e-mail."""


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Annotated[
        str, Field(max_length=20, description=f"One of {', '.join(ROLES)}.", examples=["nurse"])
    ]


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Annotated[
        str,
        Field(
            max_length=MAX_PASSWORD_LENGTH,
            description="The new password (at least 12 characters); their sign-ins end.",
        ),
    ]


class NewStaffMemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: Annotated[Line, Field(max_length=MAX_NAME_LENGTH, examples=["Robin Reyes"])]
    email: Annotated[Line, Field(max_length=320, examples=["robin@clinic.example"])]
    role: Annotated[
        str, Field(max_length=20, description=f"One of {', '.join(ROLES)}.", examples=["nurse"])
    ]
    password: Annotated[
        str,
        Field(
            max_length=MAX_PASSWORD_LENGTH,
            description="The initial password (at least 12 characters), given in person.",
        ),
    ]


def _out(member: StaffMember) -> StaffMemberOut:
    return StaffMemberOut(
        user_id=member.user_id,
        email=member.email,
        full_name=member.full_name,
        role=member.role,
        active=member.active,
        has_password=member.has_password,
        open_sign_ins=member.open_sign_ins,
        created_at=member.created_at,
    )


@router.get("", name="list_staff")
def list_staff_route(
    actor: SignedIn, request: Request, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> StaffPage:
    """The clinic's staff, active first, a page at a time (the staff are read whole: a
    clinic's staff is a short list)."""
    members = services(request).staff.listing(actor=actor)
    return page_in_memory(members, _out, StaffPage, limit=limit, cursor=cursor)


@router.post("", name="add_user", status_code=201)
def add_user_route(body: NewStaffMemberIn, actor: SignedIn, request: Request) -> StaffMemberOut:
    """Add a member of staff who signs in with the initial password. Every field's problem is
    in one 422 (``errors``: field → message); an address already in use is one of them."""
    new = NewStaffMember(body.full_name, body.email, body.role, body.password)
    return _out(services(request).staff.add(new, actor=actor))


@router.post("/{user_id}/role", name="change_user_role")
def change_role_route(
    user_id: RecordId, body: RoleIn, actor: SignedIn, request: Request
) -> StaffMemberOut:
    """Give a member of staff another role; it applies from their next request."""
    return _out(services(request).staff.change_role(user_id, body.role, actor=actor))


@router.post("/{user_id}/password", name="reset_user_password", status_code=204)
def reset_password_route(
    user_id: RecordId, body: PasswordIn, actor: SignedIn, request: Request
) -> None:
    """Set a member of staff's password; every sign-in they have ends."""
    services(request).staff.reset_password(user_id, body.password, actor=actor)


@router.post("/{user_id}/deactivate", name="deactivate_user")
def deactivate_route(user_id: RecordId, actor: SignedIn, request: Request) -> StaffMemberOut:
    """Deactivate an account: it cannot sign in, and every sign-in it has ends now."""
    return _out(services(request).staff.deactivate(user_id, actor=actor))


@router.post("/{user_id}/reactivate", name="reactivate_user")
def reactivate_route(user_id: RecordId, actor: SignedIn, request: Request) -> StaffMemberOut:
    """Let a deactivated account sign in again with its password."""
    return _out(services(request).staff.reactivate(user_id, actor=actor))
