"""The clinic's staff over time: who works here, in which role, and who no longer signs in.

An admin lists the staff, changes a role, resets a password, and deactivates an account when
someone leaves (or reactivates it). The rules a clinic expects:

- admins only, and only in their own clinic: another clinic's user is "not found", exactly as
  a user that does not exist, so nothing says which e-mail addresses are taken elsewhere;
- the clinic always keeps an active admin: the last one can neither deactivate nor demote
  themselves (someone must be able to manage staff tomorrow); nor does an admin deactivate their
  own account, which another admin does (an admin may hand over their role while another
  admin remains);
- a new member of staff has a name, an e-mail not taken, a role and an initial password within
  the password rules, all checked before anything is written and every problem named at once
  (:func:`add_staff_member`), so the form shows each field's error on one submit;
- deactivating ends every sign-in of the account in the same transaction, so a token in a
  leaver's browser or script stops working at once, not when it expires; a role change needs
  no such step, since every request reads the role afresh
  (:func:`ketaplan.services.accounts.actor_for_token`);
- every change is audited with what changed (``role`` from → to, sign-ins ended), never a
  password.

Changes in one clinic's staff take turns (the clinic row is locked, which SQLite's single
writer does anyway), and the acting admin's own account is read again inside the turn: two
admins demoting each other at the same moment cannot leave the clinic with none, and an admin
demoted a moment ago no longer acts as one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update

from ketaplan.errors import (
    ConflictError,
    InputError,
    InputErrors,
    KetaplanError,
    NotFoundError,
    PermissionDenied,
)
from ketaplan.services.accounts import set_password
from ketaplan.services.actors import Actor, Role, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.clinics import (
    MAX_STAFF_NAME_LENGTH,
    add_user,
    checked_email,
    checked_role,
    checked_staff_name,
)
from ketaplan.services.passwords import check_password_rules
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import AccessToken, Clinic, User

ADMIN_ONLY: tuple[Role, ...] = ("admin",)


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A member of staff as the admin sees them (never their password or its hash)."""

    user_id: int
    email: str
    full_name: str
    """Blank for accounts added without one (before names were kept, or from the CLI)."""
    role: Role
    active: bool
    has_password: bool
    """Without a password the account exists but cannot sign in (``ketaplan user add``
    without one, or a clinic's first admin set up from the command line)."""
    open_sign_ins: int
    """Sign-ins (browser sessions, API tokens) not ended and not expired."""
    created_at: datetime


def _open_sign_ins(uow: UnitOfWork, user_ids: list[int]) -> dict[int, int]:
    if not user_ids:
        return {}
    rows = uow.db.execute(
        select(AccessToken.user_id, func.count())
        .where(
            AccessToken.user_id.in_(user_ids),
            AccessToken.revoked_at.is_(None),
            AccessToken.expires_at > uow.clock(),
        )
        .group_by(AccessToken.user_id)
    )
    return {int(user_id): int(count) for user_id, count in rows}


def _members(uow: UnitOfWork, users: list[User]) -> list[StaffMember]:
    signed_in = _open_sign_ins(uow, [user.id for user in users])
    return [
        StaffMember(
            user_id=user.id,
            email=user.email,
            full_name=user.full_name or "",
            role=checked_role(user.role),
            active=user.active,
            has_password=user.password_hash is not None,
            open_sign_ins=signed_in.get(user.id, 0),
            created_at=user.created_at,
        )
        for user in users
    ]


def list_staff(uow: UnitOfWork, *, actor: Actor) -> list[StaffMember]:
    """The clinic's staff, active first, by e-mail; the read is audited."""
    require_role(actor, ADMIN_ONLY, "listing the staff")
    with uow.reading():
        users = list(
            uow.db.scalars(
                select(User)
                .where(User.clinic_id == actor.clinic_id)
                .order_by(User.active.desc(), User.email)
            )
        )
        members = _members(uow, users)
        uow.audit(
            actor, AuditAction.USER_LIST, "clinic", actor.clinic_id, details={"count": len(members)}
        )
        uow.commit()
        return members


