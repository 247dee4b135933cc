"""One fold of a chart against its terms serves what reads it without them: leaving out the pump
alerts, it is the fold without terms (what the titration history has always read)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from ketaplan.clinical.catalog.course_loader import load_monitoring_rules
from ketaplan.clinical.chart_rules import alerts_without_terms
from ketaplan.clinical.monitoring import VitalSigns
from ketaplan.clinical.session import (
    ChartTerms,
    CheckIn,
    Event,
    Note,
    OrderTerms,
    Pause,
    RateChange,
    Resume,
    SessionSequenceError,
    SideEffect,
    Start,
    Stop,
    VitalsTaken,
    replay,
)

PST = timezone(timedelta(hours=-8))
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=PST)
RULES = load_monitoring_rules().for_category("mood")
ORDER = OrderTerms(
    order_id=7, concentration_mg_per_ml=0.35, rate_ml_per_h=150, ordered_mg=35, bag_mg=35
)
TERMS = (ChartTerms(70, 2.0, 2.0, 1.0, 20, ORDER), ChartTerms(70, 2.0, 2.0, 1.0, 20))


def _event(minute: int, kind: str, value: float) -> Event:
    at = T0 + timedelta(minutes=minute)
    if kind == "rate":
        return RateChange(at, value)
    if kind == "pause":
        return Pause(at)
    if kind == "resume":
        return Resume(at)
    if kind == "vitals":
        return VitalsTaken(at, VitalSigns(90 + value % 110, 80, 45 + value % 60, 85 + value % 15))
    if kind == "side_effect":
        return SideEffect(at, "nausea", "severe" if value > 1000 else "mild")
    if kind == "stop":
        return Stop(at)
    return Note(at, "n")


moves = st.lists(
    st.tuples(
        st.integers(0, 20),
        st.sampled_from(["rate", "pause", "resume", "vitals", "side_effect", "stop", "note"]),
        st.floats(1, 2000),
    ),
    max_size=14,
)


@settings(max_examples=300, deadline=None)
@given(st.floats(1, 2000), st.sampled_from([0.35, 0.4, 5.0]), moves, st.sampled_from(TERMS))
def test_the_fold_against_terms_without_the_pump_alerts_is_the_fold_without_terms(
    rate: float,
    concentration: float,
    later: list[tuple[int, str, float]],
    terms: ChartTerms,
) -> None:
    events: list[Event] = [
        CheckIn(T0 - timedelta(minutes=10), VitalSigns(128, 82, 76, 98, 14)),
        Start(T0, rate, concentration),
    ]
    minute = 0
    for gap, kind, value in later:
        minute += gap
        events.append(_event(minute, kind, value))
    try:
        plain = replay(events, RULES, checked=False)
    except SessionSequenceError:  # an impossible sequence is refused alike with terms
        return
    against = replay(events, RULES, terms, checked=False)
    assert replace(against.state, alerts=alerts_without_terms(against.state.alerts)) == plain.state


def test_a_rate_past_the_order_and_the_hard_limit_is_left_out_and_nothing_else() -> None:
    events = [
        CheckIn(T0 - timedelta(minutes=10), VitalSigns(128, 82, 76, 98, 14)),
        Start(T0, 999, 0.35),
        VitalsTaken(T0 + timedelta(minutes=5), VitalSigns(186, 104, 76, 98)),
        RateChange(T0 + timedelta(minutes=6), 150),
    ]
    against = replay(events, RULES, TERMS[0], checked=False).state.alerts
    plain = replay(events, RULES, checked=False).state.alerts
    assert [a.code for a in against if a.code.startswith("pump.")] == [
        "pump.past_hard_limit",
        "pump.above_order",
    ]
    assert plain
    assert all(a.code.startswith("vitals.") for a in plain)
    assert alerts_without_terms(against) == plain
