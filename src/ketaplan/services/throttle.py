"""The sign-in throttle: wrong passwords make the next try wait, never lock anyone out for good.

Each password check (a sign-in, or a signer's password on an order) is counted against three
keys, each a row of ``sign_in_throttle``:

* :data:`ACCOUNT_AT_ORIGIN`, one account from one network address: a few free mistakes, then
  each next try waits 1 s, 2 s, 4 s ... up to :data:`LONGEST_DELAY` after the last failure.
  This is what slows a guesser, and all it does to the owner is slow them too, at that address;
* :data:`ORIGIN`, one address over all accounts (unknown ones too): a ceiling on spraying
  guesses over many accounts, set high because a clinic behind one NAT shares one address;
* :data:`ACCOUNT`, one account from everywhere: a ceiling on guesses from many addresses. It is
  counted everywhere but applied only at addresses the account has not signed in from within
  :data:`USUAL_ORIGIN_WITHIN`: guessers elsewhere cannot hold the owner up at their usual desk.

A success forgives its account's counters (and its own count at the address). Failures are
forgotten after a quiet spell (:attr:`Limit.forgotten_after`), and their rows are then deleted.

The count is atomic on both databases: an attempt is counted *before* its password is checked,
in a short transaction that locks the keys' rows (``SELECT ... FOR UPDATE`` in one order on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so simultaneous guesses queue for the count and
cannot all slip under a limit; the slow check itself holds no lock.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ketaplan.errors import TooManyAttempts
from ketaplan.store.models import SignInThrottle


@dataclass(frozen=True, slots=True)
class Limit:
    scope: str
    free_failures: int
    """Failures in a row before each next try has to wait."""
    forgotten_after: timedelta
    """A quiet spell (no failure) after which the failures no longer count."""


ACCOUNT_AT_ORIGIN = Limit("account_origin", 5, timedelta(hours=24))
ORIGIN = Limit("origin", 100, timedelta(hours=1))
ACCOUNT = Limit("account", 50, timedelta(hours=24))
LIMITS = {limit.scope: limit for limit in (ACCOUNT_AT_ORIGIN, ORIGIN, ACCOUNT)}
FIRST_DELAY = timedelta(seconds=1)
LONGEST_DELAY = timedelta(minutes=15)
USUAL_ORIGIN_WITHIN = timedelta(days=30)
"""An address the account signed in from within this time is one of its usual ones."""
KEPT_FOR = max(limit.forgotten_after for limit in LIMITS.values())
"""How long a counter outlives its last failure (then it is deleted)."""


def delay_after(failures: int, limit: Limit) -> timedelta:
    """How long after the last failure the next try waits: nothing while the failures are
    free, then 1 s, doubling with each further failure, at most :data:`LONGEST_DELAY`."""
    over = failures - limit.free_failures
    if over < 0:
        return timedelta(0)
    delay: timedelta = FIRST_DELAY * 2 ** min(over, 20)
    return min(delay, LONGEST_DELAY)


def account_key(address: str) -> str:
    """The account as the throttle stores it: the address's SHA-256, so that text typed into
    the e-mail field (a password, say) is never stored as typed."""
    return hashlib.sha256(address.encode("utf-8")).hexdigest()


def _keys(account: str, origin: str) -> list[tuple[str, str]]:
    pair = (ACCOUNT_AT_ORIGIN.scope, f"{account} {origin}")
    # One order everywhere, so that two attempts never wait for each other's rows.
    return sorted([pair, (ORIGIN.scope, origin), (ACCOUNT.scope, account)])


def _matching(keys: list[tuple[str, str]]) -> object:
    return or_(*(and_(SignInThrottle.scope == s, SignInThrottle.key == k) for s, k in keys))


def count_attempt(
    db: Session, *, account: str, origin: str, usual_origin: bool, now: datetime
) -> None:
    """Count a password check about to happen as a failure (a success forgives it:
    :func:`forgive`), or refuse it with :class:`TooManyAttempts` and count nothing.

    Call it in a transaction of its own, committed before the password is checked: the rows it
    locks are what every other attempt at the same keys waits for."""
    forgotten = (  # rows another attempt holds are left to a later one: no waiting here
        select(SignInThrottle.scope, SignInThrottle.key)
        .where(SignInThrottle.last_failure_at < now - KEPT_FOR)
        .with_for_update(skip_locked=True)
    )
    db.execute(
        delete(SignInThrottle).where(
            tuple_(SignInThrottle.scope, SignInThrottle.key).in_(forgotten)
        )
    )
    keys = _keys(account, origin)
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.execute(
        insert(SignInThrottle)
        .values([{"scope": s, "key": k, "failures": 0, "last_failure_at": now} for s, k in keys])
        .on_conflict_do_nothing()
    )
    rows = db.scalars(
        select(SignInThrottle)
        .where(_matching(keys))  # type: ignore[arg-type]
        .order_by(SignInThrottle.scope, SignInThrottle.key)
        .with_for_update()
    ).all()
    waits = []
    for row in rows:
        limit = LIMITS[row.scope]
        if now - row.last_failure_at >= limit.forgotten_after:
            row.failures = 0
        if row.scope == ACCOUNT.scope and usual_origin:
            continue
        ready_at = row.last_failure_at + delay_after(row.failures, limit)
        if row.failures >= limit.free_failures and ready_at > now:
            waits.append(ready_at - now)
    if waits:
        wait_s = max(1, math.ceil(max(waits).total_seconds()))
        raise TooManyAttempts(
            "too many wrong passwords for this account or from this address; try again in "
            f"{_spoken(wait_s)}, or ask an admin to reset the password",
            fields={"retry_after_s": wait_s},
        )
    for row in rows:
        row.failures += 1
        row.last_failure_at = now


def forgive(db: Session, *, account: str, origin: str) -> None:
    """After the right password: the account's failures are forgiven, and the address keeps
    its other failures but not the count of this attempt."""
    db.execute(  # locked in count_attempt's order first, so the two never deadlock
        select(SignInThrottle.scope)
        .where(_matching(_keys(account, origin)))  # type: ignore[arg-type]
        .order_by(SignInThrottle.scope, SignInThrottle.key)
        .with_for_update()
    ).all()
    forgiven = [(ACCOUNT_AT_ORIGIN.scope, f"{account} {origin}"), (ACCOUNT.scope, account)]
    db.execute(delete(SignInThrottle).where(_matching(forgiven)))  # type: ignore[arg-type]
    db.execute(
        update(SignInThrottle)
        .where(SignInThrottle.scope == ORIGIN.scope, SignInThrottle.key == origin)
        .where(SignInThrottle.failures > 0)
        .values(failures=SignInThrottle.failures - 1)
    )


def forget_account(db: Session, account: str) -> None:
    """Forget the account's failures, at every address (its password was reset)."""
    the_accounts = or_(
        and_(SignInThrottle.scope == ACCOUNT.scope, SignInThrottle.key == account),
        and_(
            SignInThrottle.scope == ACCOUNT_AT_ORIGIN.scope,
            SignInThrottle.key.startswith(f"{account} ", autoescape=True),
        ),
    )
    db.execute(  # locked in count_attempt's order first, so the two never deadlock
        select(SignInThrottle.scope)
        .where(the_accounts)
        .order_by(SignInThrottle.scope, SignInThrottle.key)
        .with_for_update()
    ).all()
    db.execute(delete(SignInThrottle).where(the_accounts))


def _spoken(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"
