"""A container's balance, folded from its entries; every refusal of the ledger is here.

Nothing about stock is stored as truth except the entries: what a vial holds, what each draw
still has in hand, what was given, wasted, destroyed or written off, and which counts disagree,
are all derived by :func:`fold` from the container's entries in the order they were written
(a correction's replacement read in the corrected entry's place, a voided entry skipped).
Folding the entries already written plus a new one is how a new entry is checked
(:func:`append`): if the fold refuses, nothing is written.

The fold keeps, after every entry, to 0.01 mL (volumes are whole hundredths of a mL)::

    administered + wasted + destroyed + written off + remaining = received
    remaining = in the vial + drawn and still in hand

and refuses: an entry before the container's receipt; a draw larger than what the vial holds,
or from an expired vial; giving, wasting or returning more than a draw has in hand; waste above
zero without a witness, or witnessed by the one wasting; destruction without two witnesses
other than the one destroying; an estimated count outside an inventory or of an unopened
container; resolving a count that has no open discrepancy, or without a reason; a correction of
a correction, of another kind, or one that would leave a later entry impossible.

Examples
--------
>>> from datetime import UTC, date, datetime
>>> vial = Container("K-1", "ketamine", "injection", "0409-2053-05", "L1", date(2028, 1, 1),
...                  50.0, 1000)
>>> t = datetime(2026, 12, 1, 9, tzinfo=UTC)
>>> b = fold([Receive(1, t, 7, vial, "Supplier", "1 Main St", "RS0000000"),
...           Draw(2, t, 7, 200, plan_id=4), Administer(3, t, 7, 2, 187, 93.5)])
>>> b.in_vial_cml, b.remaining_cml, b.administered_cml, b.draws[0].in_hand_cml
(800, 813, 187, 13)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from ketaplan.clinical.ledger.entries import (
    Administer,
    Container,
    Correct,
    Count,
    Destroy,
    Draw,
    LedgerEntry,
    Receive,
    Resolve,
    Return,
    Waste,
)
from ketaplan.clinical.ledger.quantities import show_ml
from ketaplan.errors import InputError


class LedgerRefusal(InputError):
    """An entry the ledger cannot accept; nothing is written."""

    default_code = "ledger.refused"


def _refuse(message: str, code: str, **fields: object) -> LedgerRefusal:
    return LedgerRefusal(message, code=f"ledger.{code}", fields=fields)


@dataclass(frozen=True, slots=True)
class DrawBalance:
    """One draw and what became of it."""

    draw: Draw
    administered_cml: int = 0
    wasted_cml: int = 0
    returned_cml: int = 0

    @property
    def in_hand_cml(self) -> int:
        """Drawn and not yet given, wasted or returned: a nurse holds it (a bag, a syringe)."""
        return self.draw.volume_cml - self.administered_cml - self.wasted_cml - self.returned_cml


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """A count that did not match the derived balance; open until resolved."""

    count: Count
    expected_cml: int
    resolution: Resolve | None = None

    @property
    def missing_cml(self) -> int:
        """Expected minus counted: positive when drug is missing, negative when there is more."""
        return self.expected_cml - self.count.counted_cml

    @property
    def open(self) -> bool:
        return self.resolution is None


@dataclass(frozen=True, slots=True)
class CountResult:
    """A count as the fold saw it: what was expected then, and whether it opened a
    discrepancy."""

    count: Count
    expected_cml: int


@dataclass(frozen=True, slots=True)
class ContainerBalance:
    """What a container's entries add up to."""

    container: Container | None
    received_cml: int = 0
    in_vial_cml: int = 0
    administered_cml: int = 0
    wasted_cml: int = 0
    destroyed_cml: int = 0
    written_off_cml: int = 0
    draws: tuple[DrawBalance, ...] = ()
    counts: tuple[CountResult, ...] = ()
    discrepancies: tuple[Discrepancy, ...] = ()
    history: tuple[LedgerEntry, ...] = ()
    """The entries in effect, in order: replacements in their originals' place, voids left out."""
    corrections: tuple[Correct, ...] = ()
    opened: bool = False
    """A draw or waste was taken from the vial (an estimate of its contents is allowed)."""

    @property
    def in_hand_cml(self) -> int:
        return sum(d.in_hand_cml for d in self.draws)

    @property
    def remaining_cml(self) -> int:
        return self.in_vial_cml + self.in_hand_cml

    @property
    def open_discrepancies(self) -> tuple[Discrepancy, ...]:
        return tuple(d for d in self.discrepancies if d.open)

    @property
    def accounted_cml(self) -> int:
        """Administered + wasted + destroyed + written off + remaining: equals received."""
        return (
            self.administered_cml
            + self.wasted_cml
            + self.destroyed_cml
            + self.written_off_cml
            + self.remaining_cml
        )

    def draw(self, draw_id: int) -> DrawBalance:
        for found in self.draws:
            if found.draw.entry_id == draw_id:
                return found
        raise _refuse(
            f"there is no draw {draw_id} from vial {self._number}",
            "no_such_draw",
            field="draw_id",
            draw_id=draw_id,
        )

    @property
    def _number(self) -> str:
        return "?" if self.container is None else self.container.number


