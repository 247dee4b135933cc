"""The composition root: the one place that builds the running service.

It reads the service settings from the environment (:mod:`ketaplan.settings`), loads the
clinical catalog, opens the database and builds the FastAPI app with both adapters side by
side: the REST API (:mod:`ketaplan.api`, under ``/api/v1``) and the pages (:mod:`ketaplan.web`),
over what they share (:mod:`ketaplan.http`). Everything else receives what it needs from here;
nothing imports this module but entry points (uvicorn's factory string
``ketaplan.app:app_from_environment``, the ``ketaplan`` commands that serve or seed a clinic,
tests and benchmarks), so the layers below never depend on how they are assembled
(``tests/unit/test_layers.py`` checks it).

Every response carries the security headers (:mod:`ketaplan.http.headers`). Every route passes
:func:`~ketaplan.http.security.authorize` (sign-in, CSRF for cookie writes, the rule of its use
case), and every error is JSON with a stable ``code`` or, for a page, an HTML error page
(:mod:`ketaplan.http.errors`); every refusal (401, 403, 429) is recorded in the audit trail
(:mod:`ketaplan.http.refusals`). The interactive documentation pages are off: they load their
scripts from a CDN, and clinics may be offline; the schema itself is at
``/api/v1/openapi.json`` for signed-in staff.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from fastapi import Depends, FastAPI

from ketaplan import __version__, api, web
from ketaplan.clinical.catalog import load_catalog
from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.drug_dictionary import DnerDrugDictionary
from ketaplan.http.context import ServiceContext
from ketaplan.http.errors import install_error_handlers
from ketaplan.http.headers import SecurityHeaders
from ketaplan.http.limits import BodySizeLimit, UnexpectedErrors
from ketaplan.http.refusals import RecordRefusals, RefusalRecorder
from ketaplan.http.security import authorize
from ketaplan.services.maintenance import open_service_database
from ketaplan.settings import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PUBLIC_URL,
    SECURE_COOKIES_VARIABLE,
    load_settings,
)


def build_context(
    database_url: str,
    *,
    catalog_files: tuple[Path, ...] = (),
    secure_cookies: bool = False,
    public_url: str = DEFAULT_PUBLIC_URL,
) -> ServiceContext:
    """Open the (migrated) database and load the catalog, with the clinic's own catalog files
    merged over it (``ketaplan serve --catalog``): what every request of the service shares."""
    catalog = load_catalog(catalog_files)
    database = open_service_database(database_url)
    return ServiceContext(
        database=database,
        catalog=catalog,
        resolver=MedicationResolver(catalog, DnerDrugDictionary()),
        monitoring=load_monitoring_rules(),
        calendar=load_calendar(None, catalog.clinic.time_zone),
        secure_cookies=secure_cookies,
        public_url=public_url,
    )


def create_app(context: ServiceContext, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """The service app for one database and catalog: the API and the pages; request bodies
    over ``max_body_bytes`` are refused with a 413 (:mod:`ketaplan.http.limits`)."""
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
    api.install(app)
    web.install(app)
    app.state.refusals = RefusalRecorder(context)
    app.add_middleware(RecordRefusals, recorder=app.state.refusals)
    app.add_middleware(BodySizeLimit, max_body_bytes=max_body_bytes)
    app.add_middleware(UnexpectedErrors)  # outside the body limit and the routes
    app.add_middleware(SecurityHeaders, hsts=context.secure_cookies)  # on every answer
    return app


def context_from_environment(environ: Mapping[str, str]) -> ServiceContext:
    """The service context from ``KETAPLAN_DATABASE_URL``, ``KETAPLAN_CATALOG``,
    ``KETAPLAN_PUBLIC_URL`` and ``KETAPLAN_SECURE_COOKIES``."""
    settings = load_settings(environ)
    secure = environ.get(SECURE_COOKIES_VARIABLE, "").lower() in {"1", "true", "yes"}
    return build_context(
        settings.database_url,
        catalog_files=settings.catalog_files,
        secure_cookies=secure,
        public_url=settings.public_url,
    )


def app_from_environment() -> FastAPI:
    """The app as uvicorn's factory builds it in each worker (``ketaplan serve``)."""
    return create_app(
        context_from_environment(os.environ),
        max_body_bytes=load_settings(os.environ).max_body_bytes,
    )


__all__ = ["app_from_environment", "build_context", "context_from_environment", "create_app"]
