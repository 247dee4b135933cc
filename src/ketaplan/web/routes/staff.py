"""The staff page (admins): everyone who works at the clinic, with forms to add a member of
staff, change a role, reset a password, and deactivate or reactivate an account. The rules
are the service's (:mod:`ketaplan.services.staff`); a refusal shows on the page next to the
member it is about.

A new or initial password is typed by the admin (and given to the member of staff in person):
it is never shown back, put in a URL, or stored anywhere but as its hash. Adding someone shows
every field's problem at once, beside its field, with what was typed kept (but the password).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.errors import ConflictError, InputError, NotFoundError
from ketaplan.http.context import services
from ketaplan.http.params import RecordId
from ketaplan.http.security import SignedIn
from ketaplan.services import ROLES, Actor
from ketaplan.services.staff import NewStaffMember
from ketaplan.web.rendering import call, field_errors, form_of, redirect, render

router = APIRouter()

DONE = {
    "added": "{email} is added as {role}: give them their initial password in person.",
    "role": "{email} is now {role}; it applies from their next page or request.",
    "password": "{email} has a new password; every sign-in they had has ended.",
    "deactivated": "{email} is deactivated: they cannot sign in, and their sign-ins ended.",
    "reactivated": "{email} can sign in again with their password.",
}
"""What the page says after each change (``?done=…&user=…``; nothing else is taken from the
query string)."""


async def _page(
    request: Request,
    actor: Actor,
    *,
    errors: Mapping[int | str, str] | None = None,
    status: int = 200,
    done: str = "",
    user: str = "",
    new_values: Mapping[str, str] | None = None,
    new_errors: Mapping[str, str] | None = None,
) -> Response:
    members = await call(services(request).staff.listing, actor=actor)
    by_id = {str(member.user_id): member for member in members}
    note = ""
    if done in DONE and user in by_id:
        member = by_id[user]
        note = DONE[done].format(email=member.email, role=member.role.replace("_", " "))
    return render(
        request,
        "staff.html",
        {
            "members": members,
            "roles": ROLES,
            "roles_choices": [(role, role.replace("_", " ")) for role in ROLES],
            "errors": errors or {},
            "note": note,
            "new_values": new_values or {},
            "new_errors": new_errors or {},
        },
        status=status,
    )


@router.get("/staff", name="web_staff", response_class=HTMLResponse)
async def staff_page(actor: SignedIn, request: Request, done: str = "", user: str = "") -> Response:
    return await _page(request, actor, done=done, user=user)


async def _change(
    request: Request,
    actor: Actor,
    user_id: int,
    done: str,
    change: Callable[..., object],
    *values: str,
) -> Response:
    """Make the change; on success see it on the page (POST-redirect-GET), on a refusal the
    page again with the reason next to the member."""
    try:
        await call(change, user_id, *values, actor=actor)
    except (InputError, ConflictError, NotFoundError) as refused:
        return await _page(
            request, actor, errors={user_id: refused.message}, status=refused.http_status
        )
    if user_id == actor.user_id and done in {"role", "deactivated"}:
        return redirect("/")  # your own role or account changed: the staff page may be closed
    return redirect(f"/staff?done={done}&user={user_id}#user-{user_id}")


NEW_MEMBER_FIELDS = ("full_name", "email", "role")
"""What the add form shows back after a refusal (never the password)."""


@router.post("/staff/new", name="web_add_user")
async def add_form(actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    new = NewStaffMember(
        full_name=form.get("full_name", ""),
        email=form.get("email", ""),
        role=form.get("role", ""),
        password=form.get("password", ""),
    )
    try:
        member = await call(services(request).staff.add, new, actor=actor)
    except (InputError, ConflictError) as refused:
        by_field = field_errors(refused, {"": "email"})
        return await _page(
            request,
            actor,
            status=refused.http_status,
            new_values={key: form.get(key, "") for key in NEW_MEMBER_FIELDS},
            new_errors=by_field,
        )
    return redirect(f"/staff?done=added&user={member.user_id}#user-{member.user_id}")


@router.post("/staff/{user_id}/role", name="web_change_user_role")
async def change_role_form(user_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    return await _change(
        request, actor, user_id, "role", services(request).staff.change_role, form.get("role", "")
    )


@router.post("/staff/{user_id}/password", name="web_reset_user_password")
async def reset_password_form(user_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    password = form.get("password", "")
    return await _change(
        request, actor, user_id, "password", services(request).staff.reset_password, password
    )


@router.post("/staff/{user_id}/deactivate", name="web_deactivate_user")
async def deactivate_form(user_id: RecordId, actor: SignedIn, request: Request) -> Response:
    return await _change(request, actor, user_id, "deactivated", services(request).staff.deactivate)


@router.post("/staff/{user_id}/reactivate", name="web_reactivate_user")
async def reactivate_form(user_id: RecordId, actor: SignedIn, request: Request) -> Response:
    return await _change(request, actor, user_id, "reactivated", services(request).staff.reactivate)
