"""``ketaplan report progress PATIENT --pdf FILE --as EMAIL``, ``ketaplan report card PLAN
--pdf FILE --as EMAIL`` and ``ketaplan calendar COURSE --ics FILE --as EMAIL``.

The same services as the API's downloads, so the same records give the same documents, with
the same rules: the member of staff named by ``--as`` must be active, the front desk gets no
clinical report, and every export is in the audit trail under that name with the origin
``cli``. There is no default user: patient data leaves the database only in someone's name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ketaplan.clinical.policy import ClinicPolicy
    from ketaplan.services import Actor, UnitOfWork

app = typer.Typer(
    help="Reports as PDF: progress for the referring clinician, preparation cards.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

ActingAs = Annotated[
    str, typer.Option("--as", help="Your e-mail address: the report is read in your name.")
]


def clock() -> datetime:
    """The time a report is printed at (tests set it)."""
    return datetime.now(UTC)


@contextmanager
def _as_staff(email: str) -> Iterator[tuple[UnitOfWork, Actor, ClinicPolicy]]:
    """The database (closed after), the member of staff acting, and the catalog's policy."""
    import os

    from ketaplan.clinical.catalog.course_loader import load_policy
    from ketaplan.services import load_actor
    from ketaplan.services.maintenance import operator_unit_of_work
    from ketaplan.settings import load_settings

    with operator_unit_of_work(load_settings(os.environ).database_url, clock=clock) as uow:
        yield uow, load_actor(uow, email, origin="cli"), load_policy()


def _written(path: Path, document: bytes, what: str) -> None:
    from ketaplan.cli._output import print_lines

    path.write_bytes(document)
    print_lines([f"{what} written to {path} ({len(document):,} bytes)."])


@app.command("progress")
def progress(
    patient_id: Annotated[int, typer.Argument(help="The patient's number.", min=1)],
    pdf: Annotated[Path, typer.Option("--pdf", help="The PDF file to write.")],
    acting: ActingAs,
) -> None:
    """The patient's progress for the referring clinician: scores, doses, alerts, outcome."""
    from ketaplan.export.pdf import progress_report_pdf
    from ketaplan.services.reports import progress_report

    with _as_staff(acting) as (uow, actor, policy):
        report = progress_report(uow, patient_id, actor=actor, policy=policy, now=clock())
    _written(pdf, progress_report_pdf(report), "Progress report")


@app.command("card")
def card(
    plan_id: Annotated[int, typer.Argument(help="The plan (an active order).", min=1)],
    pdf: Annotated[Path, typer.Option("--pdf", help="The PDF file to write.")],
    acting: ActingAs,
) -> None:
    """An active order's preparation card: vial, draw, bag, concentration, pump rate."""
    from ketaplan.export.pdf import preparation_card_pdf
    from ketaplan.services.reports import preparation_card

    with _as_staff(acting) as (uow, actor, policy):
        found = preparation_card(uow, plan_id, actor=actor, catalog=policy.catalog, now=clock())
    _written(pdf, preparation_card_pdf(found), "Preparation card")


def calendar(
    course_id: Annotated[int, typer.Argument(help="The saved course.", min=1)],
    ics: Annotated[Path, typer.Option("--ics", help="The .ics file to write.")],
    acting: ActingAs,
) -> None:
    """A saved course's sessions as iCalendar, exactly as the API's calendar.ics gives them."""
    from ketaplan.services.course_calendar import course_calendar

    with _as_staff(acting) as (uow, actor, policy):
        document = course_calendar(
            uow, course_id, actor=actor, catalog=policy.catalog, stamp=clock()
        )
    _written(ics, document, "Calendar")
