"""Witnesses to the ledger: another member of staff who re-enters their own password.

A witness is named by e-mail and signs on the spot with their password, on the screen (or the
command line) of the one wasting or destroying. The check runs before the write transaction
(Argon2 is slow on purpose; no writer waits for it), counted by the same throttle as sign-in
for the witness's account, and a wrong password is audited. Whatever is read here is checked
again inside the write transaction (:func:`still_witness`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ketaplan.errors import InputError, PermissionDenied
from ketaplan.services.actors import Actor, Role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.passwords import password_matches
from ketaplan.services.throttle import account_key, count_attempt, forgive
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import User

WITNESSING: tuple[Role, ...] = ("admin", "prescriber", "nurse")
"""Who may witness a waste or a destruction: licensed or responsible staff, never the desk."""


@dataclass(frozen=True, slots=True)
class Witness:
    user_id: int
    email: str
    role: str


def check_witness(
    uow: UnitOfWork,
    email: str | None,
    password: str | None,
    *,
    actor: Actor,
    action: AuditAction,
    entity: tuple[str, object],
    doing: str,
) -> Witness:
    """The witness, once their password is right; refused (nothing written but the audited
    refusal of a wrong password) when absent, the actor, not staff who may witness, or wrong."""
    address = (email or "").strip().lower()
    if not address:
        raise InputError(
            f"{doing} needs a witness: another member of staff who watches and re-enters "
            "their own password",
            code="ledger.witness_missing",
            fields={"field": "witness"},
        )
    if address == actor.email:
        raise InputError(
            f"the witness to {doing} must be someone other than {actor.email}, who is doing it",
            code="ledger.witness_is_waster",
            fields={"field": "witness"},
        )
    if not password:
        raise InputError(
            f"the witness {address} signs by re-entering their own password",
            code="ledger.witness_password_missing",
            fields={"field": "witness_password"},
        )
    with uow.lookup() as session:
        now = uow.clock()
        user = session.scalar(select(User).where(User.email == address, User.active))
        found = None if user is None else Witness(user.id, user.email, user.role)
        stored = None if user is None else user.password_hash
        clinic_id = None if user is None else user.clinic_id
    account = account_key(address)
    with uow:
        count_attempt(uow.db, account=account, origin=actor.origin, usual_origin=True, now=now)
        uow.commit_counters()
    matched = password_matches(stored, password)
    if found is None or clinic_id != actor.clinic_id or not matched:
        with uow:
            uow.audit(
                actor,
                action,
                entity[0],
                entity[1],
                details={"refused": "witness_not_signed", "witness": address},
            )
            uow.commit()
        raise PermissionDenied(
            f"the witness's e-mail or password is wrong: {address} must be an active member of "
            "this clinic's staff and re-enter their own password; nothing was written",
            code="ledger.witness_not_signed",
            fields={"field": "witness_password"},
        )
    with uow:
        forgive(uow.db, account=account, origin=actor.origin)
        uow.commit_counters()
    if found.role not in WITNESSING:
        raise PermissionDenied(
            f"{address} is {found.role}; a witness must be a nurse, prescriber or admin",
            code="ledger.witness_role",
            fields={"field": "witness", "role": found.role, "allowed": list(WITNESSING)},
        )
    return found


def still_witness(uow: UnitOfWork, witness: Witness) -> None:
    """Inside the write transaction: the witness is still active with the same role."""
    user = uow.db.get(User, witness.user_id)
    if user is None or not user.active or user.role != witness.role:
        raise PermissionDenied(
            f"the witness {witness.email} was deactivated or changed role meanwhile; sign again",
            code="ledger.witness_not_signed",
            fields={"field": "witness"},
        )
