"""``ketaplan ledger``: the controlled-substance ledger from the command line, with the same
rules, roles and audit trail as the API and the medication-room pages
(:mod:`ketaplan.services.ledger`).

Every command acts as the member of staff named by ``--as`` (the audit trail records them with
the origin ``cli``). Passwords (a witness's, or yours to sign an inventory) are read from
standard input, one a line, never from the command line where the process list and the shell
history would keep them. Volumes are in mL (``4``, ``"4.2 mL"``), recorded to 0.01 mL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from ketaplan.services import Actor, UnitOfWork
    from ketaplan.services.ledger import Written

app = typer.Typer(
    help="Controlled-substance ledger: receipts, draws, waste, counts, inventories, "
    "destruction, loss cases, reports.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

Acting = Annotated[str, typer.Option("--as", help="Your e-mail: the member of staff acting.")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Vial = Annotated[str, typer.Option("--vial", help="The vial's number, e.g. K-0001.")]
Volume = Annotated[str, typer.Option("--volume", help='Volume in mL, e.g. 4 or "4.2 mL".')]
Witness = Annotated[
    list[str] | None,
    typer.Option("--witness", help="A witness's e-mail (their password on standard input)."),
]


@contextmanager
def _acting(email: str) -> Iterator[tuple[UnitOfWork, Actor]]:
    """The database (closed after) and the acting member of staff."""
    import os

    from ketaplan.services import load_actor
    from ketaplan.services.maintenance import operator_unit_of_work
    from ketaplan.settings import load_settings

    database_url = load_settings(os.environ).database_url
    with operator_unit_of_work(database_url, clock=lambda: clock()) as uow:
        yield uow, load_actor(uow, email, origin="cli")


def _stdin_lines(count: int, what: str) -> list[str]:
    import sys

    from ketaplan.errors import InputError
    from ketaplan.inputs import check_text

    lines = [check_text(sys.stdin.readline().rstrip("\r\n"), field=what) for _ in range(count)]
    if not all(lines):
        raise InputError(
            f"give {count} {what}{'s' if count > 1 else ''} on standard input, one a line",
            code="input.missing",
            fields={"field": what},
        )
    return lines


def _show(written: list[Written], as_json: bool) -> None:
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.clinical.ledger import show_ml

    if as_json:
        print_json(written[0].to_dict() if len(written) == 1 else [w.to_dict() for w in written])
        return
    lines = []
    for w in written:
        b = w.balance
        lines.append(
            f"Entry {w.entry_id} ({w.kind}) on vial {w.container}: in the vial "
            f"{show_ml(b.in_vial_cml)}, drawn and in hand {show_ml(b.in_hand_cml)}, given "
            f"{show_ml(b.administered_cml)}, wasted {show_ml(b.wasted_cml)}, destroyed "
            f"{show_ml(b.destroyed_cml)}, written off {show_ml(b.written_off_cml)} of "
            f"{show_ml(b.received_cml)} received"
        )
        lines += [
            f"  OPEN DISCREPANCY on count {d.count.entry_id}: expected {show_ml(d.expected_cml)}, "
            f"counted {show_ml(d.count.counted_cml)}; a prescriber or admin resolves it"
            for d in b.open_discrepancies
        ]
    print_lines(lines)


@app.command("receive")
def receive(
    acting: Acting,
    number: Annotated[list[str], typer.Option("--number", help="A vial's number (repeat).")],
    ndc: Annotated[str, typer.Option("--ndc", help="The NDC on the box.")],
    lot: Annotated[str, typer.Option("--lot", help="The lot (batch) number.")],
    expiry: Annotated[str, typer.Option("--expiry", help="Expiry date, YYYY-MM-DD.")],
    strength: Annotated[str, typer.Option("--strength", help='e.g. "10 mg/mL".')],
    volume: Volume,
    supplier: Annotated[str, typer.Option("--supplier", help="Supplier's name.")],
    supplier_address: Annotated[str, typer.Option("--supplier-address")],
    supplier_dea: Annotated[str, typer.Option("--supplier-dea", help="Supplier's DEA number.")],
    receipt: Annotated[str, typer.Option("--receipt", help="Invoice or order number.")] = "",
    drug: Annotated[str, typer.Option("--drug")] = "ketamine hydrochloride",
    as_json: AsJson = False,
) -> None:
    """Take a delivery into stock: one entry per vial, each with its own number."""
    from ketaplan.inputs import clinic_date
    from ketaplan.services.ledger import Supplier, VialIn, receive_vials
    from ketaplan.units import parse_concentration_mg_per_ml

    mg_per_ml = parse_concentration_mg_per_ml(strength, "--strength")
    expires = clinic_date(expiry, field="--expiry")
    vials = [VialIn(n, ndc, lot, expires, mg_per_ml, volume, drug=drug) for n in number]
    with _acting(acting) as (uow, actor):
        written = receive_vials(
            uow, Supplier(supplier, supplier_address, supplier_dea, receipt), vials, actor=actor
        )
    _show(written, as_json)


@app.command("draw")
def draw(
    acting: Acting,
    vial: Vial,
    volume: Volume,
    order: Annotated[int, typer.Option("--order", help="The active order (plan id).")],
    session: Annotated[int | None, typer.Option("--session", help="The session id.")] = None,
    as_json: AsJson = False,
) -> None:
    """Draw from a vial for an active order (and the session it is given in)."""
    from ketaplan.services.ledger import record_draw

    with _acting(acting) as (uow, actor):
        written = record_draw(uow, vial, volume, plan_id=order, session_id=session, actor=actor)
    _show([written], as_json)


@app.command("administer")
def administer(
    acting: Acting,
    draw_id: Annotated[int, typer.Option("--draw", help="The draw's entry id.")],
    as_json: AsJson = False,
) -> None:
    """Record what the patient received from a draw: the mg from the stopped session's chart."""
    from ketaplan.clinical.catalog.course_loader import load_policy
    from ketaplan.services.ledger import record_administration

    with _acting(acting) as (uow, actor):
        written = record_administration(uow, draw_id, actor=actor, policy=load_policy())
    _show([written], as_json)


