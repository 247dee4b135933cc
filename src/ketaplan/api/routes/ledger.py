"""The controlled-substance ledger over HTTP: receipts, draws, administrations (from the chart),
waste with a witness, returns, destruction (Form 41), counts, inventories, resolutions,
corrections, loss cases, and the reports (JSON, or CSV with ``?format=csv``, or PDF with
``?format=pdf``).

The rules are the services' (:mod:`ketaplan.services.ledger`): refusals are 4xx with a code and
the field, and nothing is written. Entries are never edited: ``PUT``, ``PATCH`` and ``DELETE``
on an entry answer 405 with the way to correct it (a new entry).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ketaplan.api.ledger_models import (
    EntryWithVial,
    InventoryWritten,
    LossCase,
    LossCasePage,
    Report,
    Stock,
    VialHistory,
    WrittenEntries,
)
from ketaplan.api.ledger_models import Written as WrittenOut
from ketaplan.api.paging import DEFAULT_LIMIT, Cursor, Limit, page_in_memory
from ketaplan.export.pdf import ledger_report_pdf
from ketaplan.http.context import services
from ketaplan.http.params import Line, MultilineText, OptionalRecordId, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.inputs import MAX_RECORD_ID
from ketaplan.services.ledger import (
    Supplier,
    VialIn,
    Written,
    receive_vials,
    record_administration,
    record_draw,
    record_return,
    record_waste,
)
from ketaplan.services.ledger_loss import loss_cases, record_loss_step
from ketaplan.services.ledger_printing import printable_report, report_csv
from ketaplan.services.ledger_records import REPORTS, report, stock, vial_history
from ketaplan.services.ledger_stock import (
    InventoryLine,
    correct_entry,
    record_count,
    record_destruction,
    resolve_discrepancy,
    take_inventory,
)
from ketaplan.services.passwords import MAX_PASSWORD_LENGTH

router = APIRouter(prefix="/ledger", tags=["ledger"])

Text = Annotated[Line, Field(max_length=200)]
LongText = Annotated[MultilineText, Field(max_length=1000)]
Ml = Annotated[float, Field(ge=0, le=10000, description="Volume in mL, recorded to 0.01 mL.")]
Password = Annotated[Line, Field(max_length=MAX_PASSWORD_LENGTH)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VialBody(_In):
    number: Annotated[Line, Field(max_length=40, description="The clinic's vial number.")]
    ndc: Annotated[Line, Field(max_length=20)]
    lot: Annotated[Line, Field(max_length=40)]
    expiry: date
    mg_per_ml: Annotated[float, Field(gt=0, le=1000)]
    volume_ml: Ml
    drug: Annotated[Line, Field(max_length=120)] = "ketamine hydrochloride"
    form: Annotated[Line, Field(max_length=60)] = "injection, solution"


class ReceiveIn(_In):
    supplier_name: Text
    supplier_address: Text
    supplier_dea: Annotated[Line, Field(max_length=20)]
    receipt: Annotated[Line, Field(max_length=80)] = ""
    vials: Annotated[list[VialBody], Field(min_length=1, max_length=200)]


class DrawIn(_In):
    vial: Annotated[Line, Field(max_length=40)]
    volume_ml: Ml
    plan_id: Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]
    session_id: OptionalRecordId = None


class WasteIn(_In):
    reason: LongText
    vial: Annotated[Line | None, Field(max_length=40)] = None
    draw_id: OptionalRecordId = None
    volume_ml: Ml | None = None
    mg: Annotated[float | None, Field(ge=0, le=100000)] = None
    witness_email: Annotated[Line | None, Field(max_length=320)] = None
    witness_password: Password | None = None


class ReturnIn(_In):
    draw_id: Annotated[int, Field(ge=1, le=MAX_RECORD_ID)]
    volume_ml: Ml


class WitnessIn(_In):
    email: Annotated[Line, Field(max_length=320)]
    password: Password


class DestroyIn(_In):
    vial: Annotated[Line, Field(max_length=40)]
    volume_ml: Ml
    method: Text
    place: Text
    witnesses: Annotated[list[WitnessIn], Field(max_length=2)]


class CountIn(_In):
    vial: Annotated[Line, Field(max_length=40)]
    counted_ml: Ml


class InventoryLineIn(_In):
    vial: Annotated[Line, Field(max_length=40)]
    counted_ml: Ml
    estimated: bool = False


class InventoryIn(_In):
    kind: Literal["initial", "biennial", "on_demand"]
    business: Literal["opening", "close"]
    lines: Annotated[list[InventoryLineIn], Field(max_length=2000)]
    password: Password


class ResolveIn(_In):
    reason: LongText
    write_off: bool


class CorrectIn(_In):
    reason: LongText
    volume_ml: Ml | None = Field(None, description="The volume the entry should have had.")
    void: bool = Field(False, description="The entry was made in error.")


class LossIn(_In):
    step: Literal["open", "notice", "form_106", "note", "resolve"]
    case_id: OptionalRecordId = None
    at: datetime | None = None
    kind: Literal["theft", "loss"] | None = None
    text: LongText = ""
    missing: Text = ""
    reference: Annotated[Line, Field(max_length=80)] = ""


def _out(written: Written) -> WrittenOut:
    return WrittenOut.model_validate(written.to_dict())


def _entries(written: list[Written]) -> WrittenEntries:
    return WrittenEntries(entries=[_out(w) for w in written])


@router.post("/receipts", name="ledger_receive", status_code=201)
def receive_route(body: ReceiveIn, actor: SignedIn, request: Request) -> WrittenEntries:
    """A delivery taken into stock, one entry per vial (1304.22(a)(2) fields)."""
    supplier = Supplier(body.supplier_name, body.supplier_address, body.supplier_dea, body.receipt)
    vials = [
        VialIn(v.number, v.ndc, v.lot, v.expiry, v.mg_per_ml, v.volume_ml, v.drug, v.form)
        for v in body.vials
    ]
    return _entries(receive_vials(services(request).unit_of_work(), supplier, vials, actor=actor))


@router.post("/draws", name="ledger_draw", status_code=201)
def draw_route(body: DrawIn, actor: SignedIn, request: Request) -> WrittenOut:
    """A draw from a vial for an active order (and its session)."""
    uow = services(request).unit_of_work()
    return _out(
        record_draw(
            uow,
            body.vial,
            body.volume_ml,
            plan_id=body.plan_id,
            session_id=body.session_id,
            actor=actor,
        )
    )


@router.post("/draws/{draw_id}/administration", name="ledger_administer", status_code=201)
def administer_route(draw_id: RecordId, actor: SignedIn, request: Request) -> WrittenOut:
    """What the patient received from a draw, from the stopped session's chart."""
    context = services(request)
    return _out(
        record_administration(context.unit_of_work(), draw_id, actor=actor, policy=context.policy)
    )