def find_staff_member(uow: UnitOfWork, email: str, *, actor: Actor) -> int:
    """The id of the member of staff with this e-mail in the actor's clinic, active or not.

    For the command line, which names people by e-mail; not an action of its own (the change
    that follows is audited), so it reads without a transaction that would need an audit row.
    """
    require_role(actor, ADMIN_ONLY, "managing staff")
    address = email.strip().lower()
    with uow.lookup() as db:
        user_id = db.scalar(
            select(User.id).where(User.email == address, User.clinic_id == actor.clinic_id)
        )
    if user_id is None:
        raise NotFoundError(
            f"there is no member of staff with e-mail {address!r} in this clinic "
            "(`ketaplan user list` shows them)",
            code="not_found.user",
            fields={"email": address},
        )
    return user_id


def _take_staff_turn(uow: UnitOfWork, actor: Actor, doing: str) -> None:
    """Lock the clinic's staff for this change, and check the actor is still an active admin
    of it (the actor was read at the start of the request; a role can change meanwhile)."""
    require_role(actor, ADMIN_ONLY, doing)
    uow.db.execute(select(Clinic.id).where(Clinic.id == actor.clinic_id).with_for_update()).one()
    acting = uow.db.execute(
        select(User.role, User.active).where(User.id == actor.user_id)
    ).one_or_none()
    if acting is None or acting.role != "admin" or not acting.active:
        raise PermissionDenied(
            f"{doing} needs an active admin; {actor.email} no longer is one",
            code="permission.role_not_allowed",
            fields={"role": acting.role if acting else None, "allowed": list(ADMIN_ONLY)},
        )


def _member_of_clinic(uow: UnitOfWork, user_id: int, actor: Actor) -> User:
    """The user, if in the actor's clinic: another clinic's user is not found, like none."""
    user = uow.db.scalar(select(User).where(User.id == user_id, User.clinic_id == actor.clinic_id))
    if user is None:
        raise _not_found(user_id)
    return user


def _not_found(user_id: int) -> NotFoundError:
    return NotFoundError(
        f"there is no member of staff {user_id} in this clinic",
        code="not_found.user",
        fields={"user_id": user_id},
    )


def _keep_an_active_admin(uow: UnitOfWork, user: User, actor: Actor, doing: str) -> None:
    """Refuse a change that would leave the clinic without an active admin."""
    if user.role != "admin" or not user.active:
        return
    others = uow.db.scalar(
        select(func.count())
        .select_from(User)
        .where(
            User.clinic_id == actor.clinic_id,
            User.role == "admin",
            User.active,
            User.id != user.id,
        )
    )
    if not others:
        who = "you are" if user.id == actor.user_id else f"{user.email} is"
        raise ConflictError(
            f"{who} the clinic's last active admin: {doing} would leave nobody to manage staff "
            "and settings; make another member of staff an admin first",
            code="conflict.last_admin",
            fields={"user_id": user.id},
        )


def _one(uow: UnitOfWork, user: User) -> StaffMember:
    uow.db.flush()
    (member,) = _members(uow, [user])
    return member


