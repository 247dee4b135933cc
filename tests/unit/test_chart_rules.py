"""The checks at the chair: what a chart checked against its order and protocol refuses, what it
alerts on, corrections, the stop, recovery and discharge."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaplan.clinical.catalog.course_loader import load_monitoring_rules
from ketaplan.clinical.chart_fold import active_holds
from ketaplan.clinical.chart_rules import allowed_events
from ketaplan.clinical.monitoring import ACTION_ADVICE, ACTIONS, VitalSigns
from ketaplan.clinical.session import (
    ChartTerms,
    CheckIn,
    Correction,
    Discharge,
    Event,
    HoldOverride,
    Note,
    OrderTerms,
    Pause,
    RateChange,
    Resume,
    SessionLog,
    SessionSequenceError,
    SideEffect,
    Start,
    Stop,
    VitalsTaken,
    append,
    event_from_dict,
    read_event_lines,
    replay,
    summarise,
)
from ketaplan.errors import CatalogError, HardLimitExceeded, InputError, SafetyLimitError

PST = timezone(timedelta(hours=-8))
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=PST)
RULES = load_monitoring_rules().for_category("mood")
ORDER = OrderTerms(
    order_id=7, concentration_mg_per_ml=0.35, rate_ml_per_h=150, ordered_mg=35, bag_mg=35
)
TERMS = ChartTerms(70, 2.0, 2.0, 1.0, 20, ORDER)
NO_ORDER = ChartTerms(70, 2.0, 2.0, 1.0, 20)
GOOD = VitalSigns(128, 82, 76, 98, 14)
CHECKLIST = {"vitals_within_limits": True, "oriented_and_steady": True, "escort_present": True}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def chart(*events: Event, terms: ChartTerms | None = TERMS) -> SessionLog:
    return replay(events, RULES, terms)


def ready() -> list[Event]:
    return [CheckIn(at(-10), GOOD)]


def discharge(minutes: float, **boxes: bool) -> Discharge:
    return Discharge(at(minutes), "", **{**CHECKLIST, **boxes})


# ------------------------------------------------------------------------- start ----


def test_a_start_without_pre_infusion_vitals_is_refused_and_says_what_to_chart() -> None:
    with pytest.raises(SessionSequenceError, match="pre-infusion vitals") as refused:
        chart(Start(at(0), 150, 0.35))
    assert refused.value.code == "session.no_pre_infusion_vitals"
    assert refused.value.fields["field"] == "check_in"


def test_a_check_in_without_spo2_is_not_enough_to_start() -> None:
    with pytest.raises(SessionSequenceError, match="SpO2"):
        chart(CheckIn(at(-10), VitalSigns(128, 82, 76)), Start(at(0), 150, 0.35))


def test_an_empty_check_in_then_a_full_set_of_readings_allows_the_start() -> None:
    log = chart(CheckIn(at(-10)), VitalsTaken(at(-5), GOOD), Start(at(0), 150, 0.35))
    assert log.state.state == "infusing"


def test_a_hold_finding_blocks_the_start_until_a_later_reading_is_back_within_limits() -> None:
    held = chart(CheckIn(at(-10), VitalSigns(186, 100, 80, 98)))
    assert [b.code for b in summarise(held, 70).start_blockers] == ["session.start_on_hold"]
    with pytest.raises(SafetyLimitError, match="on hold: systolic 186") as refused:
        append(held, Start(at(0), 150, 0.35))
    assert refused.value.fields["field"] == "hold_override"
    rested = append(held, VitalsTaken(at(-2), VitalSigns(150, 90, 78, 98)))
    (alert,) = [a for a in summarise(rested, 70).alerts if a.code == "vitals.pre_sbp_hold"]
    assert alert.resolved_at == at(-2)
    assert append(rested, Start(at(0), 150, 0.35)).state.state == "infusing"


@pytest.mark.parametrize(
    ("check_in", "code", "message"),
    [
        (VitalSigns(84, 52, 76, 98), "vitals.pre_sbp_low", "systolic 84"),
        (VitalSigns(118, 74, 44, 98), "vitals.pre_hr_low", "heart rate 44"),
    ],
)
def test_hypotension_or_bradycardia_at_check_in_holds_the_start(
    check_in: VitalSigns, code: str, message: str
) -> None:
    """The same clinic-policy low-side rules the plan's screening applies (monitoring.toml)."""
    held = chart(CheckIn(at(-10), check_in))
    assert [a.code for a in active_holds(held.state)] == [code]
    with pytest.raises(SafetyLimitError, match=f"on hold: {message}"):
        append(held, Start(at(0), 150, 0.35))
    rested = append(held, VitalsTaken(at(-2), GOOD))
    assert append(rested, Start(at(0), 150, 0.35)).state.state == "infusing"


