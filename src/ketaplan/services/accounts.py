"""Accounts: passwords, signing in (rate-limited), and the tokens that carry a sign-in.

Passwords are hashed with Argon2id (:mod:`ketaplan.services.passwords`). A sign-in gives a
random token; only its SHA-256 is stored, so a copy of the database signs nobody in. The same
token serves as the browser's session cookie (``kind="cookie"``) or an API client's bearer token
(``kind="bearer"``); they differ in lifetime, and cookie requests that change something must
also carry the CSRF token derived from it (:func:`csrf_token_for`).

Guessing is slowed in the database, not in a process, so it holds across server workers: after
a few wrong passwords for an account from one address, each next try there waits longer, and
high ceilings per address and per account slow guesses spread over many accounts or addresses
without locking the owner out where they usually sign in (:mod:`ketaplan.services.throttle`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import Engine, Table, bindparam, exists, select, update
from sqlalchemy.orm import Session

from ketaplan.errors import NotFoundError, NotSignedIn, TooManyAttempts
from ketaplan.services.actors import Actor, Visitor, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.clinics import checked_role
from ketaplan.services.passwords import hash_password, password_matches
from ketaplan.services.staff_names import shown_name
from ketaplan.services.throttle import (
    USUAL_ORIGIN_WITHIN,
    account_key,
    count_attempt,
    forget_account,
    forgive,
)
from ketaplan.services.unit_of_work import UnitOfWork, utc_now
from ketaplan.store import Database
from ketaplan.store.models import AccessToken, User

TokenKind = Literal["cookie", "bearer"]

LIFETIME: dict[TokenKind, timedelta] = {
    "cookie": timedelta(hours=12),  # one clinic day
    "bearer": timedelta(days=30),
}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token_for(token: str) -> str:
    """The CSRF token that goes with a sign-in token: derived from it, so nothing is stored,
    and unknowable to a page that cannot read the (HttpOnly) cookie."""
    return hmac.new(token.encode("utf-8"), b"ketaplan csrf", hashlib.sha256).hexdigest()


def set_password(uow: UnitOfWork, user_id: int, password: str, *, actor: Actor) -> None:
    """Set a user's password: their own, or anyone's in the clinic for an admin."""
    if user_id != actor.user_id:
        require_role(actor, ("admin",), "setting another user's password")
    hashed = hash_password(password)
    with uow:
        user = uow.db.scalar(
            select(User).where(User.id == user_id, User.clinic_id == actor.clinic_id)
        )
        if user is None:
            raise NotFoundError(f"there is no user {user_id}", fields={"user_id": user_id})
        user.password_hash = hashed
        forget_account(uow.db, account_key(user.email))  # a new password, a fresh start
        uow.db.execute(  # a new password ends every existing sign-in
            update(AccessToken)
            .where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
            .values(revoked_at=uow.clock())
        )
        uow.audit(actor, AuditAction.USER_SET_PASSWORD, "user", user_id)
        uow.commit()


@dataclass(frozen=True, slots=True)
class SignIn:
    """A successful sign-in: who, and the token to present (shown once, never stored)."""

    actor: Actor
    token: str
    csrf_token: str
    expires_at: datetime


UNKNOWN_ACCOUNT = "unknown account"
"""What the audit trail records for a sign-in at an address that is no account: never the
text typed, which may be a password typed into the wrong field."""


def sign_in(uow: UnitOfWork, email: str, password: str, *, kind: TokenKind, origin: str) -> SignIn:
    """Check the password and start a signed-in session; every attempt is audited.

    Argon2 takes about 0.4 s on purpose, so the password is checked inside no write
    transaction. The account is read first without taking SQLite's single write turn
    (:meth:`UnitOfWork.lookup`); the attempt is then counted by the throttle
    (:func:`~ketaplan.services.throttle.count_attempt`) in a short transaction of its own, which
    refuses it (429, with how long to wait) when the account or the address has had too many
    wrong passwords; only then is the password checked, and the outcome written in a second
    short transaction that reads the account again. A crowd of wrong passwords never makes a
    nurse's chart entry wait behind the hashing, and simultaneous guesses queue for the count.
    """
    address = email.strip().lower()[:320]
    account = account_key(address)
    visitor = Visitor(origin)
    with uow.lookup() as db:
        now = uow.clock()
        stored = _account(db, address)
        stored_hash = stored.password_hash if stored else None
        usual = stored is not None and _signed_in_from(db, stored.id, origin, now)
        entity = stored.id if stored is not None else UNKNOWN_ACCOUNT
    try:
        with uow:
            count_attempt(uow.db, account=account, origin=origin, usual_origin=usual, now=now)
            uow.commit_counters()
    except TooManyAttempts as refused:
        with uow:
            uow.audit(
                visitor, AuditAction.AUTH_SIGN_IN_REFUSED, "user", entity, details=refused.fields
            )
            uow.commit()
        raise
    matched = password_matches(stored_hash, password)
    with uow:
        # The account as it is now: a password changed or an account deactivated while the
        # hash was being checked does not let the old password in.
        user = _account(uow.db, address)
        succeeded = (
            matched
            and user is not None
            and stored_hash is not None
            and user.password_hash == stored_hash
        )
        if not succeeded or user is None:
            uow.audit(visitor, AuditAction.AUTH_SIGN_IN_FAILED, "user", entity)
            uow.commit()
            raise NotSignedIn(
                "the e-mail address or the password is wrong", code="auth.invalid_credentials"
            )
        forgive(uow.db, account=account, origin=origin)
        token = secrets.token_urlsafe(32)
        expires_at = now + LIFETIME[kind]
        uow.db.add(
            AccessToken(
                token_hash=hash_token(token),
                user_id=user.id,
                kind=kind,
                created_at=now,
                expires_at=expires_at,
                origin=origin,
            )
        )
        actor = Actor(
            user.id,
            user.clinic_id,
            user.email,
            shown_name(user.full_name, user.email),
            checked_role(user.role),
            origin,
        )
        uow.audit(actor, AuditAction.AUTH_SIGN_IN, "user", user.id, details={"kind": kind})
        uow.commit()
    return SignIn(actor, token, csrf_token_for(token), expires_at)


def _signed_in_from(db: Session, user_id: int, origin: str, now: datetime) -> bool:
    """Whether the account signed in from this address lately: one of its usual addresses,
    where guesses from elsewhere do not slow it down (:data:`throttle.ACCOUNT`)."""
    return bool(
        db.scalar(
            select(
                exists().where(
                    AccessToken.user_id == user_id,
                    AccessToken.origin == origin,
                    AccessToken.created_at >= now - USUAL_ORIGIN_WITHIN,
                )
            )
        )
    )


def _account(db: Session, address: str) -> User | None:
    """The active account with this e-mail address, if any."""
    return db.scalar(select(User).where(User.email == address, User.active))


_TOKENS = cast(Table, AccessToken.__table__)
_USERS = cast(Table, User.__table__)
# Built once: every signed-in request runs it, and building the ORM query per request cost
# several times the query itself.
_SIGNED_IN_USER = (
    select(_USERS.c.id, _USERS.c.clinic_id, _USERS.c.email, _USERS.c.full_name, _USERS.c.role)
    .select_from(_USERS.join(_TOKENS, _TOKENS.c.user_id == _USERS.c.id))
    .where(
        _TOKENS.c.token_hash == bindparam("token_hash"),
        _TOKENS.c.kind == bindparam("kind"),
        _TOKENS.c.revoked_at.is_(None),
        _TOKENS.c.expires_at > bindparam("now"),
        _USERS.c.active,
    )
)


def actor_for_token(
    lookups: Engine, token: str, *, kind: TokenKind, origin: str, now: datetime | None = None
) -> Actor:
    """The signed-in user a token stands for; a missing, expired or revoked token is refused.

    ``now`` is the server's clock (the one that stamped the token's expiry at sign-in), so a
    sign-in lasts its lifetime on that clock and on no other.

    A lookup, not an action: nothing is written (the request it authorises is audited). It
    runs on every signed-in request, on the API's event loop
    (:func:`ketaplan.http.security.authorize`), so it is one read on a connection of the lookup
    engine (:func:`ketaplan.store.engine.make_lookup_engine`), which never waits for a writer;
    without an ORM session around it, the check costs about 60 % of what it did.
    """
    with lookups.connect() as connection:
        found = connection.execute(
            _SIGNED_IN_USER,
            {"token_hash": hash_token(token), "kind": kind, "now": now or utc_now()},
        ).one_or_none()
    if found is None:
        raise NotSignedIn("you are not signed in, or your sign-in has expired; sign in again")
    user_id, clinic_id, email, full_name, role = found
    return Actor(
        user_id, clinic_id, email, shown_name(full_name, email), checked_role(role), origin
    )


def signed_in_actor(
    database: Database, token: str, *, kind: TokenKind, origin: str, now: datetime
) -> Actor:
    """The signed-in user a request's token stands for (:func:`actor_for_token`) at ``now`` on
    the server's clock, read on the database's lookup engine: the HTTP adapters hand over the
    database, never an engine."""
    return actor_for_token(database.lookup_engine, token, kind=kind, origin=origin, now=now)


def sign_out(uow: UnitOfWork, token: str, *, actor: Actor) -> None:
    """End the sign-in this token carries."""
    with uow:
        uow.db.execute(
            update(AccessToken)
            .where(AccessToken.token_hash == hash_token(token), AccessToken.revoked_at.is_(None))
            .values(revoked_at=uow.clock())
        )
        uow.audit(actor, AuditAction.AUTH_SIGN_OUT, "user", actor.user_id)
        uow.commit()