@dataclass(slots=True)
class _Fold:
    """The balance being built (mutable inside :func:`fold` only)."""

    balance: ContainerBalance
    draws: dict[int, DrawBalance] = field(default_factory=dict)
    counts: dict[int, CountResult] = field(default_factory=dict)
    discrepancies: dict[int, Discrepancy] = field(default_factory=dict)

    def set(self, **changes: object) -> None:
        self.balance = replace(self.balance, **changes)  # type: ignore[arg-type]


def _corrections(entries: Sequence[LedgerEntry]) -> dict[int, Correct]:
    """The latest correction of each corrected entry, each checked against its target."""
    seen: dict[int, LedgerEntry] = {}
    latest: dict[int, Correct] = {}
    for entry in entries:
        if isinstance(entry, Correct):
            target = seen.get(entry.corrects)
            if target is None:
                raise _refuse(
                    f"entry {entry.corrects} is not an earlier entry of this vial: a "
                    "correction names the entry it corrects",
                    "no_such_entry",
                    field="corrects",
                    corrects=entry.corrects,
                )
            if isinstance(target, Correct):
                raise _refuse(
                    f"entry {entry.corrects} is itself a correction: correct entry "
                    f"{target.corrects} again instead",
                    "correction_of_correction",
                    field="corrects",
                )
            if not entry.reason.strip():
                raise _refuse("a correction needs a reason", "reason_missing", field="reason")
            replacement = entry.replacement
            if replacement is not None and type(replacement) is not type(target):
                raise _refuse(
                    f"entry {target.entry_id} is a {target.kind}; its correction must be a "
                    f"{target.kind} too (not a {replacement.kind}), or none to void it",
                    "correction_kind",
                    field="replacement",
                )
            if (
                isinstance(replacement, Receive)
                and isinstance(target, Receive)
                and replacement.container != target.container
            ):
                raise _refuse(
                    "a receipt's correction may change the supplier and the reference, not "
                    "the vial itself",
                    "correction_container",
                    field="replacement",
                )
            latest[entry.corrects] = entry
        seen[entry.entry_id] = entry
    return latest


def _in_effect(entries: Sequence[LedgerEntry]) -> Iterable[LedgerEntry]:
    corrections = _corrections(entries)
    for entry in entries:
        if isinstance(entry, Correct):
            continue
        correction = corrections.get(entry.entry_id)
        if correction is None:
            yield entry
        elif correction.replacement is not None:
            yield replace(correction.replacement, entry_id=entry.entry_id)


def fold(entries: Sequence[LedgerEntry]) -> ContainerBalance:
    """A container's balance from its entries in written order; refuses an impossible one."""
    state = _Fold(ContainerBalance(container=None))
    for entry in _in_effect(entries):
        try:
            _apply(state, entry)
        except LedgerRefusal as refused:
            refused.fields.setdefault("entry_id", entry.entry_id)
            raise
        state.set(
            draws=tuple(state.draws.values()),
            counts=tuple(state.counts.values()),
            discrepancies=tuple(state.discrepancies.values()),
            history=(*state.balance.history, entry),
        )
        balance = state.balance
        if balance.accounted_cml != balance.received_cml:  # pragma: no cover - a bug if seen
            raise AssertionError(f"ledger does not balance after entry {entry.entry_id}")
    return replace(state.balance, corrections=tuple(e for e in entries if isinstance(e, Correct)))


