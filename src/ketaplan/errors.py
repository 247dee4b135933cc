"""The errors ketaplan raises, one tree with one root.

::

    KetaplanError                 code, message, fields
    ├── InputError                bad input: a weight without a unit, an unknown term (CLI exit 2)
    │   ├── InputErrors           several fields bad at once, each with its own message
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

from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Self, TypeVar

T = TypeVar("T")


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


def _problem(error: InputError) -> dict[str, object]:
    """One refusal as a request validation's problem is written (``field``, ``problem``), with
    its ``code``: an API client reads both kinds of several-problem answer the same way."""
    return {
        "field": str(error.fields.get("field", "")),
        "problem": error.message,
        "code": error.code,
    }


class InputErrors(InputError):
    """Several fields of one form or request were bad: each one's :class:`InputError` is in
    ``errors`` (and, JSON-ready, in ``fields["problems"]``: field, problem and code), so a form
    shows every field's message at once instead of one per submit. The code and ``fields`` of
    the first are kept at the top level, so a client matching one error's code or field still
    finds it."""

    def __init__(self, errors: Sequence[InputError]) -> None:
        if not errors:
            raise ValueError("InputErrors needs at least one error")
        first = errors[0]
        super().__init__(
            f"{len(errors)} problems, nothing was saved: "
            + "; ".join(error.message for error in errors),
            code=first.code,
            fields={**first.fields, "problems": [_problem(error) for error in errors]},
        )
        self.errors: tuple[InputError, ...] = tuple(errors)

    def with_hint(self, hint: str) -> Self:
        hinted = type(self)(self.errors)
        hinted.message = f"{self.message} ({hint})"
        hinted.args = (hinted.message,)
        return hinted


class InputProblems:
    """Checks each field of a form in turn and keeps every refusal, rather than stopping at
    the first: ``problems.check(parse_price, text)`` returns the parsed value, or ``None``
    when it was refused (the refusal kept); :meth:`raise_any` then raises the one refusal as
    it was, or all of them as :class:`InputErrors`. A check that needs an earlier field's
    value runs only when that value is not ``None``."""

    def __init__(self) -> None:
        self.found: list[InputError] = []

    def check(self, parse: Callable[..., T], *args: object, **kwargs: object) -> T | None:
        try:
            return parse(*args, **kwargs)
        except InputError as refused:
            self.add(refused)
        return None

    def add(self, refused: InputError) -> None:
        """Keep a refusal (each of several); the same message about the same field once (a
        check run once per row, say once per vial of a delivery, says it once)."""
        for one in refused.errors if isinstance(refused, InputErrors) else (refused,):
            said = (one.fields.get("field"), one.message)
            if all((kept.fields.get("field"), kept.message) != said for kept in self.found):
                self.found.append(one)

    def raise_any(self) -> None:
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise InputErrors(self.found)


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
