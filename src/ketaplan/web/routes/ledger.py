"""The medication room's pages: the controlled-substance ledger at work.

``/ledger`` shows the stock (every vial's balance), drug drawn and still in hand (give it from
the chart once the session has stopped, waste the rest before a witness, or return it), counts
that disagree (a prescriber or admin resolves them), loss cases with their DEA clocks, and the
forms to receive a delivery, draw for an order, count at the end of the day, destroy and open a
loss case. Every form posts to ``/ledger/{action}``, which calls the service
(:mod:`ketaplan.services.ledger`) and comes back to the page (POST-redirect-GET), or shows the
page again with the refusal and its 4xx status: nothing was written. ``/ledger/reports/{name}``
is a printable report, or its CSV with ``?format=csv``, or its PDF with ``?format=pdf``.

Passwords typed here (a witness's, or one's own to sign an inventory) are never shown back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.clinical.ledger import ml_to_cml
from ketaplan.errors import InputError, InputProblems, KetaplanError
from ketaplan.export.pdf import ledger_report_pdf
from ketaplan.http.context import services
from ketaplan.http.security import SignedIn
from ketaplan.inputs import MAX_RECORD_ID, clinic_date
from ketaplan.services import Actor
from ketaplan.services.ledger import (
    Supplier,
    VialIn,
    check_delivery,
    clean_text,
    receive_vials,
    record_administration,
    record_draw,
    record_return,
    record_waste,
)
from ketaplan.services.ledger_loss import check_loss_step, loss_cases, record_loss_step
from ketaplan.services.ledger_printing import (
    DEA_REPORTS,
    SIGNED_REPORTS,
    columns_of,
    printable_report,
    read_ledger_heading,
    report_csv,
)
from ketaplan.services.ledger_records import REPORTS, report, stock
from ketaplan.services.ledger_stock import (
    correct_entry,
    record_count,
    record_destruction,
    resolve_discrepancy,
)
from ketaplan.units import parse_concentration_mg_per_ml
from ketaplan.web.labels import humanise
from ketaplan.web.rendering import call, field_errors, form_of, redirect, render

router = APIRouter()

SECRET_FIELDS = frozenset({"witness_password", "witness2_password", "password"})

FIELD_NAMES = {
    "number": "vial",
    "container": "vial",
    "mg_per_ml": "strength",
    "witnesses": "witness_email",
    "witness": "witness_email",
}
"""The services' names for what the forms call otherwise (a vial's number is ``vial``)."""
RECEIPT_FIELD_NAMES = {**FIELD_NAMES, "number": "numbers", "vials": "numbers"}


def _int(form: Mapping[str, str], name: str, *, required: bool = True) -> int | None:
    text = form.get(name, "").strip()
    if not text and not required:
        return None
    if not text.isdigit() or len(text) > 12:
        raise InputError(
            f"{humanise(name)} must be a number (an id shown on this page)",
            code="input.not_a_number",
            fields={"field": name},
        )
    return int(text)


def _need(form: Mapping[str, str], name: str) -> str:
    return form.get(name, "")


class _Typed:
    """A form's ids read, and when one is not a number its typed fields checked too (with the
    same checks the service runs first), so every bad field is refused in one answer."""

    def __init__(self, form: Mapping[str, str]) -> None:
        self.form = form
        self.problems = InputProblems()

    def id(self, name: str, *, required: bool = True) -> int | None:
        return self.problems.check(_int, self.form, name, required=required)

    def refuse_with(self, **typed: tuple[Callable[..., object], str]) -> None:
        """Raise every problem if an id was bad, each typed field (``name=(check, field)``)
        checked beside it; otherwise nothing (the service checks the typed fields itself)."""
        if not self.problems.found:
            return
        for name, (check, field) in typed.items():
            self.problems.check(check, self.form.get(name, ""), field)
        self.problems.raise_any()


def _receive(uow: Any, form: Mapping[str, str], actor: Actor) -> str:
    numbers = [n.strip() for n in form.get("numbers", "").replace(",", " ").split() if n.strip()]
    problems = InputProblems()  # the typed values and the delivery's fields checked together
    mg_per_ml = problems.check(parse_concentration_mg_per_ml, form.get("strength", ""), "strength")
    expiry = problems.check(clinic_date, form.get("expiry", ""), field="expiry")
    supplier = Supplier(
        _need(form, "supplier_name"),
        _need(form, "supplier_address"),
        _need(form, "supplier_dea"),
        _need(form, "receipt"),
    )
    vials = [
        VialIn(
            n,
            _need(form, "ndc"),
            _need(form, "lot"),
            expiry or date.max,
            mg_per_ml or 1.0,
            _need(form, "volume_ml"),
        )
        for n in numbers
    ]
    if problems.found:  # the rest of the delivery's fields, checked without writing anything
        problems.check(check_delivery, supplier, vials)
        problems.raise_any()
    done = receive_vials(uow, supplier, vials, actor=actor)
    return f"Received {len(done)} vial(s): {', '.join(w.container for w in done)}."


def _draw(uow: Any, form: Mapping[str, str], actor: Actor) -> str:
    typed = _Typed(form)
    plan_id = typed.id("plan_id")
    session_id = typed.id("session_id", required=False)
    typed.refuse_with(volume_ml=(ml_to_cml, "volume_ml"), vial=(clean_text, "number"))
    done = record_draw(
        uow,
        _need(form, "vial"),
        _need(form, "volume_ml"),
        plan_id=plan_id or 0,
        session_id=session_id,
        actor=actor,
    )
    return f"Draw {done.entry_id}: {form.get('volume_ml')} mL from vial {done.container}."


def _administer(uow: Any, form: Mapping[str, str], actor: Actor, request: Request) -> str:
    done = record_administration(
        uow, _int(form, "draw_id") or 0, actor=actor, policy=services(request).policy
    )
    given = done.balance.draws
    return f"Administration recorded from the chart (entry {done.entry_id}); {len(given)} draw(s)."


def _waste(uow: Any, form: Mapping[str, str], actor: Actor) -> str:
    typed = _Typed(form)
    draw_id = typed.id("draw_id", required=False)
    typed.refuse_with(volume_ml=(ml_to_cml, "volume_ml"), reason=(clean_text, "reason"))
    done = record_waste(
        uow,
        reason=_need(form, "reason"),
        actor=actor,
        number=None if draw_id else _need(form, "vial"),
        draw_id=draw_id,
        volume_ml=_need(form, "volume_ml"),
        witness_email=form.get("witness_email") or None,
        witness_password=form.get("witness_password") or None,
    )
    return f"Waste {done.entry_id} recorded on vial {done.container}, witnessed."


def _return(uow: Any, form: Mapping[str, str], actor: Actor) -> str:
    typed = _Typed(form)
    draw_id = typed.id("draw_id")
    typed.refuse_with(volume_ml=(ml_to_cml, "volume_ml"))
    done = record_return(uow, draw_id or 0, _need(form, "volume_ml"), actor=actor)
    return f"Returned to vial {done.container} (entry {done.entry_id})."


def _count(uow: Any, form: Mapping[str, str], actor: Actor) -> str:
    done = record_count(uow, _need(form, "vial"), _need(form, "counted_ml"), actor=actor)
    if done.balance.open_discrepancies:
        return (
            f"Count {done.entry_id} of vial {done.container} does not match: a discrepancy "
            "is open until a prescriber or admin resolves it."
        )
    return f"Count {done.entry_id} of vial {done.container} matches."


def _resolve(uow: Any, form: Mapping[str, str], actor: Actor) -> str:
    typed = _Typed(form)
    count_id = typed.id("count_id")
    typed.refuse_with(reason=(clean_text, "reason"))
    done = resolve_discrepancy(
        uow,
        count_id or 0,
        reason=_need(form, "reason"),
        write_off=form.get("write_off") == "yes",
        actor=actor,
    )
    return f"Discrepancy on vial {done.container} resolved (entry {done.entry_id})."


def _correct(uow: Any, form: Mapping[str, str], actor: Actor) -> str:
    void = form.get("void") == "yes"
    typed = _Typed(form)
    entry_id = typed.id("entry_id")
    if void:
        typed.refuse_with(reason=(clean_text, "reason"))
    else:
        typed.refuse_with(reason=(clean_text, "reason"), volume_ml=(ml_to_cml, "volume_ml"))
    changes = None if void else {"volume_ml": _need(form, "volume_ml")}
    done = correct_entry(
        uow, entry_id or 0, reason=_need(form, "reason"), changes=changes, actor=actor
    )
    return f"Correction {done.entry_id} recorded on vial {done.container}."


def _destroy(uow: Any, form: Mapping[str, str], actor: Actor) -> str:
    witnesses = [
        (form.get("witness_email", ""), form.get("witness_password", "")),
        (form.get("witness2_email", ""), form.get("witness2_password", "")),
    ]
    done = record_destruction(
        uow,
        _need(form, "vial"),
        _need(form, "volume_ml"),
        method=_need(form, "method"),
        place=_need(form, "place"),
        witnesses=[w for w in witnesses if w[0]],
        actor=actor,
    )
    return f"Destruction {done.entry_id} of vial {done.container} recorded (Form 41)."


def _loss(uow: Any, form: Mapping[str, str], actor: Actor) -> str:
    typed = _Typed(form)
    case_id = typed.id("case_id", required=False)
    if typed.problems.found:  # the step's own fields told beside the unreadable case number
        typed.problems.check(
            check_loss_step,
            form.get("step", "open"),
            kind=form.get("kind") or None,
            text=form.get("text", ""),
            reference=form.get("reference", ""),
        )
        typed.problems.raise_any()
    case = record_loss_step(
        uow,
        form.get("step", "open"),
        actor=actor,
        case_id=case_id,
        kind=form.get("kind") or None,
        text=form.get("text", ""),
        missing=form.get("missing", ""),
        reference=form.get("reference", ""),
    )
    return f"Loss case {case['case_id']} updated."


ACTIONS: dict[str, Callable[..., str]] = {
    "receive": _receive,
    "draw": _draw,
    "waste": _waste,
    "return": _return,
    "count": _count,
    "resolve": _resolve,
    "correct": _correct,
    "destroy": _destroy,
    "loss": _loss,
}


async def _page(
    request: Request,
    actor: Actor,
    *,
    note: str = "",
    error: str = "",
    errors: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    action: str = "",
    status: int = 200,
) -> Response:
    context = services(request)
    stocked = await call(stock, context.unit_of_work(), actor=actor)
    cases = await call(loss_cases, context.unit_of_work(), actor=actor)
    kept = {k: v for k, v in (form or {}).items() if k not in SECRET_FIELDS}
    return render(
        request,
        "ledger.html",
        {
            "stock": stocked,
            "cases": cases,
            "note": note,
            "error": error,
            "errors": errors or {},
            "form": kept,
            "action": action,
            "reports": REPORTS,
            "today": date.today().isoformat(),
        },
        status=status,
    )


@router.get("/ledger", name="web_ledger", response_class=HTMLResponse)
async def ledger_page(actor: SignedIn, request: Request, done: str = "") -> Response:
    note = done[:300] if done else ""
    return await _page(request, actor, note=note)


@router.post("/ledger/{action}", name="web_ledger_action")
async def ledger_action(
    action: Literal[
        "receive",
        "draw",
        "administer",
        "waste",
        "return",
        "count",
        "resolve",
        "correct",
        "destroy",
        "loss",
    ],
    actor: SignedIn,
    request: Request,
) -> Response:
    """Do one thing in the ledger; back to the page with what was done, or the refusal."""
    from urllib.parse import quote

    form = await form_of(request)
    uow = services(request).unit_of_work()
    back = form.get("back", "")
    try:
        if action == "administer":
            note = await call(_administer, uow, form, actor, request)
        else:
            note = await call(ACTIONS[action], uow, form, actor)
    except KetaplanError as refused:
        if refused.http_status in (401,):
            raise
        names = RECEIPT_FIELD_NAMES if action == "receive" else FIELD_NAMES
        beside = field_errors(refused, names) if isinstance(refused, InputError) else {}
        return await _page(
            request,
            actor,
            error=beside.pop("", "") if beside else refused.message,
            errors=beside,
            form=form,
            action=action,
            status=refused.http_status,
        )
    if back.startswith("/plans/") and back.removeprefix("/plans/").split("/")[0].isdigit():
        return redirect(back)
    return redirect(f"/ledger?done={quote(note)}")


@router.get("/ledger/reports/{name}", name="web_ledger_report", response_class=HTMLResponse)
async def ledger_report(
    name: Literal[
        "administrations", "receipts", "destructions", "inventories", "losses", "entries"
    ],
    actor: SignedIn,
    request: Request,
    format: Literal["html", "csv", "pdf"] = "html",
    patient_id: Annotated[int | None, Query(ge=1, le=MAX_RECORD_ID)] = None,
    vial: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """A printable report; ``?format=csv`` for the same rows as CSV, ``?format=pdf`` as PDF."""
    context = services(request)
    if format == "pdf":
        printable = await call(
            printable_report,
            context.unit_of_work(),
            name,
            actor=actor,
            catalog=context.catalog,
            now=context.clock(),
            patient_id=patient_id,
            vial=vial,
        )
        return Response(
            await call(ledger_report_pdf, printable),
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="ketaplan-{name}.pdf"',
                "Cache-Control": "no-store",
            },
        )
    if format == "csv":
        return Response(
            await call(
                report_csv,
                context.unit_of_work(),
                name,
                actor=actor,
                catalog=context.catalog,
                patient_id=patient_id,
                vial=vial,
            ),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="ketaplan-{name}.csv"'},
        )
    rows = await call(
        report,
        context.unit_of_work(),
        name,
        actor=actor,
        patient_id=patient_id,
        vial=vial,
    )
    heading = await call(
        read_ledger_heading, context.unit_of_work(), actor=actor, catalog=context.catalog
    )
    return render(
        request,
        "ledger_report.html",
        {
            "name": name,
            "rows": rows,
            "columns": columns_of(rows),
            "vial": vial,
            "heading": heading,
            "signed_record": name in SIGNED_REPORTS,
            "names_dea": name in DEA_REPORTS,
        },
    )