def append(entries: Sequence[LedgerEntry], entry: LedgerEntry) -> ContainerBalance:
    """The balance with ``entry`` added after ``entries`` (already accepted); refused, saying
    why, when the ledger cannot take it (a correction that leaves a later entry impossible
    says which)."""
    if not isinstance(entry, Correct):
        return fold([*entries, entry])
    try:
        return fold([*entries, entry])
    except LedgerRefusal as refused:
        if refused.code in {
            "ledger.no_such_entry",
            "ledger.correction_of_correction",
            "ledger.reason_missing",
            "ledger.correction_kind",
            "ledger.correction_container",
        }:
            raise
        if refused.fields.get("entry_id") == entry.corrects:
            raise _refuse(
                f"entry {entry.corrects} as corrected is refused: {refused.message}",
                refused.code.removeprefix("ledger."),
                **refused.fields,
            ) from refused
        raise _refuse(
            f"this correction of entry {entry.corrects} would leave the vial's later entry "
            f"{refused.fields.get('entry_id')} impossible ({refused.message}); correct that "
            "first",
            "correction_breaks_later",
            field="corrects",
            because=refused.code,
        ) from refused


def _positive(volume_cml: int, doing: str) -> None:
    if volume_cml <= 0:
        raise _refuse(
            f"{doing} needs a volume above 0 mL (this one is {show_ml(volume_cml)})",
            "volume_not_positive",
            field="volume_ml",
        )


def _apply(state: _Fold, entry: LedgerEntry) -> None:
    balance = state.balance
    container = balance.container
    if isinstance(entry, Receive):
        if container is not None:
            raise _refuse(
                f"vial {container.number} was already received (entry "
                f"{balance.history[0].entry_id})",
                "already_received",
                field="number",
            )
        _positive(entry.container.volume_cml, "receiving a vial")
        volume = entry.container.volume_cml
        state.set(container=entry.container, received_cml=volume, in_vial_cml=volume)
        return
    if container is None:
        raise _refuse(
            f"entry {entry.entry_id} ({entry.kind}) comes before the vial was received",
            "not_received",
            field="container",
        )
    number = container.number
    if isinstance(entry, Draw):
        _positive(entry.volume_cml, "a draw")
        if container.expired_on(entry.at.date()):
            raise _refuse(
                f"vial {number} expired on {container.expiry:%Y-%m-%d}: draw from another "
                "vial and record this one's destruction",
                "expired",
                field="container",
                expiry=container.expiry.isoformat(),
            )
        if entry.volume_cml > balance.in_vial_cml:
            raise _refuse(
                f"drawing {show_ml(entry.volume_cml)} from vial {number} is more than it holds "
                f"({show_ml(balance.in_vial_cml)}): draw the rest from another vial",
                "draw_exceeds_vial",
                field="volume_ml",
                in_vial_ml=balance.in_vial_cml / 100,
            )
        state.draws[entry.entry_id] = DrawBalance(entry)
        state.set(in_vial_cml=balance.in_vial_cml - entry.volume_cml, opened=True)
    elif isinstance(entry, Administer):
        _positive(entry.volume_cml, "an administration")
        drawn = balance.draw(entry.draw_id)
        _within_hand(drawn, entry.volume_cml, "giving", number)
        state.draws[entry.draw_id] = replace(
            drawn, administered_cml=drawn.administered_cml + entry.volume_cml
        )
        state.set(administered_cml=balance.administered_cml + entry.volume_cml)
    elif isinstance(entry, Waste):
        _witnessed(entry)
        if entry.volume_cml < 0:
            _positive(entry.volume_cml, "waste")
        if entry.draw_id is None:
            if entry.volume_cml > balance.in_vial_cml:
                raise _refuse(
                    f"wasting {show_ml(entry.volume_cml)} from vial {number} is more than it "
                    f"holds ({show_ml(balance.in_vial_cml)})",
                    "waste_exceeds_vial",
                    field="volume_ml",
                )
            state.set(in_vial_cml=balance.in_vial_cml - entry.volume_cml, opened=True)
        else:
            drawn = balance.draw(entry.draw_id)
            _within_hand(drawn, entry.volume_cml, "wasting", number)
            state.draws[entry.draw_id] = replace(
                drawn, wasted_cml=drawn.wasted_cml + entry.volume_cml
            )
        state.set(wasted_cml=state.balance.wasted_cml + entry.volume_cml)
    elif isinstance(entry, Return):
        _positive(entry.volume_cml, "a return to stock")
        drawn = balance.draw(entry.draw_id)
        _within_hand(drawn, entry.volume_cml, "returning", number)
        state.draws[entry.draw_id] = replace(
            drawn, returned_cml=drawn.returned_cml + entry.volume_cml
        )
        state.set(in_vial_cml=balance.in_vial_cml + entry.volume_cml)
    elif isinstance(entry, Destroy):
        _positive(entry.volume_cml, "destruction")
        _two_witnesses(entry)
        if entry.volume_cml > balance.in_vial_cml:
            raise _refuse(
                f"destroying {show_ml(entry.volume_cml)} of vial {number} is more than it "
                f"holds ({show_ml(balance.in_vial_cml)})",
                "destroy_exceeds_vial",
                field="volume_ml",
            )
        state.set(
            in_vial_cml=balance.in_vial_cml - entry.volume_cml,
            destroyed_cml=balance.destroyed_cml + entry.volume_cml,
        )
    elif isinstance(entry, Count):
        _count(state, entry)
    elif isinstance(entry, Resolve):
        _resolve(state, entry)


