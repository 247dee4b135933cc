"""Properties of the controlled-substance ledger over random sequences of actions (issue 16).

Each example drives one vial through a random sequence of draws, administrations, wastes (with
and without a witness, by the waster as witness), returns, destructions, counts, resolutions
and corrections (voids and replacements). A reference model written independently of
:mod:`ketaplan.clinical.ledger.balance` (plain counters, replayed from scratch over the entries
in effect) says whether each action must be accepted; the ledger must agree, and after every
accepted entry:

- administered + wasted + destroyed + written off + remaining = received, exactly in 0.01 mL;
- no draw ever exceeded what the vial held, nothing in hand or in the vial is below zero;
- the balances equal the reference model's;
- a count that disagrees stays an open discrepancy until resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from ketaplan.clinical.ledger import (
    Administer,
    Container,
    Correct,
    Count,
    Destroy,
    Draw,
    LedgerEntry,
    LedgerRefusal,
    Receive,
    Resolve,
    Return,
    Waste,
    append,
    fold,
)

NURSE, OTHER_NURSE, PRESCRIBER, ADMIN = 1, 2, 3, 4
T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)


def vial(volume_cml: int = 1000) -> Container:
    return Container(
        "K-0001", "ketamine hydrochloride", "injection", "0409-2053-05", "LOT1",
        date(2027, 12, 31), 50.0, volume_cml,
    )  # fmt: skip


@dataclass
class Reference:
    """The ledger's arithmetic as plain counters: what must be accepted, and the totals."""

    received: int = 0
    in_vial: int = 0
    in_hand: dict[int, int] = field(default_factory=dict)
    administered: int = 0
    wasted: int = 0
    destroyed: int = 0
    written_off: int = 0
    discrepancies: dict[int, tuple[int, int]] = field(default_factory=dict)
    """count id -> (expected, counted) for open ones."""
    received_once: bool = False

    def accepts(self, e: LedgerEntry) -> bool:
        if isinstance(e, Receive):
            if self.received_once:
                return False
            self.received_once = True
            self.received = self.in_vial = e.container.volume_cml
        elif not self.received_once:
            return False
        elif isinstance(e, Draw):
            if not 0 < e.volume_cml <= self.in_vial:
                return False
            self.in_vial -= e.volume_cml
            self.in_hand[e.entry_id] = e.volume_cml
        elif isinstance(e, Administer | Return):
            hand = self.in_hand.get(e.draw_id)
            if hand is None or not 0 < e.volume_cml <= hand:
                return False
            self.in_hand[e.draw_id] = hand - e.volume_cml
            if isinstance(e, Administer):
                self.administered += e.volume_cml
            else:
                self.in_vial += e.volume_cml
        elif isinstance(e, Waste):
            if e.volume_cml < 0 or (e.volume_cml > 0 and e.witness in (None, e.by)):
                return False
            if e.draw_id is None:
                if e.volume_cml > self.in_vial:
                    return False
                self.in_vial -= e.volume_cml
            else:
                hand = self.in_hand.get(e.draw_id)
                if hand is None or e.volume_cml > hand:
                    return False
                self.in_hand[e.draw_id] = hand - e.volume_cml
            self.wasted += e.volume_cml
        elif isinstance(e, Destroy):
            w = e.witnesses
            if len(set(w)) < 2 or len(set(w)) != len(w) or e.by in w:
                return False
            if not 0 < e.volume_cml <= self.in_vial:
                return False
            self.in_vial -= e.volume_cml
            self.destroyed += e.volume_cml
        elif isinstance(e, Count):
            if e.counted_cml < 0:
                return False
            if e.counted_cml != self.in_vial:
                self.discrepancies[e.entry_id] = (self.in_vial, e.counted_cml)
        elif isinstance(e, Resolve):
            found = self.discrepancies.get(e.count_id)
            if found is None:
                return False
            if e.write_off:
                missing = found[0] - found[1]
                if self.in_vial - missing < 0:
                    return False
                self.in_vial -= missing
                self.written_off += missing
            del self.discrepancies[e.count_id]
        return True


def in_effect(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """The entries a correction leaves, written here without the ledger's code."""
    last: dict[int, Correct] = {}
    for e in entries:
        if isinstance(e, Correct):
            last[e.corrects] = e
    out: list[LedgerEntry] = []
    for e in entries:
        if isinstance(e, Correct):
            continue
        c = last.get(e.entry_id)
        if c is None:
            out.append(e)
        elif c.replacement is not None:
            out.append(replace(c.replacement, entry_id=e.entry_id))
    return out


def reference_of(entries: list[LedgerEntry]) -> Reference | None:
    ref = Reference()
    for e in in_effect(entries):
        if not ref.accepts(e):
            return None
    return ref


actions = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "draw",
                "administer",
                "waste_draw",
                "waste_vial",
                "return",
                "destroy",
                "count",
                "resolve",
                "void",
                "replace",
            ]
        ),
        st.integers(min_value=-5, max_value=1100),
        st.integers(min_value=0, max_value=50),
        st.sampled_from([None, NURSE, OTHER_NURSE, PRESCRIBER]),
        st.booleans(),
    ),
    max_size=40,
)