def test_a_prescribers_hold_override_lifts_the_holds_charted_before_it_only() -> None:
    held = chart(CheckIn(at(-10), VitalSigns(186, 100, 80, 98)))
    lifted = append(held, HoldOverride(at(-5), "BP 186 is her usual; benefit outweighs risk"))
    assert summarise(lifted, 70).start_blockers == ()
    assert append(lifted, Start(at(0), 150, 0.35)).state.state == "infusing"
    again = append(lifted, VitalsTaken(at(-2), VitalSigns(98, 60, 80, 88)))
    with pytest.raises(SafetyLimitError, match="SpO2 88"):
        append(again, Start(at(0), 150, 0.35))


def test_a_hold_override_needs_a_hold_a_reason_and_a_start_not_yet_made() -> None:
    with pytest.raises(SessionSequenceError, match="no hold"):
        chart(*ready(), HoldOverride(at(-5), "just in case"))
    with pytest.raises(InputError, match="reason is required"):
        HoldOverride(at(-5), " ")
    with pytest.raises(SessionSequenceError, match="lifts a hold on the start"):
        chart(*ready(), Start(at(0), 150, 0.35), HoldOverride(at(5), "late"))


def test_a_start_at_another_concentration_than_the_order_says_what_the_order_holds() -> None:
    with pytest.raises(SafetyLimitError, match=r"order's bag is 0.35 mg/mL \(35 mg in the bag"):
        chart(*ready(), Start(at(0), 150, 0.4))
    assert chart(*ready(), Start(at(0), 150, 0.3515)).state.state == "infusing"  # within 0.5 %


@pytest.mark.parametrize("terms", [TERMS, NO_ORDER])
def test_an_undiluted_vial_is_never_accepted_with_or_without_an_order(terms: ChartTerms) -> None:
    with pytest.raises(HardLimitExceeded, match="clinic's maximum of 2 mg/mL") as refused:
        chart(*ready(), Start(at(0), 150, 100), terms=terms)
    assert refused.value.fields["field"] == "concentration_mg_per_ml"


# ------------------------------------------------------------------ rates and dose ----


def test_a_rate_above_the_order_is_charted_with_a_check_pump_alert() -> None:
    log = chart(*ready(), Start(at(0), 150, 0.35), RateChange(at(5), 180))
    (alert,) = summarise(log, 70).alerts
    assert (alert.code, alert.action, alert.severity) == (
        "pump.above_order",
        "check_pump",
        "warning",
    )
    assert "150 mL/h" in alert.message


def test_a_rate_past_the_hard_limit_raises_the_most_severe_alert_saying_what_to_do() -> None:
    log = chart(*ready(), Start(at(0), 999, 0.35), RateChange(at(5), 150))
    hard = [a for a in summarise(log, 70).alerts if a.code == "pump.past_hard_limit"]
    (alert,) = hard
    assert alert.severity == "critical"
    assert alert.action == "stop_infusion"
    assert "Stop the pump now" in alert.advice
    assert "5.00 mg/kg/h" in alert.message
    assert alert.resolved_at == at(5)  # the later rate is within the limit