def _within_hand(drawn: DrawBalance, volume_cml: int, doing: str, number: str) -> None:
    if volume_cml > drawn.in_hand_cml:
        raise _refuse(
            f"{doing} {show_ml(volume_cml)} from draw {drawn.draw.entry_id} (vial {number}) is "
            f"more than it has in hand ({show_ml(drawn.in_hand_cml)})",
            "exceeds_draw",
            field="volume_ml",
            in_hand_ml=drawn.in_hand_cml / 100,
        )


def _witnessed(entry: Waste) -> None:
    if not entry.reason.strip():
        raise _refuse("waste needs a reason", "reason_missing", field="reason")
    if entry.volume_cml <= 0:
        return
    if entry.witness is None:
        raise _refuse(
            f"wasting {show_ml(entry.volume_cml)} needs a witness: another member of staff "
            "who watches and re-enters their own password",
            "witness_missing",
            field="witness",
        )
    if entry.witness == entry.by:
        raise _refuse(
            "the witness to a waste must be someone other than the one wasting",
            "witness_is_waster",
            field="witness",
        )


def _two_witnesses(entry: Destroy) -> None:
    witnesses = set(entry.witnesses)
    if len(witnesses) != len(entry.witnesses) or len(witnesses) < 2 or entry.by in witnesses:
        raise _refuse(
            "destruction (DEA Form 41) needs two different witnesses, neither of them the one "
            "destroying",
            "witnesses_missing",
            field="witnesses",
        )
    if not entry.method.strip() or not entry.place.strip():
        raise _refuse(
            "destruction needs its method and place (DEA Form 41)",
            "method_missing",
            field="method" if not entry.method.strip() else "place",
        )


def _count(state: _Fold, entry: Count) -> None:
    balance = state.balance
    if entry.counted_cml < 0:
        raise _refuse("a count cannot be below 0 mL", "count_negative", field="counted_ml")
    if entry.estimated and (entry.inventory_id is None or not balance.opened):
        raise _refuse(
            "only an opened vial may be estimated, and only in an inventory (21 CFR 1304.11); "
            "count this one exactly",
            "estimate_not_allowed",
            field="estimated",
        )
    expected = balance.in_vial_cml
    state.counts[entry.entry_id] = CountResult(entry, expected)
    if not entry.estimated and entry.counted_cml != expected:
        state.discrepancies[entry.entry_id] = Discrepancy(entry, expected)


def _resolve(state: _Fold, entry: Resolve) -> None:
    balance = state.balance
    found = state.discrepancies.get(entry.count_id)
    if found is None or not found.open:
        raise _refuse(
            f"count {entry.count_id} has no open discrepancy to resolve",
            "no_open_discrepancy",
            field="count_id",
        )
    if not entry.reason.strip():
        raise _refuse("resolving a discrepancy needs a reason", "reason_missing", field="reason")
    state.discrepancies[entry.count_id] = replace(found, resolution=entry)
    if not entry.write_off:
        return
    missing = found.missing_cml
    if balance.in_vial_cml - missing < 0:
        raise _refuse(
            f"writing off {show_ml(missing)} would leave vial "
            f"{'?' if balance.container is None else balance.container.number} below 0 mL "
            f"(it holds {show_ml(balance.in_vial_cml)} now)",
            "write_off_exceeds_vial",
            field="write_off",
        )
    state.set(
        in_vial_cml=balance.in_vial_cml - missing,
        written_off_cml=balance.written_off_cml + missing,
    )
