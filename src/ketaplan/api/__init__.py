"""The REST API: FastAPI under ``/api/v1``, over the same services as the CLI and the web app.

:func:`create_app` builds the app around an open database; ``ketaplan serve`` runs it with
uvicorn. Every response carries the security headers (:mod:`.headers`). Every route passes
:func:`~ketaplan.api.security.authorize` (sign-in, CSRF for cookie
writes, the role matrix), and every error is JSON with a stable ``code`` (:mod:`.errors`);
every refusal (401, 403, 429) is recorded in the audit trail (:mod:`.refusals`).
The interactive documentation pages are off: they load their scripts from a CDN, and clinics
may be offline; the schema itself is at ``/api/v1/openapi.json`` for signed-in staff.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from ketaplan import __version__, web
from ketaplan.api.context import ServiceContext
from ketaplan.api.errors import install_error_handlers
from ketaplan.api.headers import SecurityHeaders
from ketaplan.api.limits import BodySizeLimit, UnexpectedErrors
from ketaplan.api.params import ERROR_RESPONSES
from ketaplan.api.refusals import RecordRefusals, RefusalRecorder
from ketaplan.api.routes import (
    auth,
    courses,
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
from ketaplan.api.security import authorize
from ketaplan.settings import DEFAULT_MAX_BODY_BYTES

API_PREFIX = "/api/v1"


def create_app(context: ServiceContext, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """The service app for one database and catalog; request bodies over ``max_body_bytes``
    are refused with a 413 (:mod:`.limits`)."""
    app = FastAPI(
        title="ketaplan",
        version=__version__,
        summary="Decision support and records for IV ketamine infusion clinics",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(authorize)],
    )
    app.state.services = context
    install_error_handlers(app)
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
        reports,
    ):
        app.include_router(module.router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    web.install(app)
    app.state.refusals = RefusalRecorder(context)
    app.add_middleware(RecordRefusals, recorder=app.state.refusals)
    app.add_middleware(BodySizeLimit, max_body_bytes=max_body_bytes)
    app.add_middleware(UnexpectedErrors)  # outside the body limit and the routes
    app.add_middleware(SecurityHeaders, hsts=context.secure_cookies)  # on every answer
    return app


def app_from_environment() -> FastAPI:
    """The app as uvicorn's factory builds it in each worker (``ketaplan serve``), from
    ``KETAPLAN_DATABASE_URL``, ``KETAPLAN_CATALOG``, ``KETAPLAN_PUBLIC_URL`` and
    ``KETAPLAN_SECURE_COOKIES``."""
    import os

    from ketaplan.api.context import build_context
    from ketaplan.settings import load_settings

    settings = load_settings(os.environ)
    secure = os.environ.get("KETAPLAN_SECURE_COOKIES", "").lower() in {"1", "true", "yes"}
    return create_app(
        build_context(
            settings.database_url,
            catalog_files=settings.catalog_files,
            secure_cookies=secure,
            public_url=settings.public_url,
        ),
        max_body_bytes=settings.max_body_bytes,
    )


__all__ = ["API_PREFIX", "ServiceContext", "app_from_environment", "create_app"]