@router.post("/wastes", name="ledger_waste", status_code=201)
def waste_route(body: WasteIn, actor: SignedIn, request: Request) -> WrittenOut:
    """Waste, witnessed by another member of staff re-entering their password."""
    return _out(
        record_waste(
            services(request).unit_of_work(),
            reason=body.reason,
            actor=actor,
            number=body.vial,
            draw_id=body.draw_id,
            volume_ml=body.volume_ml,
            mg=body.mg,
            witness_email=body.witness_email,
            witness_password=body.witness_password,
        )
    )


@router.post("/returns", name="ledger_return", status_code=201)
def return_route(body: ReturnIn, actor: SignedIn, request: Request) -> WrittenOut:
    uow = services(request).unit_of_work()
    return _out(record_return(uow, body.draw_id, body.volume_ml, actor=actor))


@router.post("/destructions", name="ledger_destroy", status_code=201)
def destroy_route(body: DestroyIn, actor: SignedIn, request: Request) -> WrittenOut:
    """Destruction (DEA Form 41) before two witnesses."""
    witnesses = [(w.email, w.password) for w in body.witnesses]
    return _out(
        record_destruction(
            services(request).unit_of_work(),
            body.vial,
            body.volume_ml,
            method=body.method,
            place=body.place,
            witnesses=witnesses,
            actor=actor,
        )
    )


@router.post("/counts", name="ledger_count", status_code=201)
def count_route(body: CountIn, actor: SignedIn, request: Request) -> WrittenOut:
    return _out(
        record_count(services(request).unit_of_work(), body.vial, body.counted_ml, actor=actor)
    )


@router.post("/inventories", name="ledger_inventory", status_code=201)
def inventory_route(body: InventoryIn, actor: SignedIn, request: Request) -> InventoryWritten:
    """A signed inventory of every vial in stock (21 CFR 1304.11)."""
    lines = [InventoryLine(x.vial, x.counted_ml, x.estimated) for x in body.lines]
    inventory_id, written = take_inventory(
        services(request).unit_of_work(),
        body.kind,
        body.business,
        lines,
        password=body.password,
        actor=actor,
    )
    return InventoryWritten(inventory_id=inventory_id, entries=[_out(w) for w in written])


@router.post("/counts/{count_id}/resolution", name="ledger_resolve", status_code=201)
def resolve_route(
    count_id: RecordId, body: ResolveIn, actor: SignedIn, request: Request
) -> WrittenOut:
    return _out(
        resolve_discrepancy(
            services(request).unit_of_work(),
            count_id,
            reason=body.reason,
            write_off=body.write_off,
            actor=actor,
        )
    )


@router.post("/entries/{entry_id}/corrections", name="ledger_correct", status_code=201)
def correct_route(
    entry_id: RecordId, body: CorrectIn, actor: SignedIn, request: Request
) -> WrittenOut:
    """A new entry correcting an earlier one: the right volume, or void."""
    from ketaplan.errors import InputError

    if body.void == (body.volume_ml is not None):
        raise InputError(
            "give either volume_ml (what the entry should have been) or void",
            code="input.missing",
            fields={"field": "volume_ml"},
        )
    changes = None if body.void else {"volume_ml": body.volume_ml}
    return _out(
        correct_entry(
            services(request).unit_of_work(),
            entry_id,
            reason=body.reason,
            changes=changes,
            actor=actor,
        )
    )


