"""The web app: server-rendered pages for the clinic's daily work, in the same FastAPI app.

:func:`install` adds the pages, their static assets (served by the app itself: clinics may be
offline, so nothing comes from a CDN) and the HTML error pages to the app the composition root
builds (:func:`ketaplan.app.create_app`). Pages call the same services as the API; they hold no
clinical logic. What they share with the API is :mod:`ketaplan.http`, never the API itself:
every page route is named and ruled in :mod:`ketaplan.http.permissions`, so the same
:func:`~ketaplan.http.security.authorize` dependency signs requests in, checks the CSRF token of
every form post and enforces the rule of the page's use case.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ketaplan.http.errors import PAGE_ERRORS
from ketaplan.web.rendering import render_error
from ketaplan.web.routes import ROUTERS

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Mount the pages, ``/static`` and the HTML error pages on ``app``."""
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="web_static")
    setattr(app.state, PAGE_ERRORS, render_error)


__all__ = ["install"]
