"""The OpenAPI document as a client generator needs it: who must sign in, and every error.

FastAPI writes the operations from the routes, but it cannot see two things ketaplan does
around them, so :func:`complete_document` adds them:

- **Sign-in.** Authorisation is one app-wide dependency (:func:`ketaplan.http.security.
  authorize`) that reads the bearer header itself, so no operation says it needs one. The
  document declares an HTTP bearer scheme and puts it on every operation whose rule is not
  :data:`~ketaplan.http.permissions.PUBLIC` (health, sign-in and the patient's questionnaire
  link go without). The sign-in cookie is for the pages and is left out.
- **Errors.** Every error is the same body (:class:`~ketaplan.http.params.ErrorOut`) with the
  status of its error (:mod:`ketaplan.http.errors`). Each operation documents the statuses it
  can answer, worked out from what the layers around the route do, not from a blanket list:

  ===== ================================================================================
  400   the body could not be read as JSON (operations that take a body)
  401   no valid sign-in (protected operations; a wrong password at sign-in)
  403   the role does not allow it (protected operations)
  404   no such record in the caller's clinic (operations that name a record in the path
        or the body)
  409   someone changed the record first, or the step is out of order (operations that
        write)
  413   the body is over the server's cap (:mod:`ketaplan.http.limits`)
  422   a parameter or the body is not valid, or a dose limit refuses it
  429   too many wrong passwords (operations that check one, :data:`THROTTLED`, from the
        throttle's own use cases in :mod:`ketaplan.http.limits`); with ``Retry-After``
  503   the database was busy or out of reach (every operation); with ``Retry-After``
  ===== ================================================================================
"""

from __future__ import annotations

from typing import Any, Final

from ketaplan.http.limits import throttled_routes
from ketaplan.http.params import ErrorOut
from ketaplan.http.permissions import PUBLIC, RULES, rule_for

BEARER: Final = "bearer"
"""The security scheme's name in the document."""

THROTTLED: Final = throttled_routes()
"""Route names whose operations can answer 429 (the password throttle's refusal), derived
from the throttle's use cases (:data:`ketaplan.http.limits.PASSWORD_CHECKED`)."""

_ERROR_SCHEMA: Final = {"$ref": "#/components/schemas/ErrorOut"}
_RETRY_AFTER: Final = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_DESCRIPTIONS: Final = {
    400: "The body could not be read as JSON",
    401: "Not signed in, or the sign-in is not valid",
    403: "The role or the CSRF token does not allow it",
    404: "No such record in your clinic",
    409: "Someone else changed the record first, or the step is out of order",
    413: "The request body is larger than the server accepts",
    422: "The request is not valid, or a dose limit refuses it",
    429: "Too many wrong passwords: wait for Retry-After seconds",
    503: "The database is busy or out of reach; nothing was saved: try again after Retry-After",
}
_WRITES: Final = frozenset({"post", "put", "patch", "delete"})
_SIGN_IN_AND_OUT: Final = frozenset({"sign_in_for_token", "sign_out"})
"""They write a token, not a record: nothing to find (an unknown address is a 401) or to
change first."""
_FASTAPI_422: Final = "Validation Error"
_FASTAPI_SCHEMAS: Final = ("HTTPValidationError", "ValidationError")
"""FastAPI's own 422 body, which ketaplan replaces with :class:`ErrorOut`
(:mod:`ketaplan.http.errors`): dropped from the document."""


def camel_case(route_name: str) -> str:
    """A route's name as its operation id: ``create_plan`` → ``createPlan``.

    >>> camel_case("sign_in_for_token")
    'signInForToken'
    """
    first, *rest = route_name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def error_statuses(route_name: str, operation: dict[str, Any], method: str) -> list[int]:
    """The error statuses ``operation`` (route ``route_name``'s, for ``method``) can answer."""
    public = rule_for(route_name) == PUBLIC
    has_body = "requestBody" in operation
    parameters = operation.get("parameters", [])
    names_a_record = has_body or any(p.get("in") == "path" for p in parameters)
    statuses = {503}
    if has_body:
        statuses |= {400, 413}
    if not public or route_name == "sign_in_for_token":
        statuses.add(401)
    if not public:
        statuses.add(403)
    if names_a_record and route_name not in _SIGN_IN_AND_OUT:
        statuses.add(404)
    if method in _WRITES and route_name not in _SIGN_IN_AND_OUT:
        statuses.add(409)
    if has_body or parameters:
        statuses.add(422)
    if route_name in THROTTLED:
        statuses.add(429)
    return sorted(statuses)


def _error_response(status: int, documented: dict[str, Any] | None) -> dict[str, Any]:
    description = (documented or {}).get("description", _DESCRIPTIONS[status])
    if description == _FASTAPI_422:  # FastAPI's, with a body ketaplan never sends
        description = _DESCRIPTIONS[status]
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
    }
    if status in (429, 503):
        response["headers"] = dict(_RETRY_AFTER)
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
        }
    return response


def complete_document(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the bearer scheme and every operation's error statuses (see the
    module docstring). An operation is matched to its route's rule by its id, the route's
    name in camel case (:func:`camel_case`)."""
    by_operation = {camel_case(name): name for name in RULES}
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, schema in _error_schemas().items():
        schemas.setdefault(name, schema)
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "The token from POST /api/v1/auth/token, as "
            "`Authorization: Bearer <token>`.",
        }
    }
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            route_name = by_operation.get(operation.get("operationId", ""))
            if route_name is None:
                raise ValueError(f"operation {operation.get('operationId')} matches no route")
            if rule_for(route_name) != PUBLIC:
                operation["security"] = [{BEARER: []}]
            responses = operation.setdefault("responses", {})
            for status in error_statuses(route_name, operation, method):
                responses[str(status)] = _error_response(status, responses.get(str(status)))
    for name in _FASTAPI_SCHEMAS:
        schemas.pop(name, None)
    return document


def _error_schemas() -> dict[str, Any]:
    """ErrorOut and the models it refers to, as component schemas."""
    schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return {**definitions, "ErrorOut": schema}


__all__ = ["BEARER", "THROTTLED", "camel_case", "complete_document", "error_statuses"]