@app.command("waste")
def waste(
    acting: Acting,
    reason: Annotated[str, typer.Option("--reason", help="Why it is wasted.")],
    vial: Annotated[str | None, typer.Option("--vial", help="Waste the rest of a vial.")] = None,
    draw_id: Annotated[
        int | None, typer.Option("--draw", help="Waste what a draw has left.")
    ] = None,
    volume: Annotated[str | None, typer.Option("--volume", help="Amount in mL.")] = None,
    mg: Annotated[str | None, typer.Option("--mg", help="Amount in mg.")] = None,
    witness: Annotated[str | None, typer.Option("--witness", help="The witness's e-mail.")] = None,
    as_json: AsJson = False,
) -> None:
    """Waste drug with a witness, whose password is read from standard input."""
    from ketaplan.services.ledger import record_waste

    password = _stdin_lines(1, "witness password")[0] if witness else None
    with _acting(acting) as (uow, actor):
        written = record_waste(
            uow,
            reason=reason,
            actor=actor,
            number=vial,
            draw_id=draw_id,
            volume_ml=volume,
            mg=mg,
            witness_email=witness,
            witness_password=password,
        )
    _show([written], as_json)


@app.command("return")
def return_to_stock(
    acting: Acting,
    draw_id: Annotated[int, typer.Option("--draw", help="The draw's entry id.")],
    volume: Volume,
    as_json: AsJson = False,
) -> None:
    """Put drawn, unused drug back to the vial's balance."""
    from ketaplan.services.ledger import record_return

    with _acting(acting) as (uow, actor):
        written = record_return(uow, draw_id, volume, actor=actor)
    _show([written], as_json)


@app.command("count")
def count(
    acting: Acting,
    vial: Vial,
    counted: Annotated[str, typer.Option("--counted", help="What the vial holds, in mL.")],
    as_json: AsJson = False,
) -> None:
    """Count a vial exactly; a count that disagrees opens a discrepancy."""
    from ketaplan.services.ledger_stock import record_count

    with _acting(acting) as (uow, actor):
        written = record_count(uow, vial, counted, actor=actor)
    _show([written], as_json)


@app.command("inventory")
def inventory(
    acting: Acting,
    kind: Annotated[str, typer.Option("--kind", help="initial, biennial or on_demand.")],
    business: Annotated[str, typer.Option("--business", help="opening or close.")],
    line: Annotated[
        list[str],
        typer.Option("--line", help="VIAL=ML for each vial in stock; VIAL~ML estimates it."),
    ],
    as_json: AsJson = False,
) -> None:
    """Take a signed inventory of every vial in stock (your password on standard input)."""
    from ketaplan.errors import InputError
    from ketaplan.services.ledger_stock import InventoryLine, take_inventory

    lines = []
    for text in line:
        sep = "~" if "~" in text else "="
        number, _, volume = text.partition(sep)
        if not number or not volume:
            raise InputError(
                f"--line {text!r}: give VIAL=ML, or VIAL~ML for an estimate",
                code="input.invalid",
                fields={"field": "line"},
            )
        lines.append(InventoryLine(number, volume, estimated=sep == "~"))
    password = _stdin_lines(1, "password")[0]
    with _acting(acting) as (uow, actor):
        _id, written = take_inventory(uow, kind, business, lines, password=password, actor=actor)
    _show(written, as_json)