def build(kind: str, n: int, volume: int, pick: int, witness: int | None, flag: bool,
          entries: list[LedgerEntry]) -> LedgerEntry | None:  # fmt: skip
    at = T0 + timedelta(minutes=n)
    draws = [e.entry_id for e in entries if isinstance(e, Draw)]
    counts = [e.entry_id for e in entries if isinstance(e, Count)]
    earlier = [e for e in entries if not isinstance(e, Correct | Receive)]
    draw_id = draws[pick % len(draws)] if draws else 999
    if kind == "draw":
        return Draw(n, at, NURSE, volume, plan_id=1, session_id=1, patient_id=1)
    if kind == "administer":
        return Administer(n, at, NURSE, draw_id, volume, volume / 2)
    if kind == "waste_draw":
        return Waste(n, at, NURSE, volume, "rest of the bag", witness, draw_id=draw_id)
    if kind == "waste_vial":
        return Waste(n, at, NURSE, volume, "rest of the vial", witness)
    if kind == "return":
        return Return(n, at, NURSE, draw_id, volume)
    if kind == "destroy":
        witnesses = (OTHER_NURSE, PRESCRIBER) if flag else (OTHER_NURSE, witness or NURSE)
        return Destroy(n, at, ADMIN, volume, "incinerated", "clinic", witnesses)
    if kind == "count":
        return Count(n, at, NURSE, max(volume, 0))
    if kind == "resolve":
        count_id = counts[pick % len(counts)] if counts else 999
        return Resolve(n, at, PRESCRIBER, count_id, "recounted", write_off=flag)
    if not earlier:
        return None
    target = earlier[pick % len(earlier)]
    if kind == "void":
        return Correct(n, at, PRESCRIBER, target.entry_id, "entered in error")
    volume_field = "counted_cml" if isinstance(target, Count) else "volume_cml"
    if not hasattr(target, volume_field):
        return None
    fixed = replace(target, **{volume_field: volume})  # type: ignore[arg-type]
    return Correct(n, at, PRESCRIBER, target.entry_id, "wrong volume typed", fixed)


@settings(max_examples=300, deadline=None)
@given(actions)
def test_the_ledger_accepts_exactly_what_balances_and_always_balances(
    steps: list[tuple[str, int, int, int | None, bool]],
) -> None:
    entries: list[LedgerEntry] = [Receive(1, T0, NURSE, vial(), "McKesson", "1 Main St", "RM1")]
    for n, (kind, volume, pick, witness, flag) in enumerate(steps, start=2):
        entry = build(kind, n, volume, pick, witness, flag, entries)
        if entry is None:
            continue
        expected = reference_of([*entries, entry])
        note(f"{entry!r} -> {'accept' if expected else 'refuse'}")
        if expected is None:
            with pytest.raises(LedgerRefusal):
                append(entries, entry)
            assert fold(entries) == fold(list(entries))  # nothing changed
            continue
        balance = append(entries, entry)
        entries.append(entry)
        assert balance.accounted_cml == balance.received_cml == 1000
        assert balance.in_vial_cml >= 0
        assert all(d.in_hand_cml >= 0 for d in balance.draws)
        assert balance.in_vial_cml == expected.in_vial
        assert balance.in_hand_cml == sum(expected.in_hand.values())
        assert (balance.administered_cml, balance.wasted_cml, balance.destroyed_cml) == (
            expected.administered, expected.wasted, expected.destroyed,
        )  # fmt: skip
        assert balance.written_off_cml == expected.written_off
        assert {d.count.entry_id for d in balance.open_discrepancies} == set(expected.discrepancies)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=5000), st.integers(min_value=1, max_value=5000))
def test_a_draw_never_exceeds_what_the_vial_holds(full_cml: int, draw_cml: int) -> None:
    entries: list[LedgerEntry] = [
        Receive(1, T0, NURSE, vial(full_cml), "McKesson", "1 Main St", "RM1")
    ]
    draw = Draw(2, T0, NURSE, draw_cml)
    if draw_cml > full_cml:
        with pytest.raises(LedgerRefusal) as refused:
            append(entries, draw)
        assert refused.value.code == "ledger.draw_exceeds_vial"
        assert "more than it holds" in refused.value.message
    else:
        assert append(entries, draw).in_vial_cml == full_cml - draw_cml


@given(st.integers(min_value=1, max_value=1000), st.sampled_from([None, NURSE]))
def test_waste_above_zero_needs_a_witness_other_than_the_waster(
    volume_cml: int, witness: int | None
) -> None:
    entries: list[LedgerEntry] = [Receive(1, T0, NURSE, vial(), "S", "A", "D")]
    with pytest.raises(LedgerRefusal) as refused:
        append(entries, Waste(2, T0, NURSE, volume_cml, "rest of vial", witness))
    code = "ledger.witness_missing" if witness is None else "ledger.witness_is_waster"
    assert refused.value.code == code
    assert append(entries, Waste(2, T0, NURSE, volume_cml, "rest", OTHER_NURSE)).wasted_cml == (
        volume_cml
    )


@given(
    st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    st.sets(st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 1, 31)), max_size=20),
)
def test_the_dea_clocks_fall_on_the_next_business_day_and_45_days_on(
    discovered: datetime, holidays: set[date]
) -> None:
    from zoneinfo import ZoneInfo

    from ketaplan.clinical.ledger import form_106_due, notice_due

    zone = ZoneInfo("America/Chicago")
    local_day = discovered.astimezone(zone).date()
    due = notice_due(discovered, zone, frozenset(holidays))
    assert due > discovered
    assert due.weekday() < 5
    assert due.date() not in holidays
    between = [local_day + timedelta(days=n) for n in range(1, (due.date() - local_day).days)]
    assert all(d.weekday() >= 5 or d in holidays for d in between)  # no business day skipped
    assert (form_106_due(discovered, zone).date() - local_day).days == 45
