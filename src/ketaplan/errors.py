"""The errors ketaplan raises, one tree with one root.

::

    KetaplanError                 code, message, fields
    ├── InputError                bad input: a weight without a unit, an unknown term (CLI exit 2)
    │   └── CatalogError          a catalog data file that does not validate
    ├── SafetyLimitError          a dose the limits do not let through (CLI exit 3)
    │   ├── OverrideRequired      above a soft limit, and no override with reason and prescriber
    │   └── HardLimitExceeded     above a hard limit: refused, override or not
    ├── NotFoundError             a record or catalog entry that does not exist
    ├── ConflictError             a stale version or an impossible sequence of events
    ├── NotSignedIn               no valid sign-in (missing, wrong, expired or revoked)
    ├── PermissionDenied          the acting user's role does not allow it
    ├── TooManyAttempts           sign-in attempts over the rate limit; try again later
    └── DatabaseNotReady          the database is not migrated to this version of ketaplan

Expected clinical findings (a contraindication, a flagged score) are data, not errors. Each entry
point maps these once: the CLI to a message and an exit code, the API to a 4xx JSON body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Self


class KetaplanError(Exception):
    """Root of every error ketaplan raises on purpose.

    ``code`` is stable (clients may match on it); ``message`` is for a person; ``fields`` holds
    the structured values behind the message (the offending value, what is accepted).
    """

    default_code: ClassVar[str] = "error"
    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields: dict[str, object] = dict(fields or {})

    def with_hint(self, hint: str) -> Self:
        """The same error (class, code, fields) with a hint for one entry point appended to
        its message: the domain says what is needed in its own words, and the CLI, the API or
        a page says how to give it there (``--override-reason`` means nothing in a form)."""
        return type(self)(f"{self.message} ({hint})", code=self.code, fields=self.fields)

    def to_dict(self) -> dict[str, object]:
        """The error as a JSON-ready mapping: ``{code, message, **fields}``."""
        return {"code": self.code, "message": self.message, **self.fields}


class InputError(KetaplanError):
    """The input is malformed, out of range or unknown; nothing was changed."""

    default_code = "input.invalid"
    exit_code = 2
    http_status = 422


class CatalogError(InputError):
    """A catalog file (protocols, vocabulary, limits) failed validation; names file and field."""

    default_code = "catalog.invalid"


class SafetyLimitError(KetaplanError):
    """A dose outside the dose-error-reduction limits."""

    default_code = "limit.exceeded"
    exit_code = 3
    http_status = 422


class OverrideRequired(SafetyLimitError):
    """Above a soft limit: a prescriber's override with a reason is needed."""

    default_code = "limit.override_required"


class HardLimitExceeded(SafetyLimitError):
    """Above a hard limit: refused whatever the override."""

    default_code = "limit.hard_limit_exceeded"


class NotFoundError(KetaplanError):
    """A record or catalog entry that does not exist."""

    default_code = "not_found"
    exit_code = 4
    http_status = 404


class ConflictError(KetaplanError):
    """A stale version, or an event that cannot follow the ones before it."""

    default_code = "conflict"
    exit_code = 5
    http_status = 409


class NotSignedIn(KetaplanError):
    """No valid sign-in: wrong password, or a token that is missing, expired or revoked."""

    default_code = "auth.not_signed_in"
    exit_code = 6
    http_status = 401


class TooManyAttempts(KetaplanError):
    """Too many failed sign-ins for this address or origin in the window; wait, then retry."""

    default_code = "auth.too_many_attempts"
    exit_code = 6
    http_status = 429


class PermissionDenied(KetaplanError):
    """The acting user's role does not permit the action."""

    default_code = "permission_denied"
    exit_code = 6
    http_status = 403


class DatabaseNotReady(KetaplanError):
    """The database's schema is not the one this code needs; the message names the command."""

    default_code = "database.not_migrated"
    exit_code = 7
    http_status = 503
