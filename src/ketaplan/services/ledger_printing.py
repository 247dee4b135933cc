"""A ledger report as it is printed: the rows of :func:`ketaplan.services.ledger_records.report`
(the same audited read as its page and its CSV) with what a printed record must say besides:
which clinic (name, address and, on inventories and destruction records, its DEA registration
number), which period or vial, when and by whom it was printed, and who signed or witnessed.

The clinic's address and DEA number are its settings (``address``, ``dea_registration`` in its
settings JSON) over the catalog's ``[clinic]`` defaults, as the calendar's heading reads them
(:func:`ketaplan.services.course_calendar.clinic_heading`). They name no patient: reading them
is not audited; the report's rows are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ketaplan.clinical.catalog import Catalog
from ketaplan.errors import NotFoundError
from ketaplan.services.actors import Actor, require_role
from ketaplan.services.ledger_records import READING, report, to_csv
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import Clinic

SIGNED_REPORTS = ("destructions", "inventories")
"""The reports that are records signed by those who did them (1304.11 inventory, Form 41):
they carry the clinic's DEA number and the signers' lines."""

DEA_REPORTS = (*SIGNED_REPORTS, "losses")
"""The reports whose heading names the clinic's DEA registration (a Form 106 is filed under
it); every report's CSV carries it on each row
(:data:`ketaplan.services.ledger_records.DEA_COLUMN`)."""

NOT_RECORDED = "not recorded"


@dataclass(frozen=True, slots=True)
class LedgerHeading:
    """The clinic a ledger report is from."""

    clinic_name: str
    clinic_address: str
    dea_registration: str
    """Blank when the clinic has not recorded it."""
    time_zone: str
    printed_by: str = ""
    """Who asks for the report, as pages name them (:mod:`ketaplan.services.staff_names`)."""

    @property
    def dea_line(self) -> str:
        return f"DEA registration: {self.dea_registration or NOT_RECORDED}"


@dataclass(frozen=True, slots=True)
class Signer:
    """Someone a signed report names: what they did, on which entries."""

    who: str
    roles: tuple[str, ...]
    """``"took the inventory"``, ``"destroyed"``, ``"witnessed"``."""
    entries: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LedgerReport:
    name: str
    heading: LedgerHeading
    rows: tuple[dict[str, Any], ...]
    columns: tuple[str, ...]
    period: str
    """``"all entries"``, ``"1 Dec 2026 to 7 Dec 2026"``, ``"from 1 Dec 2026"``..."""
    scope: str
    """What else narrows the rows: ``"vial K-0001"``, ``"patient #3"`` or blank."""
    generated_at: datetime
    """In the clinic's zone."""
    generated_by: str
    signers: tuple[Signer, ...]
    """Empty for the reports that are not signed records."""


def ledger_heading(clinic: Clinic, catalog: Catalog, printed_by: str = "") -> LedgerHeading:
    """The clinic's own settings over the catalog's defaults."""
    own: dict[str, Any] = clinic.settings or {}
    return LedgerHeading(
        clinic_name=clinic.name,
        clinic_address=str(own.get("address", catalog.clinic.address)),
        dea_registration=str(own.get("dea_registration", catalog.clinic.dea_registration)).strip(),
        time_zone=clinic.time_zone,
        printed_by=printed_by,
    )


def read_ledger_heading(uow: UnitOfWork, *, actor: Actor, catalog: Catalog) -> LedgerHeading:
    """The heading of the acting clinic's ledger reports (ledger readers only)."""
    require_role(actor, READING, "reading the controlled-substance ledger")
    with uow.reading():
        clinic = uow.db.get(Clinic, actor.clinic_id)
        if clinic is None:
            raise NotFoundError(f"there is no clinic {actor.clinic_id}")
        return ledger_heading(clinic, catalog, actor.name)  # names no patient: nothing to audit


def columns_of(rows: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> tuple[str, ...]:
    """Every column seen, in the order first seen (as the page and the CSV show them)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    return tuple(columns)


def period_text(since: date | None, until: date | None) -> str:
    if since is None and until is None:
        return "all entries"
    if until is None:
        return f"from {since:%d %b %Y}"
    if since is None:
        return f"up to {until:%d %b %Y}"
    return f"{since:%d %b %Y} to {until:%d %b %Y}"


def signers(name: str, rows: tuple[dict[str, Any], ...]) -> tuple[Signer, ...]:
    """Who the signed records name, as the entries recorded them, in order of first entry."""
    if name not in SIGNED_REPORTS:
        return ()
    found: dict[str, tuple[list[str], list[int]]] = {}

    def add(who: str, role: str, entry_id: int) -> None:
        if not who:
            return
        roles, entries = found.setdefault(who, ([], []))
        if role not in roles:
            roles.append(role)
        if entry_id not in entries:
            entries.append(entry_id)

    for row in rows:
        entry = int(row["entry_id"])
        if name == "destructions":
            add(str(row.get("by") or ""), "destroyed", entry)
            for key in ("witness_1", "witness_2"):
                add(str(row.get(key) or ""), "witnessed", entry)
        elif row.get("kind") != "line":
            add(str(row.get("by") or ""), "took the inventory", entry)
    return tuple(
        Signer(who=who, roles=tuple(roles), entries=tuple(entries))
        for who, (roles, entries) in found.items()
    )


def report_csv(
    uow: UnitOfWork,
    name: str,
    *,
    actor: Actor,
    catalog: Catalog,
    patient_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
    vial: str | None = None,
) -> str:
    """A ledger report as CSV, the clinic's DEA number on every row: the one text the command
    line, the API and the page give (the rows' read is audited by
    :func:`~ketaplan.services.ledger_records.report`)."""
    heading = read_ledger_heading(uow, actor=actor, catalog=catalog)
    rows = report(
        uow, name, actor=actor, patient_id=patient_id, since=since, until=until, vial=vial
    )
    return to_csv(rows, dea_registration=heading.dea_registration)


def printable_report(
    uow: UnitOfWork,
    name: str,
    *,
    actor: Actor,
    catalog: Catalog,
    now: datetime,
    patient_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
    vial: str | None = None,
) -> LedgerReport:
    """A ledger report with its heading, for the PDF (the rows' read is audited by
    :func:`~ketaplan.services.ledger_records.report`, as for the page and the CSV)."""
    heading = read_ledger_heading(uow, actor=actor, catalog=catalog)
    rows = tuple(
        report(
            uow,
            name,
            actor=actor,
            patient_id=patient_id,
            since=since,
            until=until,
            vial=vial,
        )
    )
    scope = [f"vial {vial.strip()}"] if vial else []
    scope += [f"patient #{patient_id}"] if patient_id is not None else []
    return LedgerReport(
        name=name,
        heading=heading,
        rows=rows,
        columns=columns_of(rows),
        period=period_text(since, until),
        scope=", ".join(scope),
        generated_at=now.astimezone(ZoneInfo(heading.time_zone)),
        generated_by=heading.printed_by,
        signers=signers(name, rows),
    )
