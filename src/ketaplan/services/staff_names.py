"""How a member of staff is named wherever a page shows one: their name, or their e-mail (the
sign-in name) when no name was given (accounts made before names were kept, migration 0013, or
from the command line without ``--name``).

Every page that shows who did something (the chair board's nurse, an item 9 reviewer, a
record version's author, a booking change, a ledger entry's signer and witnesses, the audit
trail) names them through :func:`staff_names`, in one statement for all the people a page
shows. The signed-in member of staff carries their own shown name (``Actor.name``, read by the
sign-in check's one statement) for the page header, the lines that say who is signing and the
default signer name. The API keeps the e-mail where it always gave it (a stable key) and adds
the name beside it where noted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaplan.store.models import User


def shown_name(full_name: str | None, email: str) -> str:
    """A member of staff as a page names them.

    >>> shown_name("Robin Diaz", "nurse@bay.example"), shown_name("  ", "nurse@bay.example")
    ('Robin Diaz', 'nurse@bay.example')
    """
    return (full_name or "").strip() or email


@dataclass(frozen=True, slots=True)
class StaffMember:
    email: str
    """The sign-in name, which the API keeps giving where it always did."""
    name: str
    """As pages show them (:func:`shown_name`)."""


def staff_members(db: Session, user_ids: Iterable[int | None]) -> dict[int, StaffMember]:
    """Each of these members of staff by user id (``None`` ignored), in one statement; an id
    with no account is absent."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    found = db.execute(select(User.id, User.email, User.full_name).where(User.id.in_(ids)))
    return {user_id: StaffMember(email, shown_name(name, email)) for user_id, email, name in found}


def staff_names(db: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """The shown name of each of these members of staff, by user id (see
    :func:`staff_members`)."""
    return {user_id: member.name for user_id, member in staff_members(db, user_ids).items()}


def names_by_email(db: Session, emails: Iterable[str]) -> dict[str, str]:
    """The shown name of each of these sign-in names, for records that stored the e-mail (a
    discharge checklist's ``checked_by``); an address with no account is absent."""
    wanted = set(emails)
    if not wanted:
        return {}
    found = db.execute(select(User.email, User.full_name).where(User.email.in_(wanted)))
    return {email: shown_name(name, email) for email, name in found}