def test_delivered_mg_never_exceeds_the_bag_and_the_bag_runs_empty_with_an_alert() -> None:
    log = chart(*ready(), Start(at(0), 150, 0.35), Stop(at(90)))
    summary = summarise(log, 70)
    assert summary.delivered_mg == pytest.approx(35.0)
    assert summary.bag_empty
    assert summary.to_dict()["bag_empty"] is True
    empty = [a for a in summary.alerts if a.code == "dose.bag_empty"]
    assert [a.at for a in empty] == [at(40)]


def test_delivered_past_the_order_by_more_than_one_percent_raises_an_alert() -> None:
    order = OrderTerms(7, 0.35, 150, ordered_mg=35, bag_mg=50)
    log = chart(
        *ready(), Start(at(0), 150, 0.35), Stop(at(40.3)), terms=ChartTerms(70, 2, 2, 1, 20, order)
    )
    assert "dose.past_order" not in [a.code for a in summarise(log, 70).alerts]
    log = chart(
        *ready(), Start(at(0), 150, 0.35), Stop(at(45)), terms=ChartTerms(70, 2, 2, 1, 20, order)
    )
    (alert,) = [a for a in summarise(log, 70).alerts if a.code == "dose.past_order"]
    assert alert.at == at(40.4)


# ---------------------------------------------------------------------- the clock ----


def test_an_event_more_than_five_minutes_after_the_clock_is_refused() -> None:
    log = chart(*ready())
    with pytest.raises(InputError, match="after the clock") as refused:
        append(log, Start(at(10), 150, 0.35), now=at(4))
    assert refused.value.code == "input.future_time"
    assert append(log, Start(at(10), 150, 0.35), now=at(5)).state.state == "infusing"


def test_historical_charts_replay_without_a_clock() -> None:
    rows = [
        {
            "at": "2019-03-04T09:00:00-08:00",
            "type": "check_in",
            "systolic": 120,
            "diastolic": 80,
            "heart_rate": 70,
            "spo2": 98,
        },
        {
            "at": "2019-03-04T09:10:00-08:00",
            "type": "start",
            "rate_ml_per_h": 150,
            "concentration_mg_per_ml": 0.35,
        },
    ]
    assert read_event_lines(rows, RULES, terms=NO_ORDER, now=at(0)).state.state == "infusing"


def test_one_event_in_the_future_cannot_wedge_the_chart_a_correction_voids_it() -> None:
    stored = replay(
        [*ready(), VitalsTaken(at(60 * 24), GOOD)], RULES, TERMS, checked=False
    )  # charted before times were checked
    with pytest.raises(InputError, match="time cannot go backwards"):
        append(stored, Start(at(0), 150, 0.35))
    fixed = append(stored, Correction(at(0), 2, "typed tomorrow's date"), now=at(0))
    assert append(fixed, Start(at(1), 150, 0.35), now=at(1)).state.state == "infusing"


# -------------------------------------------------------------------- corrections ----


def test_a_correction_voids_a_reading_its_alert_goes_and_nothing_is_deleted() -> None:
    log = chart(*ready(), Start(at(0), 150, 0.35), VitalsTaken(at(10), VitalSigns(spo2_pct=85)))
    assert [a.code for a in summarise(log, 70).alerts] == ["vitals.in_spo2_low"]
    fixed = append(log, Correction(at(11), 3, "probe had slipped off"))
    summary = summarise(fixed, 70)
    assert summary.alerts == ()
    assert summary.voided == (3,)
    assert len(fixed.events) == 4
    assert summary.to_dict()["voided"] == [3]


def test_a_voided_rate_change_is_not_counted_in_the_dose() -> None:
    log = chart(*ready(), Start(at(0), 150, 0.35), RateChange(at(10), 75), Note(at(20), "ok"))
    fixed = append(log, Correction(at(21), 3, "charted on the wrong patient"))
    assert summarise(fixed, 70).delivered_mg == pytest.approx(0.35 * 150 * 20 / 60)


