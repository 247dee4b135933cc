"""The controlled-substance ledger's values: containers and the entries written against them.

A **container** is one vial with its identity: the clinic's own vial number (unique in the
clinic, written on the vial), drug, form, NDC, lot, expiry, strength and volume. An **entry**
is one thing that happened to stock, written once and never changed: received, drawn for an
order and session, administered (the mg from the chart, never typed), wasted (with a witness),
returned to stock, destroyed (DEA Form 41: method, place, two witnesses), counted (exact, or
estimated in an inventory of an opened container), a count's discrepancy resolved, or a
correction of an earlier entry.

Entries hold who did what (``by``, a staff member's id) and when (``at``); volumes are in
hundredths of a mL (:mod:`ketaplan.clinical.ledger.quantities`). Balances are never stored:
:mod:`ketaplan.clinical.ledger.balance` folds a container's entries into them.

A correction never edits: it is a new entry naming the one it corrects, with the reason and,
unless the corrected entry was simply wrong, the entry as it should have been (its
``replacement``). The fold reads the replacement in the corrected entry's place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar, Literal, get_args

EntryKind = Literal[
    "receive", "draw", "administer", "waste", "return", "destroy", "count", "resolve", "correct"
]
ENTRY_KINDS: tuple[EntryKind, ...] = get_args(EntryKind)


@dataclass(frozen=True, slots=True)
class Container:
    """One vial, as received: what 21 CFR 1304.22 and Form 41 ask of it, and its number."""

    number: str
    """The clinic's vial number (written on the vial; unique in the clinic)."""
    drug: str
    form: str
    ndc: str
    lot: str
    expiry: date
    mg_per_ml: float
    volume_cml: int
    """What the container holds when full, in hundredths of a mL."""
    schedule: str = "III"

    @property
    def strength(self) -> str:
        return f"{self.mg_per_ml:g} mg/mL"

    def expired_on(self, day: date) -> bool:
        """Expired on ``day``: a label's expiry is the last day of use."""
        return day > self.expiry


@dataclass(frozen=True, slots=True)
class Entry:
    """What every entry has: its number in the clinic's ledger, when, and by whom."""

    entry_id: int
    at: datetime
    by: int
    """The staff member who made the entry (their user id); their signature."""

    kind: ClassVar[EntryKind]


@dataclass(frozen=True, slots=True)
class Receive(Entry):
    """A container taken into stock (1304.22(a)(2): supplier name, address and DEA number)."""

    container: Container
    supplier_name: str
    supplier_address: str
    supplier_dea: str
    receipt: str = ""
    """The invoice or shipment reference (a box of several vials shares one)."""
    kind: ClassVar[EntryKind] = "receive"


@dataclass(frozen=True, slots=True)
class Draw(Entry):
    """A volume drawn from the container for an order (and the session it is given in)."""

    volume_cml: int
    plan_id: int | None = None
    session_id: int | None = None
    patient_id: int | None = None
    kind: ClassVar[EntryKind] = "draw"


@dataclass(frozen=True, slots=True)
class Administer(Entry):
    """What a patient received from a draw: the chart's delivered mg, as the vial's volume."""

    draw_id: int
    volume_cml: int
    mg: float
    session_id: int | None = None
    patient_id: int | None = None
    kind: ClassVar[EntryKind] = "administer"


@dataclass(frozen=True, slots=True)
class Waste(Entry):
    """Drug discarded beyond use: what is left of a draw (``draw_id``) or of the opened vial
    (``draw_id`` None), with a reason and a witness who is not the one wasting."""

    volume_cml: int
    reason: str
    witness: int | None
    draw_id: int | None = None
    kind: ClassVar[EntryKind] = "waste"


@dataclass(frozen=True, slots=True)
class Return(Entry):
    """Drawn drug put back into stock unused (a syringe not given, returned to the vial's
    balance for destruction or count; never given to another patient)."""

    draw_id: int
    volume_cml: int
    kind: ClassVar[EntryKind] = "return"


@dataclass(frozen=True, slots=True)
class Destroy(Entry):
    """Stock destroyed (DEA Form 41): how, where, and two witnesses besides the one destroying."""

    volume_cml: int
    method: str
    place: str
    witnesses: tuple[int, ...]
    kind: ClassVar[EntryKind] = "destroy"


@dataclass(frozen=True, slots=True)
class Count(Entry):
    """What is in the container by count; the expected volume is derived, not typed.

    ``estimated``: an opened container estimated in an inventory (1304.11 allows it for an
    opened Schedule III container holding no more than 1,000 units); an estimate opens no
    discrepancy. ``inventory_id`` links the line to its inventory.
    """

    counted_cml: int
    estimated: bool = False
    inventory_id: int | None = None
    kind: ClassVar[EntryKind] = "count"


@dataclass(frozen=True, slots=True)
class Resolve(Entry):
    """A prescriber's or an admin's resolution of a count's discrepancy, with the reason.

    ``write_off``: the difference was really lost (or found): the container's balance moves to
    what was counted. Without it the balance stands (a miscount, recounted)."""

    count_id: int
    reason: str
    write_off: bool
    kind: ClassVar[EntryKind] = "resolve"


@dataclass(frozen=True, slots=True)
class Correct(Entry):
    """A correction of an earlier entry: ``replacement`` (same kind and container) is read in
    its place, or with none the corrected entry is void (entered in error)."""

    corrects: int
    reason: str
    replacement: LedgerEntry | None = None
    kind: ClassVar[EntryKind] = "correct"


LedgerEntry = Receive | Draw | Administer | Waste | Return | Destroy | Count | Resolve | Correct
