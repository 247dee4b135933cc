"""The page routes, one module per part of the clinic's work."""

from __future__ import annotations

from ketaplan.web.routes import (
    audit,
    auth,
    board,
    bookings,
    care,
    courses,
    ledger,
    outcomes,
    patient_record,
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
    patient_record.router,
    plans.router,
    courses.router,
    sessions.router,
    outcomes.router,
    care.router,
    questionnaires.router,
    settings.router,
    staff.router,
    audit.router,
    ledger.router,
    bookings.router,
    board.router,
)