@pytest.mark.parametrize(
    ("events", "seq", "message"),
    [
        ([Start(at(0), 150, 0.35), Note(at(5), "x")], 2, "has later entries"),
        (
            [Start(at(0), 150, 0.35), Note(at(5), "x"), Correction(at(6), 3, "x")],
            4,
            "cannot be voided",
        ),
        ([Start(at(0), 150, 0.35)], 9, "no entry 9"),
        (
            [Start(at(0), 150, 0.35), Note(at(5), "x"), Correction(at(6), 3, "x")],
            3,
            "already voided",
        ),
    ],
)
def test_corrections_refuse_what_they_cannot_void(
    events: list[Event], seq: int, message: str
) -> None:
    log = chart(*ready(), *events)
    with pytest.raises(InputError, match=message):
        append(log, Correction(at(7), seq, "mistake"))


def test_a_hold_override_and_a_correction_are_never_voided() -> None:
    log = chart(CheckIn(at(-10), VitalSigns(186, 100, 80, 98)), HoldOverride(at(-5), "usual BP"))
    with pytest.raises(InputError, match="cannot be voided"):
        append(log, Correction(at(-4), 2, "mistake"))


def test_the_last_start_can_be_voided_and_the_chart_is_back_to_checked_in() -> None:
    log = chart(*ready(), Start(at(0), 150, 0.35))
    fixed = append(log, Correction(at(1), 2, "wrong chair"))
    assert fixed.state.state == "checked_in"
    assert "start" in summarise(fixed, 70).allowed_events


# ----------------------------------------------------------------- stop, recovery ----


def test_a_stop_records_completed_or_stopped_early_with_a_reason() -> None:
    with pytest.raises(InputError, match="needs a reason"):
        Stop(at(20), completed=False)
    log = chart(*ready(), Start(at(0), 150, 0.35), Stop(at(20), False, "patient asked to stop"))
    data = summarise(log, 70).to_dict()
    assert (data["completed"], data["stopped_early"], data["stop_reason"]) == (
        False,
        True,
        "patient asked to stop",
    )


def test_a_stop_read_from_json_must_say_whether_it_completed_except_a_stored_one() -> None:
    row = {"at": "2026-12-07T09:40:00-08:00", "type": "stop"}
    with pytest.raises(InputError, match="completed must be true or false"):
        event_from_dict(row)
    assert event_from_dict(row, stored=True) == Stop(at(40), True)
    assert event_from_dict({**row, "type": "complete"}) == Stop(at(40), True)


def test_recovery_readings_raise_recovery_advice_never_pause_the_infusion() -> None:
    log = chart(
        *ready(),
        Start(at(0), 150, 0.35),
        Stop(at(40)),
        VitalsTaken(at(50), VitalSigns(190, 100, 45, 88, 14)),
    )
    alerts = summarise(log, 70).alerts
    assert {a.code for a in alerts} == {
        "vitals.rec_sbp_high",
        "vitals.rec_hr_low",
        "vitals.rec_spo2_low",
    }
    for alert in alerts:
        assert "pause" not in f"{alert.message} {alert.advice}".lower()


def test_hypotension_and_bradycardia_raise_alerts_during_the_infusion() -> None:
    log = chart(*ready(), Start(at(0), 150, 0.35), VitalsTaken(at(10), VitalSigns(84, 50, 44, 97)))
    assert [a.code for a in summarise(log, 70).alerts] == ["vitals.in_sbp_low", "vitals.in_hr_low"]


def test_a_severe_side_effect_after_the_stop_does_not_ask_to_pause() -> None:
    log = chart(
        *ready(), Start(at(0), 150, 0.35), Stop(at(40)), SideEffect(at(45), "vomiting", "severe")
    )
    (alert,) = summarise(log, 70).alerts
    assert "pause" not in alert.message


# ---------------------------------------------------------------------- discharge ----


def stopped(*after: Event) -> SessionLog:
    return chart(*ready(), Start(at(0), 150, 0.35), Stop(at(40)), *after)