@app.command("destroy")
def destroy(
    acting: Acting,
    vial: Vial,
    volume: Volume,
    method: Annotated[str, typer.Option("--method", help="How it was destroyed (Form 41).")],
    place: Annotated[str, typer.Option("--place", help="Where.")],
    witness: Witness = None,
    as_json: AsJson = False,
) -> None:
    """Destroy stock (DEA Form 41) before two witnesses, their passwords on standard input."""
    from ketaplan.services.ledger_stock import record_destruction

    witnesses = witness or []
    passwords = _stdin_lines(len(witnesses), "witness password") if witnesses else []
    with _acting(acting) as (uow, actor):
        written = record_destruction(
            uow,
            vial,
            volume,
            method=method,
            place=place,
            witnesses=list(zip(witnesses, passwords, strict=True)),
            actor=actor,
        )
    _show([written], as_json)


@app.command("resolve")
def resolve(
    acting: Acting,
    count_id: Annotated[int, typer.Option("--count", help="The count's entry id.")],
    reason: Annotated[str, typer.Option("--reason", help="What was found.")],
    write_off: Annotated[
        bool, typer.Option("--write-off/--keep-balance", help="Book the difference as lost.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Resolve a count's discrepancy (a prescriber or an admin), with the reason."""
    from ketaplan.services.ledger_stock import resolve_discrepancy

    with _acting(acting) as (uow, actor):
        written = resolve_discrepancy(
            uow, count_id, reason=reason, write_off=write_off, actor=actor
        )
    _show([written], as_json)


@app.command("correct")
def correct(
    acting: Acting,
    entry: Annotated[int, typer.Option("--entry", help="The entry id to correct.")],
    reason: Annotated[str, typer.Option("--reason", help="Why.")],
    volume: Annotated[str | None, typer.Option("--volume", help="The right volume, mL.")] = None,
    void: Annotated[bool, typer.Option("--void", help="The entry was made in error.")] = False,
    as_json: AsJson = False,
) -> None:
    """Correct an entry with a new one (entries are never edited)."""
    from ketaplan.errors import InputError
    from ketaplan.services.ledger_stock import correct_entry

    if void == (volume is not None):
        raise InputError(
            "give either --volume (the right volume) or --void",
            code="input.missing",
            fields={"field": "volume"},
        )
    changes = None if void else {"volume_ml": volume}
    with _acting(acting) as (uow, actor):
        written = correct_entry(uow, entry, reason=reason, changes=changes, actor=actor)
    _show([written], as_json)


@app.command("loss")
def loss(
    acting: Acting,
    step: Annotated[str, typer.Argument(help="list, open, notice, form_106, note or resolve.")],
    case: Annotated[int | None, typer.Option("--case", help="The case id.")] = None,
    at: Annotated[str | None, typer.Option("--at", help="When, ISO 8601 with zone.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="theft or loss.")] = None,
    text: Annotated[str, typer.Option("--text", help="What happened.")] = "",
    missing: Annotated[str, typer.Option("--missing", help="What is missing.")] = "",
    reference: Annotated[str, typer.Option("--reference", help="Form 106 reference.")] = "",
    as_json: AsJson = False,
) -> None:
    """Theft or loss cases with the DEA's clocks (notice in 1 business day, Form 106 in 45)."""
    from datetime import datetime

    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.errors import InputError
    from ketaplan.services.ledger_loss import loss_cases, record_loss_step

    when = None
    if at is not None:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise InputError(
                f"--at {at!r}: give ISO 8601 with its zone, e.g. 2026-12-07T09:30-08:00",
                code="input.not_a_date",
                fields={"field": "at"},
            ) from None
    with _acting(acting) as (uow, actor):
        if step == "list":
            cases: list[dict[str, Any]] = loss_cases(uow, actor=actor)
        else:
            cases = [
                record_loss_step(
                    uow,
                    step,
                    actor=actor,
                    at=when,
                    case_id=case,
                    kind=kind,
                    text=text,
                    missing=missing,
                    reference=reference,
                )
            ]
    if as_json:
        print_json(cases)
        return
    lines = []
    for c in cases:
        lines.append(
            f"Case {c['case_id']} ({c['kind']}), discovered {c['discovered_at']}: "
            f"{c['description']}{'' if c['open'] else ' [resolved]'}"
        )
        lines += [f"  {d['name']}: due {d['due_at']}: {d['status']}" for d in c["deadlines"]]
    print_lines(lines)


@app.command("report")
def report(
    acting: Acting,
    name: Annotated[
        str,
        typer.Argument(
            help="administrations, receipts, destructions, inventories, losses, entries, stock "
            "or vial"
        ),
    ],
    vial: Annotated[str | None, typer.Option("--vial", help="For the vial report.")] = None,
    patient: Annotated[int | None, typer.Option("--patient", help="One patient's log.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="From, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="To, YYYY-MM-DD.")] = None,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Write the rows as CSV.")] = None,
    pdf_file: Annotated[
        Path | None, typer.Option("--pdf", help="Write the report as PDF (not stock).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """A ledger report as text, CSV, PDF or JSON (every read is audited)."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.clinical.catalog.course_loader import load_policy
    from ketaplan.errors import InputError
    from ketaplan.inputs import clinic_date
    from ketaplan.services.ledger_printing import read_ledger_heading
    from ketaplan.services.ledger_records import report as ledger_report
    from ketaplan.services.ledger_records import stock, to_csv, vial_history

    if pdf_file is not None:
        _report_pdf(acting, name, pdf_file, vial=vial, patient=patient, since=since, until=until)
        return
    with _acting(acting) as (uow, actor):
        dea_registration = (
            ""
            if csv_file is None
            else read_ledger_heading(
                uow, actor=actor, catalog=load_policy().catalog
            ).dea_registration
        )
        if name == "stock":
            found: Any = stock(uow, actor=actor)
            rows = found["vials"]
        elif name == "vial":
            if vial is None:
                raise InputError(
                    "the vial report needs --vial", code="input.missing", fields={"field": "vial"}
                )
            found = vial_history(uow, vial, actor=actor)
            rows = found["entries"]
        else:
            rows = found = ledger_report(
                uow,
                name,
                actor=actor,
                patient_id=patient,
                since=None if since is None else clinic_date(since, field="--since"),
                until=None if until is None else clinic_date(until, field="--until"),
            )
    if csv_file is not None:
        csv_file.write_text(to_csv(rows, dea_registration=dea_registration), encoding="utf-8")
    if as_json:
        print_json(found)
    elif csv_file is None:
        print_lines(
            [
                ", ".join(f"{k}={v}" for k, v in row.items() if v not in (None, "", {}, []))
                for row in rows
            ]
            or ["(no entries)"]
        )
    else:
        print_lines([f"{len(rows)} rows written to {csv_file}"])


def clock() -> datetime:
    """The command's time: what its entries are stamped with, what a loss case's clocks are
    read against, and when a PDF report is printed (tests set it)."""
    return datetime.now(UTC)


def _report_pdf(
    acting: str,
    name: str,
    pdf_file: Path,
    *,
    vial: str | None,
    patient: int | None,
    since: str | None,
    until: str | None,
) -> None:
    """The report as the API's ``?format=pdf`` gives it (``vial``: one vial's history as the
    entries report of that vial)."""
    from ketaplan.cli._output import print_lines
    from ketaplan.clinical.catalog.course_loader import load_policy
    from ketaplan.errors import InputError
    from ketaplan.export.pdf import ledger_report_pdf
    from ketaplan.inputs import clinic_date
    from ketaplan.services.ledger_printing import printable_report

    if name == "stock":
        raise InputError(
            "the stock has no PDF: print one of administrations, receipts, destructions, "
            "inventories, losses, entries, or vial with --vial",
            code="input.unknown_term",
            fields={"field": "report"},
        )
    if name == "vial" and vial is None:
        raise InputError(
            "the vial report needs --vial", code="input.missing", fields={"field": "vial"}
        )
    with _acting(acting) as (uow, actor):
        printable = printable_report(
            uow,
            "entries" if name == "vial" else name,
            actor=actor,
            catalog=load_policy().catalog,
            now=clock(),
            patient_id=patient,
            since=None if since is None else clinic_date(since, field="--since"),
            until=None if until is None else clinic_date(until, field="--until"),
            vial=vial,
        )
    document = ledger_report_pdf(printable)
    pdf_file.write_bytes(document)
    print_lines([f"{len(printable.rows)} rows written to {pdf_file} ({len(document):,} bytes)"])