def deactivate_user(uow: UnitOfWork, user_id: int, *, actor: Actor) -> StaffMember:
    """Deactivate an account: it can no longer sign in, and every sign-in it has ends now."""
    with uow:
        _take_staff_turn(uow, actor, "deactivating a member of staff")
        user = _member_of_clinic(uow, user_id, actor)
        if not user.active:
            raise ConflictError(
                f"{user.email} is already deactivated; nothing changed",
                code="conflict.already_inactive",
                fields={"user_id": user_id},
            )
        _keep_an_active_admin(uow, user, actor, "deactivating")
        if user.id == actor.user_id:
            raise ConflictError(
                "you cannot deactivate your own account: another admin can, so that someone "
                "else sees an admin leave",
                code="conflict.own_account",
                fields={"user_id": user_id},
            )
        user.active = False
        ended = cast(
            CursorResult[Any],
            uow.db.execute(
                update(AccessToken)
                .where(
                    AccessToken.user_id == user_id,
                    AccessToken.revoked_at.is_(None),
                    AccessToken.expires_at > uow.clock(),
                )
                .values(revoked_at=uow.clock())
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        uow.audit(
            actor,
            AuditAction.USER_DEACTIVATE,
            "user",
            user_id,
            details={"role": user.role, "sign_ins_ended": ended},
        )
        member = _one(uow, user)
        uow.commit()
        return member


def reactivate_user(uow: UnitOfWork, user_id: int, *, actor: Actor) -> StaffMember:
    """Let a deactivated account sign in again (with its password; its old sign-ins stay
    ended)."""
    with uow:
        _take_staff_turn(uow, actor, "reactivating a member of staff")
        user = _member_of_clinic(uow, user_id, actor)
        if user.active:
            raise ConflictError(
                f"{user.email} is already active; nothing changed",
                code="conflict.already_active",
                fields={"user_id": user_id},
            )
        user.active = True
        uow.audit(actor, AuditAction.USER_REACTIVATE, "user", user_id, details={"role": user.role})
        member = _one(uow, user)
        uow.commit()
        return member


def change_role(uow: UnitOfWork, user_id: int, role: str, *, actor: Actor) -> StaffMember:
    """Give a member of staff another role; it applies from their next request."""
    new_role = checked_role(role)
    with uow:
        _take_staff_turn(uow, actor, "changing a role")
        user = _member_of_clinic(uow, user_id, actor)
        old_role = user.role
        if old_role == new_role:
            raise ConflictError(
                f"{user.email} is already {new_role.replace('_', ' ')}; nothing changed",
                code="conflict.same_role",
                fields={"user_id": user_id, "role": new_role},
            )
        if new_role != "admin":
            _keep_an_active_admin(uow, user, actor, f"making them {new_role.replace('_', ' ')}")
        user.role = new_role
        uow.audit(
            actor,
            AuditAction.USER_CHANGE_ROLE,
            "user",
            user_id,
            details={"from": old_role, "to": new_role},
        )
        member = _one(uow, user)
        uow.commit()
        return member


def reset_password(uow: UnitOfWork, user_id: int, password: str, *, actor: Actor) -> None:
    """An admin sets a member of staff's password; their sign-ins end (the new password is
    given to them in person, never stored or logged anywhere but as its hash)."""
    require_role(actor, ADMIN_ONLY, "resetting a password")
    with uow.lookup() as db:  # the same "not found" as every staff change
        in_clinic = db.scalar(
            select(User.id).where(User.id == user_id, User.clinic_id == actor.clinic_id)
        )
    if in_clinic is None:
        raise _not_found(user_id)
    set_password(uow, user_id, password, actor=actor)


MAX_NAME_LENGTH = MAX_STAFF_NAME_LENGTH


@dataclass(frozen=True, slots=True)
class NewStaffMember:
    """A member of staff as the admin types them in (the password is the initial one, given
    to them in person, like a reset's)."""

    full_name: str
    email: str
    role: str
    password: str


def new_member_problems(uow: UnitOfWork, new: NewStaffMember) -> list[InputError]:
    """Every field's problem at once (``[]`` when all is well), each naming its field: the
    name, the e-mail (its form, then whether an account has it), the role and the password
    rules."""
    problems: list[InputError] = []
    checks: tuple[tuple[str, Callable[[], object]], ...] = (
        ("full_name", lambda: checked_staff_name(new.full_name)),
        ("email", lambda: checked_email(new.email)),
        ("role", lambda: checked_role(new.role)),
        ("password", lambda: check_password_rules(new.password)),
    )
    for field, check in checks:
        try:
            check()
        except KetaplanError as refused:
            problems.append(InputError(refused.message, code=refused.code, fields={"field": field}))
    if all(problem.fields["field"] != "email" for problem in problems):
        address = checked_email(new.email)
        with uow.lookup() as db:  # checked again inside the write, which may still refuse it
            taken = db.scalar(select(User.id).where(User.email == address))
        if taken is not None:
            problems.append(
                InputError(
                    f"an account with e-mail {address} already exists (each member of staff "
                    "signs in with their own address)",
                    code="conflict.email_taken",
                    fields={"field": "email"},
                )
            )
    return problems


def add_staff_member(uow: UnitOfWork, new: NewStaffMember, *, actor: Actor) -> StaffMember:
    """Add a member of staff who can sign in with the initial password; every field's
    problem is refused at once (:class:`~ketaplan.errors.InputErrors`, each naming its field)
    and nothing is written."""
    require_role(actor, ADMIN_ONLY, "adding a member of staff")
    problems = new_member_problems(uow, new)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InputErrors(problems)
    user_id = add_user(
        uow,
        email=new.email,
        role=new.role,
        actor=actor,
        password=new.password,
        full_name=new.full_name,
    )
    with uow.lookup() as db:  # the row just written: a new account has no sign-ins yet
        user = db.get_one(User, user_id)
        return StaffMember(
            user_id=user.id,
            email=user.email,
            full_name=user.full_name or "",
            role=checked_role(user.role),
            active=user.active,
            has_password=user.password_hash is not None,
            open_sign_ins=0,
            created_at=user.created_at,
        )
