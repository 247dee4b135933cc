"""What the running service holds for every request: the database and the clinical catalog.

Built once at start-up by the composition root (:func:`ketaplan.app.build_context`) and
reached by API routes and pages alike through :func:`services`. Loading the catalog, monitoring
rules and calendar there, not per request, keeps a request to its own work; they are immutable
values, safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.monitoring import MonitoringRules
from ketaplan.clinical.policy import ClinicPolicy, catalog_policy
from ketaplan.http import booking_use_cases, care_use_cases, use_cases
from ketaplan.services import UnitOfWork, utc_now
from ketaplan.services.maintenance import Database
from ketaplan.settings import DEFAULT_PUBLIC_URL


@dataclass(frozen=True, slots=True)
class ServiceContext:
    database: Database
    catalog: Catalog
    resolver: MedicationResolver
    monitoring: MonitoringRules
    calendar: ClinicCalendar
    secure_cookies: bool = False
    """Mark the sign-in cookie ``Secure`` (set when served over TLS, or behind a TLS proxy)."""
    public_url: str = DEFAULT_PUBLIC_URL
    """Where patients reach this server: the start of every patient link (never the request's
    ``Host`` header, which whoever sends the request chooses)."""
    clock: Callable[[], datetime] = utc_now
    """The server's clock: every unit of work's, and the time the web stamps on what it
    records (a chart event, a questionnaire's default answer time). One clock, so that a test
    can let time pass (a recovery time) without waiting for it."""

    @property
    def policy(self) -> ClinicPolicy:
        """The policy of the served files (catalog with any clinic file, rules, calendar): what
        each use case resolves the signed-in clinic's own settings over."""
        return catalog_policy(self.catalog, self.monitoring, self.calendar)

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.database.session_factory, clock=self.clock)

    # The use cases, bound to this database and these clinic files (:mod:`.use_cases`): what
    # routes and pages call, so that none of them wires a unit of work or a policy by hand.

    @property
    def patients(self) -> use_cases.Patients:
        return use_cases.Patients(self)

    @property
    def screenings(self) -> use_cases.Screenings:
        return use_cases.Screenings(self)

    @property
    def plans(self) -> use_cases.Plans:
        return use_cases.Plans(self)

    @property
    def courses(self) -> use_cases.Courses:
        return use_cases.Courses(self)

    @property
    def sessions(self) -> use_cases.Sessions:
        return use_cases.Sessions(self)

    @property
    def questionnaires(self) -> use_cases.Questionnaires:
        return use_cases.Questionnaires(self)

    @property
    def patient_links(self) -> use_cases.PatientLinks:
        return use_cases.PatientLinks(self)

    @property
    def titration(self) -> use_cases.Titration:
        return use_cases.Titration(self)

    @property
    def staff(self) -> use_cases.Staff:
        return use_cases.Staff(self)

    @property
    def audit_trail(self) -> use_cases.AuditTrail:
        return use_cases.AuditTrail(self)

    @property
    def accounts(self) -> use_cases.Accounts:
        return use_cases.Accounts(self)

    @property
    def clinic(self) -> use_cases.Clinic:
        return use_cases.Clinic(self)

    @property
    def care(self) -> care_use_cases.MeasurementCare:
        return care_use_cases.MeasurementCare(self)

    @property
    def bookings(self) -> booking_use_cases.Bookings:
        return booking_use_cases.Bookings(self)


def services(request: Request) -> ServiceContext:
    """The service context of the app handling this request (a FastAPI dependency)."""
    context: ServiceContext = request.app.state.services
    return context
