"""The REST API: JSON routes under ``/api/v1``, over the same services as the CLI and the pages.

:func:`install` adds the routes to the app the composition root builds
(:func:`ketaplan.app.create_app`). What a route shares with the pages (the request context,
sign-in, the rules of the use cases, parameters, errors) is :mod:`ketaplan.http`; the API never
imports the pages, nor the pages the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from ketaplan.api.document import camel_case, complete_document
from ketaplan.api.routes import (
    audit,
    auth,
    bookings,
    care,
    courses,
    fhir,
    ledger,
    patients,
    plans,
    questionnaires,
    reports,
    screenings,
    sessions,
    staff,
    system,
    titration,
)

API_PREFIX = "/api/v1"


def operation_id(route: APIRoute) -> str:
    """The OpenAPI operation name: the route's name in camel case (``createPlan``), short
    and stable; FastAPI's default glues the name, path and method together
    (``create_plan_api_v1_patients__patient_id__plans_post``) and changes with the path.

    >>> operation_id(APIRoute("/x", lambda: None, name="sign_in_for_token"))
    'signInForToken'
    """
    return camel_case(route.name)


def install(app: FastAPI) -> None:
    """Mount the API's routes under :data:`API_PREFIX` on ``app``."""
    app.include_router(system.router, prefix=API_PREFIX, generate_unique_id_function=operation_id)
    for module in (
        auth,
        patients,
        screenings,
        plans,
        courses,
        bookings,
        sessions,
        questionnaires,
        care,
        titration,
        staff,
        audit,
        fhir,
        ledger,
        reports,
    ):
        app.include_router(
            module.router,
            prefix=API_PREFIX,
            generate_unique_id_function=operation_id,
        )
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]


def _document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document of the API, completed with sign-in and errors
    (:func:`~ketaplan.api.document.complete_document`), made once per app."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        app.openapi_schema = complete_document(document)
    return app.openapi_schema


__all__ = ["API_PREFIX", "install", "operation_id"]
