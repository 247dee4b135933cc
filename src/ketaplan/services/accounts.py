"""Accounts: passwords, signing in (rate-limited), and the tokens that carry a sign-in.

Passwords are hashed with Argon2id (:mod:`ketaplan.services.passwords`). A sign-in gives a
random token; only its SHA-256 is stored, so a copy of the database signs nobody in. The same
token serves as the browser's session cookie (``kind="cookie"``) or an API client's bearer token
(``kind="bearer"``); they differ in lifetime, and cookie requests that change something must
also carry the CSRF token derived from it (:func:`csrf_token_for`).

Guessing is rate-limited in the database, not in a process, so it holds across server workers:
after :data:`MAX_FAILURES_PER_EMAIL` failed attempts for an address (or
:data:`MAX_FAILURES_PER_ORIGIN` from one address on the network) within :data:`FAILURE_WINDOW`,
further attempts are refused without checking the password until the window has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import Engine, Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from ketaplan.errors import NotFoundError, NotSignedIn, TooManyAttempts
from ketaplan.services.actors import Actor, Visitor, require_role
from ketaplan.services.clinics import checked_role
from ketaplan.services.passwords import hash_password, password_matches
from ketaplan.services.unit_of_work import UnitOfWork, utc_now
from ketaplan.store.models import AccessToken, LoginAttempt, User

TokenKind = Literal["cookie", "bearer"]

LIFETIME: dict[TokenKind, timedelta] = {
    "cookie": timedelta(hours=12),  # one clinic day
    "bearer": timedelta(days=30),
}
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ORIGIN = 20


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
        user = uow.session.scalar(
            select(User).where(User.id == user_id, User.clinic_id == actor.clinic_id)
        )
        if user is None:
            raise NotFoundError(f"there is no user {user_id}", fields={"user_id": user_id})
        user.password_hash = hashed
        uow.session.execute(  # a new password ends every existing sign-in
            update(AccessToken)
            .where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
            .values(revoked_at=uow.clock())
        )
        uow.audit(actor, "user.set_password", "user", user_id)
        uow.commit()


@dataclass(frozen=True, slots=True)
class SignIn:
    """A successful sign-in: who, and the token to present (shown once, never stored)."""

    actor: Actor
    token: str
    csrf_token: str
    expires_at: datetime


def _failures(session: Session, condition: object, now: datetime) -> int:
    """Failed attempts matching ``condition`` within :data:`FAILURE_WINDOW` before ``now``."""
    found = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            condition,  # type: ignore[arg-type]
            LoginAttempt.at >= now - FAILURE_WINDOW,
            LoginAttempt.succeeded.is_(False),
        )
    )
    return found or 0


def account_locked_out(session: Session, email: str, now: datetime) -> bool:
    """Whether the account's recent failures (sign-ins and signatures alike) reached the
    limit: the same count guards both places a password is typed."""
    return _failures(session, LoginAttempt.email == email, now) >= MAX_FAILURES_PER_EMAIL


def _sign_in_blocked(session: Session, now: datetime, *, email: str, origin: str) -> bool:
    return (
        account_locked_out(session, email, now)
        or _failures(session, LoginAttempt.origin == origin, now) >= MAX_FAILURES_PER_ORIGIN
    )


def sign_in(uow: UnitOfWork, email: str, password: str, *, kind: TokenKind, origin: str) -> SignIn:
    """Check the password and start a signed-in session; every attempt is recorded.

    Argon2 takes about 0.4 s on purpose, so the password is checked inside no write
    transaction: the rate limit and the account are read first without taking SQLite's single
    write turn (:meth:`UnitOfWork.lookup`), and only then is the attempt written, in a short
    transaction that counts the failures again and reads the account again. An attempt that
    finds the limit reached by then gets no answer about its password, so simultaneous guesses
    cannot all slip under the limit; a crowd of wrong passwords never makes a nurse's chart
    entry wait behind the hashing.
    """
    address = email.strip().lower()[:320]
    visitor = Visitor(origin)
    with uow.lookup() as session:
        now = uow.clock()
        blocked = _sign_in_blocked(session, now, email=address, origin=origin)
        stored = None if blocked else _account(session, address)
        stored_hash = stored.password_hash if stored else None
    matched = False if blocked else password_matches(stored_hash, password)
    with uow:
        if blocked or _sign_in_blocked(uow.session, now, email=address, origin=origin):
            uow.audit(visitor, "auth.sign_in_refused", "user", address)
            uow.commit()
            raise TooManyAttempts(
                "too many failed sign-ins for this account or from this address; wait "
                f"{int(FAILURE_WINDOW.total_seconds() // 60)} minutes and try again, or ask an "
                "admin to reset the password",
                fields={"retry_after_s": int(FAILURE_WINDOW.total_seconds())},
            )
        # The account as it is now: a password changed or an account deactivated while the
        # hash was being checked does not let the old password in.
        user = _account(uow.session, address)
        succeeded = (
            matched
            and user is not None
            and stored_hash is not None
            and user.password_hash == stored_hash
        )
        uow.session.add(LoginAttempt(email=address, origin=origin, at=now, succeeded=succeeded))
        if not succeeded or user is None:
            uow.audit(visitor, "auth.sign_in_failed", "user", address)
            uow.commit()
            raise NotSignedIn(
                "the e-mail address or the password is wrong", code="auth.invalid_credentials"
            )
        token = secrets.token_urlsafe(32)
        expires_at = now + LIFETIME[kind]
        uow.session.add(
            AccessToken(
                token_hash=hash_token(token),
                user_id=user.id,
                kind=kind,
                created_at=now,
                expires_at=expires_at,
                origin=origin,
            )
        )
        actor = Actor(user.id, user.clinic_id, user.email, checked_role(user.role), origin)
        uow.audit(actor, "auth.sign_in", "user", user.id, details={"kind": kind})
        uow.commit()
    return SignIn(actor, token, csrf_token_for(token), expires_at)


def _account(session: Session, address: str) -> User | None:
    """The active account with this e-mail address, if any."""
    return session.scalar(select(User).where(User.email == address, User.active))


_TOKENS = cast(Table, AccessToken.__table__)
_USERS = cast(Table, User.__table__)
# Built once: every signed-in request runs it, and building the ORM query per request cost
# several times the query itself.
_SIGNED_IN_USER = (
    select(_USERS.c.id, _USERS.c.clinic_id, _USERS.c.email, _USERS.c.role)
    .select_from(_USERS.join(_TOKENS, _TOKENS.c.user_id == _USERS.c.id))
    .where(
        _TOKENS.c.token_hash == bindparam("token_hash"),
        _TOKENS.c.kind == bindparam("kind"),
        _TOKENS.c.revoked_at.is_(None),
        _TOKENS.c.expires_at > bindparam("now"),
        _USERS.c.active,
    )
)


def actor_for_token(lookups: Engine, token: str, *, kind: TokenKind, origin: str) -> Actor:
    """The signed-in user a token stands for; a missing, expired or revoked token is refused.

    A lookup, not an action: nothing is written (the request it authorises is audited). It
    runs on every signed-in request, on the API's event loop
    (:func:`ketaplan.api.security.authorize`), so it is one read on a connection of the lookup
    engine (:func:`ketaplan.store.engine.make_lookup_engine`), which never waits for a writer;
    without an ORM session around it, the check costs about 60 % of what it did.
    """
    with lookups.connect() as connection:
        found = connection.execute(
            _SIGNED_IN_USER, {"token_hash": hash_token(token), "kind": kind, "now": utc_now()}
        ).one_or_none()
    if found is None:
        raise NotSignedIn("you are not signed in, or your sign-in has expired; sign in again")
    user_id, clinic_id, email, role = found
    return Actor(user_id, clinic_id, email, checked_role(role), origin)


def sign_out(uow: UnitOfWork, token: str, *, actor: Actor) -> None:
    """End the sign-in this token carries."""
    with uow:
        uow.session.execute(
            update(AccessToken)
            .where(AccessToken.token_hash == hash_token(token), AccessToken.revoked_at.is_(None))
            .values(revoked_at=uow.clock())
        )
        uow.audit(actor, "auth.sign_out", "user", actor.user_id)
        uow.commit()
