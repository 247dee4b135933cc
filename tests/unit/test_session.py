"""The session chart: an append-only event log and the dose, state and alerts folded from it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaplan.clinical.catalog.course_loader import load_monitoring_rules
from ketaplan.clinical.monitoring import VitalSigns
from ketaplan.clinical.session import (
    Adjunct,
    CheckIn,
    Discharge,
    Event,
    Note,
    Pause,
    RateChange,
    Resume,
    SessionLog,
    SessionSequenceError,
    SideEffect,
    Start,
    Stop,
    TolerabilityRated,
    VitalsTaken,
    append,
    event_from_dict,
    replay,
    summarise,
)
from ketaplan.errors import InputError

PST = timezone(timedelta(hours=-8))
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=PST)
MOOD_RULES = load_monitoring_rules().for_category("mood")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_forty_minute_infusion_at_150_ml_per_h_of_035_mg_per_ml_delivers_35_mg() -> None:
    log = replay([Start(at(0), 150, 0.35), Stop(at(40))])
    summary = summarise(log, weight_kg=70)
    assert summary.delivered_mg == pytest.approx(35.0)
    assert summary.delivered_mg_per_kg == pytest.approx(0.5)
    assert summary.infusing_min == pytest.approx(40.0)
    assert summary.state == "stopped"


def test_pauses_and_rate_changes_split_the_infusion_into_segments() -> None:
    log = replay(
        [
            CheckIn(at(-10), VitalSigns(130, 80, 72, 98, 14)),
            Start(at(0), 150, 0.4),
            RateChange(at(10), 75),
            Pause(at(20)),
            Resume(at(25)),
            Stop(at(45)),
        ]
    )
    summary = summarise(log, weight_kg=80)
    assert [s.as_tuple() for s in summary.segments] == [
        (0.0, 10.0, 60.0),
        (10.0, 20.0, 30.0),
        (25.0, 45.0, 30.0),
    ]
    assert summary.delivered_mg == pytest.approx(10 + 5 + 10)
    assert summary.infusing_min == pytest.approx(40)
    assert summary.pauses == 1


def test_a_running_infusion_is_counted_up_to_the_last_charted_event() -> None:
    log = replay([Start(at(0), 120, 0.5), VitalsTaken(at(30), VitalSigns(heart_rate_bpm=80))])
    summary = summarise(log, weight_kg=60)
    assert summary.state == "infusing"
    assert summary.delivered_mg == pytest.approx(30.0)


def test_a_rate_change_while_paused_takes_effect_on_resume() -> None:
    log = replay(
        [
            Start(at(0), 120, 0.5),
            Pause(at(10)),
            RateChange(at(12), 60),
            Resume(at(15)),
            Stop(at(25)),
        ]
    )
    assert [s.as_tuple() for s in summarise(log, 70).segments] == [(0, 10, 60), (15, 25, 30)]


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([Start(at(0), 150, 0.35), Resume(at(5))], "resume needs a paused infusion"),
        ([Start(at(0), 150, 0.35), Start(at(5), 150, 0.35)], "already started"),
        ([Start(at(0), 150, 0.35), Stop(at(40)), Resume(at(45))], "infusion was stopped"),
        ([Start(at(0), 150, 0.35), Stop(at(40)), Start(at(45), 100, 0.35)], "infusion was stopped"),
        ([Start(at(0), 150, 0.35), Stop(at(40)), RateChange(at(45), 100)], "infusion was stopped"),
        ([Pause(at(0))], "only a running infusion can be paused"),
        ([RateChange(at(0), 100)], "no running infusion"),
        ([Stop(at(0))], "no infusion to stop"),
        (
            [Start(at(0), 150, 0.35), Stop(at(40)), Discharge(at(60)), Note(at(61), "late")],
            "discharged",
        ),
        ([Start(at(0), 150, 0.35), Discharge(at(5))], "discharge follows the end"),
    ],
)
def test_impossible_sequences_are_refused(events: list[Event], message: str) -> None:
    with pytest.raises(SessionSequenceError, match=message):
        replay(events)


def test_time_going_backwards_is_refused() -> None:
    log = replay([Start(at(0), 150, 0.35)])
    with pytest.raises(InputError, match="time cannot go backwards"):
        append(log, Pause(at(-1)))


def test_a_refused_event_leaves_the_log_exactly_as_it_was() -> None:
    log = replay([Start(at(0), 150, 0.35), Pause(at(10))])
    before = (log.events, log.state)
    with pytest.raises(SessionSequenceError):
        append(log, Pause(at(12)))
    assert (log.events, log.state) == before
    assert append(log, Resume(at(12))).state.state == "infusing"
    assert log.state.state == "paused"


@pytest.mark.parametrize("rate", [0, -10, float("nan")])
def test_a_rate_of_zero_or_less_is_refused(rate: float) -> None:
    with pytest.raises(InputError, match="rate_ml_per_h must be greater than 0"):
        RateChange(at(0), rate)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(InputError, match="no time zone"):
        Start(datetime(2026, 12, 7, 9, 0), 150, 0.35)


def test_recovery_charting_is_accepted_after_stop_and_checked_against_recovery_rules() -> None:
    log = replay(
        [
            Start(at(0), 150, 0.35),
            Stop(at(40)),
            VitalsTaken(at(55), VitalSigns(186, 100, 90, 97, 14)),
            SideEffect(at(56), "nausea", "moderate"),
            Adjunct(at(57), "ondansetron", "4 mg IV"),
            Discharge(at(80)),
        ],
        MOOD_RULES,
    )
    summary = summarise(log, 70)
    assert summary.state == "discharged"
    (alert,) = summary.alerts
    assert alert.code == "vitals.rec_sbp_high"
    assert alert.action == "recovery_recheck"
    assert "pause" not in alert.message
    assert "pause" not in alert.advice.lower()


def test_alerts_carry_the_action_and_time_of_the_reading() -> None:
    log = replay(
        [
            CheckIn(at(-10), VitalSigns(150, 95, 80, 98, 14)),
            Start(at(0), 150, 0.35),
            VitalsTaken(at(20), VitalSigns(spo2_pct=90)),
            SideEffect(at(25), "hallucinations", "severe"),
        ],
        MOOD_RULES,
    )
    alerts = summarise(log, 70).alerts
    assert [(a.code, a.action) for a in alerts] == [
        ("vitals.pre_bp_caution_systolic", "weigh_risk"),
        ("vitals.pre_bp_caution_diastolic", "weigh_risk"),
        ("vitals.in_spo2_low", "call_prescriber"),
        ("side_effect.severe", "call_prescriber"),
    ]
    assert alerts[2].at == at(20)


def test_events_read_from_json_name_what_is_wrong() -> None:
    event = event_from_dict(
        {
            "at": "2026-12-07T09:00:00-08:00",
            "type": "start",
            "rate_ml_per_h": 150,
            "concentration_mg_per_ml": 0.35,
        }
    )
    assert event == Start(T0, 150, 0.35)
    with pytest.raises(InputError, match="unknown field"):
        event_from_dict({"at": "2026-12-07T09:00:00-08:00", "type": "rate", "rate_ml_h": 100})
    with pytest.raises(InputError, match="no time zone"):
        event_from_dict({"at": "2026-12-07T09:00:00", "type": "pause"})
    with pytest.raises(InputError, match="unknown event type"):
        event_from_dict({"at": "2026-12-07T09:00:00-08:00", "type": "bolus"})
    with pytest.raises(InputError, match="400/20"):
        event_from_dict(
            {"at": "2026-12-07T09:00:00-08:00", "type": "vitals", "systolic": 400, "diastolic": 20}
        )


# ------------------------------------------------------------------ property ----------


@st.composite
def event_logs(draw: st.DrawFn) -> list[Event]:
    """A valid log: start, then rate changes / pauses / resumes / vitals, maybe a stop."""
    minute = 0
    rate = draw(st.integers(1, 400))
    concentration = draw(st.sampled_from([0.1, 0.2, 0.35, 0.4, 0.5, 1.0, 2.0]))
    events: list[Event] = [Start(at(minute), rate, concentration)]
    paused = False
    for _ in range(draw(st.integers(0, 12))):
        minute += draw(st.integers(0, 30))
        choice = draw(st.sampled_from(["rate", "toggle", "vitals", "note"]))
        if choice == "rate":
            events.append(RateChange(at(minute), draw(st.integers(1, 400))))
        elif choice == "toggle":
            events.append(Resume(at(minute)) if paused else Pause(at(minute)))
            paused = not paused
        elif choice == "vitals":
            events.append(VitalsTaken(at(minute), VitalSigns(heart_rate_bpm=70)))
        else:
            events.append(Note(at(minute), "ok"))
    if draw(st.booleans()):
        minute += draw(st.integers(0, 30))
        events.append(Stop(at(minute)))
    return events


def _integral_mg(events: list[Event]) -> float:
    """Minute by minute: the rate in force during each minute x concentration / 60.

    Independent of the fold: for every whole minute it scans the events up to that minute to
    find whether the pump ran and at what rate.
    """
    last_minute = int((events[-1].at - T0).total_seconds() // 60)
    start = next(e for e in events if isinstance(e, Start))
    total = 0.0
    for minute in range(last_minute):
        running, rate = False, 0.0
        for event in events:
            if (event.at - T0).total_seconds() / 60 > minute:
                break
            if isinstance(event, Start):
                running, rate = True, event.rate_ml_per_h
            elif isinstance(event, RateChange):
                rate = event.rate_ml_per_h
            elif isinstance(event, Pause | Stop):
                running = False
            elif isinstance(event, Resume):
                running = True
        if running:
            total += rate * start.concentration_mg_per_ml / 60.0
    return total


@settings(max_examples=150, deadline=None)
@given(event_logs(), st.floats(30, 200))
def test_delivered_mg_equals_the_integral_of_rate_times_concentration(
    events: list[Event], weight_kg: float
) -> None:
    summary = summarise(replay(events), weight_kg)
    expected = _integral_mg(events)
    assert summary.delivered_mg == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert summary.delivered_mg_per_kg == pytest.approx(expected / weight_kg, rel=1e-9, abs=1e-9)
    assert summary.delivered_mg == pytest.approx(sum(s.delivered_mg for s in summary.segments))


def test_a_new_log_is_empty_and_checked_in() -> None:
    assert SessionLog().state.state == "checked_in"


def test_an_infusion_across_the_autumn_clock_change_counts_real_minutes() -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Los_Angeles")
    start = datetime(2026, 11, 1, 1, 30, tzinfo=zone)  # first 01:30, PDT
    stop = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=zone)  # the second 01:10, PST
    summary = summarise(replay([Start(start, 60, 1.0), Stop(stop)]), 70)
    assert summary.infusing_min == pytest.approx(40)
    assert summary.delivered_mg == pytest.approx(40)


def test_the_tolerability_rating_is_charted_and_validated() -> None:
    log = replay([Start(at(0), 150, 0.35), Stop(at(40)), TolerabilityRated(at(50), 2)])
    assert summarise(log, 70).tolerability_rating == 2
    with pytest.raises(InputError, match="outside 0-4"):
        TolerabilityRated(at(50), 5)
