"""The REST API: JSON routes under ``/api/v1``, over the same services as the CLI and the pages.

:func:`install` adds the routes to the app the composition root builds
(:func:`ketaplan.app.create_app`). What a route shares with the pages (the request context,
sign-in, the rules of the use cases, parameters, errors) is :mod:`ketaplan.http`; the API never
imports the pages, nor the pages the API.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from ketaplan.api.routes import (
    auth,
    bookings,
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
from ketaplan.http.params import ERROR_RESPONSES

API_PREFIX = "/api/v1"


def operation_id(route: APIRoute) -> str:
    """The OpenAPI operation name: the route's name in camel case (``createPlan``), short
    and stable; FastAPI's default glues the name, path and method together
    (``create_plan_api_v1_patients__patient_id__plans_post``) and changes with the path.

    >>> operation_id(APIRoute("/x", lambda: None, name="sign_in_for_token"))
    'signInForToken'
    """
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


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
        titration,
        staff,
        fhir,
        ledger,
        reports,
    ):
        app.include_router(
            module.router,
            prefix=API_PREFIX,
            responses=ERROR_RESPONSES,
            generate_unique_id_function=operation_id,
        )


__all__ = ["API_PREFIX", "install", "operation_id"]
