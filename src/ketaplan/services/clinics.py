"""Setting up a clinic and its staff.

The first admin is created with the clinic, in one transaction, and is the actor of its audit
events (there is nobody else yet). A user created without a password cannot sign in (the CLI
acts through :func:`load_actor`) until one is set (:mod:`ketaplan.services.accounts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from ketaplan.errors import ConflictError, InputError, NotFoundError
from ketaplan.inputs import control_character
from ketaplan.services.actors import ROLES, Actor, Role, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.passwords import hash_password
from ketaplan.services.staff_names import shown_name
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import Clinic, User


def checked_email(text: str) -> str:
    """An e-mail address as stored (trimmed, lower case), or a refusal with an example."""
    email = text.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or " " in email or len(email) > 320:
        raise InputError(
            f"{text!r} is not an e-mail address (e.g. nurse@clinic.example)",
            code="input.invalid_email",
            fields={"field": "email", "value": text},
        )
    return email


MAX_STAFF_NAME_LENGTH = 200


def checked_staff_name(text: str) -> str:
    """A member of staff's name as stored (trimmed), or a refusal saying what is accepted."""
    name = text.strip()
    if not name:
        problem = "give the member of staff's name, as it should appear in the records"
    elif len(name) > MAX_STAFF_NAME_LENGTH:
        problem = f"a name is at most {MAX_STAFF_NAME_LENGTH} characters (this one has {len(name)})"
    else:
        found = control_character(text)
        if found is None:
            return name
        problem = f"the name {found}"
    raise InputError(problem, code="input.invalid_name", fields={"field": "full_name"})


def checked_role(text: str) -> Role:
    if text not in ROLES:
        raise InputError(
            f"role {text!r} is not one of {', '.join(ROLES)}",
            code="input.invalid_choice",
            fields={"field": "role", "value": text, "accepted": list(ROLES)},
        )
    return text


def _time_zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"time zone {text!r} is not an IANA zone (e.g. America/Los_Angeles)",
            code="input.invalid_time_zone",
            fields={"field": "time_zone", "value": text},
        ) from None
    return text


def _hashed(password: str | None) -> str | None:
    return None if password is None else hash_password(password)


def _refuse_taken_email(uow: UnitOfWork, email: str) -> None:
    if uow.db.scalar(select(User.id).where(User.email == email)) is not None:
        raise ConflictError(
            f"a user with e-mail {email} already exists",
            code="conflict.email_taken",
            fields={"email": email},
        )


def set_up_clinic(
    uow: UnitOfWork,
    *,
    name: str,
    time_zone: str,
    admin_email: str,
    settings: Mapping[str, Any] | None = None,
    origin: str = "cli",
    admin_password: str | None = None,
    admin_full_name: str | None = None,
) -> Actor:
    """Create a clinic and its first admin; returns the admin as an actor."""
    if not name.strip():
        raise InputError("the clinic needs a name", code="input.missing", fields={"field": "name"})
    email = checked_email(admin_email)
    admin_name = None if admin_full_name is None else checked_staff_name(admin_full_name)
    password_hash = _hashed(admin_password)
    with uow:
        _refuse_taken_email(uow, email)
        now = uow.clock()
        clinic = Clinic(
            name=name.strip(),
            time_zone=_time_zone(time_zone),
            settings=dict(settings or {}),
            created_at=now,
        )
        uow.db.add(clinic)
        uow.db.flush()
        admin = User(
            clinic_id=clinic.id,
            email=email,
            full_name=admin_name,
            role="admin",
            password_hash=password_hash,
            created_at=now,
        )
        uow.db.add(admin)
        uow.db.flush()
        actor = Actor(admin.id, clinic.id, email, shown_name(admin_name, email), "admin", origin)
        uow.audit(
            actor, AuditAction.CLINIC_CREATE, "clinic", clinic.id, details={"name": clinic.name}
        )
        uow.audit(actor, AuditAction.USER_CREATE, "user", admin.id, details={"role": "admin"})
        uow.commit()
    return actor


def add_user(
    uow: UnitOfWork,
    *,
    email: str,
    role: str,
    actor: Actor,
    password: str | None = None,
    full_name: str | None = None,
) -> int:
    """Add a member of staff to the actor's clinic (admins only); returns the user id.

    Without a password the account exists but cannot sign in until one is set. ``full_name``
    is checked and kept trimmed (the command line may leave it out).
    """
    require_role(actor, ("admin",), "adding a user")
    address, valid_role = checked_email(email), checked_role(role)
    name = None if full_name is None else checked_staff_name(full_name)
    password_hash = _hashed(password)
    with uow:
        _refuse_taken_email(uow, address)
        user = User(
            clinic_id=actor.clinic_id,
            email=address,
            full_name=name,
            role=valid_role,
            password_hash=password_hash,
            created_at=uow.clock(),
        )
        uow.db.add(user)
        uow.db.flush()
        uow.audit(actor, AuditAction.USER_CREATE, "user", user.id, details={"role": valid_role})
        uow.commit()
        return user.id


def load_actor(uow: UnitOfWork, email: str, *, origin: str) -> Actor:
    """The active user with this e-mail as an actor, for the command line (no password)."""
    address = email.strip().lower()
    with uow:
        user = uow.db.scalar(select(User).where(User.email == address, User.active))
        if user is None:
            raise NotFoundError(f"no active user with e-mail {address}", fields={"email": address})
        return Actor(
            user.id,
            user.clinic_id,
            user.email,
            shown_name(user.full_name, user.email),
            checked_role(user.role),
            origin,
        )
