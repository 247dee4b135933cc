"""The REST API: JSON routes under ``/api/v1``, over the same services as the CLI and the pages.

:func:`install` adds the routes to the app the composition root builds
(:func:`ketaplan.app.create_app`). What a route shares with the pages (the request context,
sign-in, the rules of the use cases, parameters, errors) is :mod:`ketaplan.http`; the API never
imports the pages, nor the pages the API.
"""

from __future__ import annotations

from fastapi import FastAPI

from ketaplan.api.routes import (
    auth,
    courses,
    patients,
    plans,
    questionnaires,
    screenings,
    sessions,
    staff,
    system,
    titration,
)
from ketaplan.http.params import ERROR_RESPONSES

API_PREFIX = "/api/v1"


def install(app: FastAPI) -> None:
    """Mount the API's routes under :data:`API_PREFIX` on ``app``."""
    app.include_router(system.router, prefix=API_PREFIX)
    for module in (
        auth,
        patients,
        screenings,
        plans,
        courses,
        sessions,
        questionnaires,
        titration,
        staff,
    ):
        app.include_router(module.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)


__all__ = ["API_PREFIX", "install"]