def test_discharge_six_minutes_after_the_stop_with_bad_vitals_is_refused_naming_each_criterion() -> (
    None
):
    log = stopped(VitalsTaken(at(45), VitalSigns(190, 100, 80, 88)))
    with pytest.raises(SafetyLimitError) as refused:
        append(log, discharge(46))
    codes = [b["code"] for b in refused.value.fields["blockers"]]  # type: ignore[union-attr]
    assert codes == [
        "session.recovery_time",
        "session.recovery_vitals_out_of_limits",
        "session.recovery_vitals_out_of_limits",
    ]
    assert "discharge from 10:00" in refused.value.message
    assert "SpO2 88" in refused.value.message


def test_discharge_needs_vitals_taken_after_the_stop() -> None:
    with pytest.raises(SafetyLimitError, match="chart vitals after the stop"):
        append(stopped(), discharge(70))


def test_discharge_is_refused_until_the_checklist_is_ticked() -> None:
    log = stopped(VitalsTaken(at(55), GOOD))
    with pytest.raises(InputError, match="escort is present") as refused:
        append(log, discharge(61, escort_present=False))
    assert refused.value.fields["field"] == "escort_present"
    assert append(log, discharge(61)).state.state == "discharged"


def test_a_bad_recovery_reading_resolved_by_a_later_one_allows_the_discharge() -> None:
    log = stopped(VitalsTaken(at(45), VitalSigns(190, 100, 80, 97)), VitalsTaken(at(58), GOOD))
    assert summarise(log, 70, now=at(60)).discharge_blockers == ()
    assert summarise(log, 70, now=at(59)).discharge_blockers[0].code == "session.recovery_time"
    assert append(log, discharge(60)).state.state == "discharged"


# --------------------------------------------------------------------- vocabulary ----


def test_every_action_a_rule_may_name_has_advice_and_a_severity() -> None:
    assert set(ACTIONS) <= set(ACTION_ADVICE)
    assert ACTION_ADVICE["stop_infusion"][0] == "critical"
    assert [a for a, (sev, _) in ACTION_ADVICE.items() if sev == "critical"] == ["stop_infusion"]


def test_the_summary_says_which_events_the_state_allows_and_what_blocks_the_start() -> None:
    data = summarise(chart(CheckIn(at(-10))), 70).to_dict()
    assert data["allowed_events"] == [
        kind for kind in allowed_events("checked_in") if kind not in ("check_in", "hold_override")
    ]
    held = summarise(chart(CheckIn(at(-10), VitalSigns(186, 100, 80, 98))), 70)
    assert "hold_override" in held.allowed_events
    assert [b["code"] for b in data["start_blockers"]] == ["session.no_pre_infusion_vitals"]  # type: ignore[index]
    assert data["discharge_blockers"] == []
    assert allowed_events("discharged") == ()


def test_a_clinic_rule_for_recovery_that_asks_to_pause_is_refused(tmp_path: Path) -> None:
    clinic = tmp_path / "ours.toml"
    clinic.write_text('[monitoring.mood.rules.rec_sbp_high]\naction = "pause_and_recheck"\n')
    with pytest.raises(CatalogError, match=r"rec_sbp_high\.action"):
        load_monitoring_rules((clinic,))


# ----------------------------------------------------------------------- properties ----

steps = st.lists(
    st.tuples(
        st.integers(1, 30),
        st.sampled_from(["rate", "pause", "resume", "vitals", "note"]),
        st.floats(1, 2000),
    ),
    max_size=12,
)


def _infusion(start_rate: float, moves: list[tuple[int, str, float]]) -> list[Event]:
    events: list[Event] = [*ready(), Start(at(0), start_rate, 0.35)]
    minute, paused = 0, False
    for gap, kind, value in moves:
        minute += gap
        if kind == "rate":
            events.append(RateChange(at(minute), value))
        elif kind == "pause" and not paused:
            events.append(Pause(at(minute)))
            paused = True
        elif kind == "resume" and paused:
            events.append(Resume(at(minute)))
            paused = False
        elif kind == "vitals":
            events.append(VitalsTaken(at(minute), VitalSigns(spo2_pct=min(100, 80 + value % 20))))
        else:
            events.append(Note(at(minute), "n"))
    return events


