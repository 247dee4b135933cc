"""Who is acting: a signed-in member of staff, and where the request came from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ketaplan.errors import PermissionDenied

Role = Literal["admin", "prescriber", "nurse", "front_desk"]
ROLES: tuple[Role, ...] = ("admin", "prescriber", "nurse", "front_desk")


@dataclass(frozen=True, slots=True)
class Actor:
    """The acting user as every service takes it (``actor=``) and the audit trail records it.

    ``origin`` is where the action came from: the client's IP address for the API, ``"cli"``
    for the command line.
    """

    user_id: int
    clinic_id: int
    email: str
    name: str
    """As pages show them: their name, or their e-mail when their account has none
    (:func:`ketaplan.services.staff_names.shown_name`)."""
    role: Role
    origin: str = "cli"


@dataclass(frozen=True, slots=True)
class Visitor:
    """Someone acting without an account: a sign-in attempt, or a patient with a link.

    The audit trail records them by origin only (no user id, no role).
    """

    origin: str
    user_id: None = None
    role: None = None


def require_role(actor: Actor, allowed: Iterable[Role], doing: str) -> None:
    """Refuse unless the actor's role is one of ``allowed`` (clinical rules, e.g. overrides
    are a prescriber's; the full route-by-role matrix belongs to the API)."""
    allowed = tuple(allowed)
    if actor.role not in allowed:
        raise PermissionDenied(
            f"{doing} needs the role {' or '.join(allowed)}; {actor.email} is {actor.role}",
            fields={"role": actor.role, "allowed": list(allowed)},
        )
