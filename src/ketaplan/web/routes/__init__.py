"""The page routes, one module per part of the clinic's work."""

from __future__ import annotations

from ketaplan.web.routes import (
    auth,
    board,
    bookings,
    courses,
    ledger,
    outcomes,
    patients,
    plans,
    questionnaires,
    sessions,
    settings,
    staff,
)

ROUTERS = (
    auth.router,
    patients.router,
    plans.router,
    courses.router,
    sessions.router,
    outcomes.router,
    questionnaires.router,
    settings.router,
    staff.router,
    ledger.router,
    bookings.router,
    board.router,
)
