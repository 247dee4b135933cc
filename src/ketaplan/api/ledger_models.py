"""The controlled-substance ledger's answers as typed response models.

They describe the JSON of :mod:`ketaplan.services.ledger_records` (entries, vials, balances,
stock), :meth:`ketaplan.services.ledger.Written.to_dict` (what a write answers) and
:func:`ketaplan.services.ledger_loss.case_dict` (a loss case), field by field. Two parts stay
open on purpose: an entry's ``data`` (what that kind of entry records beside the common
columns: a receipt's supplier, an inventory's lines) and a report's ``rows`` (each report has
its own columns, the ones its CSV has).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ketaplan.api.paging import Page


class DrawInHand(BaseModel):
    """Drug drawn from a vial and not yet given, wasted or returned."""

    draw_id: int
    in_hand_ml: float
    administered_ml: float
    plan_id: int | None
    session_id: int | None


class DrawInHandAt(DrawInHand):
    """A draw in hand, with its vial (the stock's list across vials)."""

    container: str


class Discrepancy(BaseModel):
    """A count that disagreed with the balance, not yet resolved."""

    count_id: int
    expected_ml: float
    counted_ml: float
    missing_ml: float


class DiscrepancyAt(Discrepancy):
    """An open discrepancy, with its vial (the stock's list across vials)."""

    container: str


class Balance(BaseModel):
    """A vial's balance: where every mL it held went."""

    container: str | None
    received_ml: float
    in_vial_ml: float
    in_hand_ml: float
    remaining_ml: float
    administered_ml: float
    wasted_ml: float
    destroyed_ml: float
    written_off_ml: float
    in_vial_mg: float | None
    balances: bool = Field(description="Everything received is accounted for.")
    draws_in_hand: list[DrawInHand]
    open_discrepancies: list[Discrepancy]


class Written(BaseModel):
    """An entry just written and its vial's balance after it."""

    entry_id: int
    seq: int
    kind: str
    container: str | None
    balance: Balance


class WrittenEntries(BaseModel):
    """Entries written together (a delivery: one per vial)."""

    entries: list[Written]


class InventoryWritten(WrittenEntries):
    inventory_id: int


class Vial(BaseModel):
    """A vial's identity as received."""

    number: str
    drug: str
    form: str
    ndc: str
    lot: str
    expiry: str
    strength: str = Field(examples=["10 mg/mL"])
    mg_per_ml: float
    volume_ml: float
    schedule: str


class Entry(BaseModel):
    """One ledger entry as written (entries are never changed: a correction is another)."""

    entry_id: int
    seq: int
    kind: str
    container: str | None
    at: str
    recorded_at: str
    by: str = Field(description="Who wrote it: their e-mail (sign-in name).")
    by_name: str = Field(
        description="Who wrote it, as pages name them (their e-mail when no name is set)."
    )
    volume_ml: float | None
    mg: float | None
    draw_id: int | None
    corrects: int | None
    plan_id: int | None
    session_id: int | None
    patient_id: int | None
    witnesses: list[str] = Field(description="The witnesses' e-mails (sign-in names).")
    witness_names: list[str] = Field(description="The same witnesses, as pages name them.")
    reason: str | None
    data: dict[str, Any] = Field(
        description="What this kind of entry records beside the columns above (free-form)."
    )


class VialHistory(BaseModel):
    container: Vial
    balance: Balance
    entries: list[Entry]


class EntryWithVial(BaseModel):
    """An entry, and its vial's history when it has a vial (a loss case's step or an
    inventory's header has none: the entry alone; the route leaves the rest out)."""

    entry: Entry
    container: Vial | None = None
    balance: Balance | None = None
    entries: list[Entry] | None = None


class VialInStock(Vial):
    balance: Balance
    expired: bool


class StockLine(BaseModel):
    """A line of the stock per item (21 CFR 1304.11)."""

    drug: str
    form: str
    strength: str
    volume_per_container_ml: float
    unopened: int
    opened: int
    expired: int
    total_ml: float
    total_mg: float


class Stock(BaseModel):
    vials: list[VialInStock]
    items: list[StockLine]
    draws_in_hand: list[DrawInHandAt]
    open_discrepancies: list[DiscrepancyAt]


class Report(BaseModel):
    report: str
    rows: list[dict[str, Any]] = Field(
        description="The report's rows; each report has its own columns (those of its CSV)."
    )


class Deadline(BaseModel):
    name: str
    due_at: str
    done_at: str | None
    status: str


class CaseNote(BaseModel):
    at: str
    text: str


class LossCase(BaseModel):
    """A loss or theft case with its two DEA clocks."""

    case_id: int
    kind: str
    discovered_at: str
    description: str
    missing: str
    open: bool
    deadlines: list[Deadline]
    form_106_reference: str | None
    notes: list[CaseNote]
    resolved_at: str | None
    resolution: str | None


class LossCasePage(Page[LossCase]):
    """A page of the clinic's loss and theft cases, with the two DEA clocks as of now."""


__all__ = [
    "Balance",
    "EntryWithVial",
    "InventoryWritten",
    "LossCase",
    "LossCasePage",
    "Report",
    "Stock",
    "VialHistory",
    "Written",
    "WrittenEntries",
]