@settings(max_examples=150, deadline=None)
@given(st.floats(1, 2000), steps, st.floats(1, 200), st.integers(0, 300))
def test_delivered_mg_never_exceeds_the_bag(
    start: float, moves: list, bag: float, end: int
) -> None:  # type: ignore[type-arg]
    terms = ChartTerms(70, 2.0, 2.0, 1.0, 20, OrderTerms(1, 0.35, 150, bag, bag))
    events = _infusion(start, moves)
    log = replay(events, RULES, terms)
    summary = summarise(log, 70)
    assert summary.delivered_mg <= bag + 1e-6
    if summary.bag_empty:
        assert "dose.bag_empty" in [a.code for a in summary.alerts]


@settings(max_examples=150, deadline=None)
@given(st.floats(1, 2000), steps)
def test_every_rate_past_the_hard_limit_has_a_critical_alert_on_the_chart(
    start: float, moves: list
) -> None:  # type: ignore[type-arg]
    events = _infusion(start, moves)
    summary = summarise(replay(events, RULES, NO_ORDER), 70)
    critical = {a.at for a in summary.alerts if a.severity == "critical"}
    for event in events:
        rate = getattr(event, "rate_ml_per_h", None)
        if rate is not None and rate * 0.35 / 70 > 2.0:
            assert event.at in critical


@settings(max_examples=150, deadline=None)
@given(steps, st.data())
def test_a_voided_event_changes_nothing_against_never_charting_it(
    moves: list, data: st.DataObject
) -> None:  # type: ignore[type-arg]
    events = _infusion(150, moves)
    voidable = [n for n, e in enumerate(events, 1) if e.kind in ("vitals", "note", "rate")]
    if not voidable:
        return
    seq = data.draw(st.sampled_from(voidable))
    without = replay([e for n, e in enumerate(events, 1) if n != seq], RULES, TERMS)
    corrected = append(replay(events, RULES, TERMS), Correction(events[-1].at, seq, "mistake"))
    mine, theirs = summarise(corrected, 70).to_dict(), summarise(without, 70).to_dict()
    assert mine.pop("voided") == [seq]
    theirs.pop("voided")
    assert mine == theirs


any_event = st.one_of(
    st.builds(lambda m: CheckIn(at(m), GOOD), st.integers(-20, 0)),
    st.builds(lambda m: CheckIn(at(m)), st.integers(-20, 0)),
    st.builds(lambda m, s: VitalsTaken(at(m), VitalSigns(s, 80, 75, 97)), st.integers(-20, 90),
              st.sampled_from([120, 150, 186])),
    st.builds(lambda m: HoldOverride(at(m), "prescriber accepts"), st.integers(-20, 90)),
    st.builds(lambda m, r, c: Start(at(m), r, c), st.integers(-20, 90), st.floats(1, 999),
              st.sampled_from([0.35, 0.35, 0.35, 0.4, 5.0])),
    st.builds(lambda m: Stop(at(m)), st.integers(-20, 90)),
    st.builds(lambda m: Correction(at(m), 1, "mistake"), st.integers(-20, 90)),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(any_event, max_size=10))
def test_no_chart_starts_without_pre_infusion_vitals_the_orders_bag_and_no_hold_in_force(
    events: list[Event],
) -> None:
    log = SessionLog(rules=RULES, terms=TERMS)
    for event in sorted(events, key=lambda e: e.at):
        before = log.state
        try:
            log = append(log, event, now=at(90))
        except (InputError, SafetyLimitError, SessionSequenceError):
            continue
        if before.state == "checked_in" and log.state.state == "infusing":
            assert before.pre_infusion_vitals
            assert active_holds(before) == ()
            assert event.concentration_mg_per_ml == 0.35  # type: ignore[union-attr]
