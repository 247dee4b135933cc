"""Password hashing with Argon2id (argon2-cffi's defaults: RFC 9106's low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ketaplan.errors import InputError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

HASHER = PasswordHasher()
"""The hasher; tests swap in a cheaper one (hashing is slow on purpose)."""

_NO_SUCH_ACCOUNT = HASHER.hash("an account that does not exist")


def check_password_rules(password: str) -> None:
    """Refuse a password the rules do not accept (its length), saying what is accepted;
    without hashing it, so a form can check it beside its other fields first."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InputError(
            f"a password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters "
            f"long (this one has {len(password)}); a passphrase of a few words is easiest",
            code="input.weak_password",
            fields={"field": "password", "min_length": MIN_PASSWORD_LENGTH},
        )


def hash_password(password: str) -> str:
    """The hash of an acceptable password (its length is checked first)."""
    check_password_rules(password)
    return HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (no such account, or no password set) the
    check still runs against a dummy hash, so the time taken does not tell which it was."""
    try:
        matched = HASHER.verify(password_hash or _NO_SUCH_ACCOUNT, password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None