@router.api_route(
    "/entries/{entry_id}",
    methods=["PUT", "PATCH", "DELETE"],
    name="ledger_edit_refused",
    include_in_schema=False,
)
def edit_refused(entry_id: RecordId) -> JSONResponse:
    """Entries are never edited or deleted; say how to correct one."""
    return JSONResponse(
        {
            "code": "ledger.append_only",
            "message": f"ledger entry {entry_id} cannot be changed or deleted: entries are "
            f"written once; record a correction with POST /api/v1/ledger/entries/{entry_id}"
            "/corrections (the right volume, or void, with the reason)",
            "field": "entry_id",
        },
        status_code=405,
        headers={"Allow": "GET, POST"},
    )


@router.get("/entries/{entry_id}", name="ledger_entry", response_model_exclude_unset=True)
def entry_route(entry_id: RecordId, actor: SignedIn, request: Request) -> EntryWithVial:
    """One entry, with its vial's history."""
    from ketaplan.services.ledger_records import entry_vial

    return EntryWithVial.model_validate(
        entry_vial(services(request).unit_of_work(), entry_id, actor=actor)
    )


@router.get("/stock", name="ledger_stock")
def stock_route(actor: SignedIn, request: Request) -> Stock:
    """Every vial's balance, the stock per item, drug in hand and open discrepancies. A
    document, not a paged list: the stock as of now, one line per vial and item in hand."""
    return Stock.model_validate(stock(services(request).unit_of_work(), actor=actor))


@router.get("/vials/{number}", name="ledger_vial")
def vial_route(
    number: Annotated[Line, PathParam(max_length=40)], actor: SignedIn, request: Request
) -> VialHistory:
    return VialHistory.model_validate(
        vial_history(services(request).unit_of_work(), number, actor=actor)
    )


@router.get(
    "/reports/{name}",
    name="ledger_report",
    response_model=Report,
    responses={
        200: {
            "description": "The report: JSON, or CSV or PDF as `format` asks",
            "content": {"text/csv": {}, "application/pdf": {}},
        }
    },
)
def report_route(
    name: Literal[
        "administrations", "receipts", "destructions", "inventories", "losses", "entries"
    ],
    actor: SignedIn,
    request: Request,
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_RECORD_ID)] = None,
    since: date | None = None,
    until: date | None = None,
    vial: Annotated[Line | None, Query(max_length=40)] = None,
    format: Literal["json", "csv", "pdf"] = "json",
) -> Any:
    """A report's rows as JSON, CSV to open in a spreadsheet, or PDF to print and file with
    the records (the clinic's name, address and, on inventories and destruction records, DEA
    number; the period; lines for who signed and witnessed). A document, not a paged list:
    the report for the period and filters asked, whole, as it is printed and filed."""
    assert name in REPORTS
    context = services(request)
    if format == "pdf":
        printable = printable_report(
            context.unit_of_work(),
            name,
            actor=actor,
            catalog=context.catalog,
            now=context.clock(),
            patient_id=patient_id,
            since=since,
            until=until,
            vial=vial,
        )
        return Response(
            ledger_report_pdf(printable),
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="ketaplan-{name}.pdf"',
                "Cache-Control": "no-store",
            },
        )
    if format == "csv":
        return Response(
            report_csv(
                context.unit_of_work(),
                name,
                actor=actor,
                catalog=context.catalog,
                patient_id=patient_id,
                since=since,
                until=until,
                vial=vial,
            ),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="ketaplan-{name}.csv"'},
        )
    rows = report(
        context.unit_of_work(),
        name,
        actor=actor,
        patient_id=patient_id,
        since=since,
        until=until,
        vial=vial,
    )
    return Report(report=name, rows=rows)


@router.get("/losses", name="ledger_losses")
def losses_route(
    actor: SignedIn, request: Request, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> LossCasePage:
    """Loss and theft cases with the two DEA clocks as of now, a page at a time (read whole:
    a clinic's cases are few)."""
    cases = loss_cases(services(request).unit_of_work(), actor=actor)
    return page_in_memory(cases, LossCase.model_validate, LossCasePage, limit=limit, cursor=cursor)


@router.post("/losses", name="ledger_loss_step", status_code=201)
def loss_route(body: LossIn, actor: SignedIn, request: Request) -> LossCase:
    """Open a case or add a step (notice, Form 106 filed, note, resolution)."""
    case = record_loss_step(
        services(request).unit_of_work(),
        body.step,
        actor=actor,
        at=body.at,
        case_id=body.case_id,
        kind=body.kind,
        text=body.text,
        missing=body.missing,
        reference=body.reference,
    )
    return LossCase.model_validate(case)
