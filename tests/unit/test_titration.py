"""Titration proposes the next mg/kg from tolerability and response, always inside the range."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.titration import (
    History,
    SessionRecord,
    SideEffectRecord,
    recommend_next_dose,
)
from ketaplan.clinical.titration_input import history_from_dict
from ketaplan.errors import InputError

EXAMPLES = Path(__file__).parents[2] / "examples"


def history(
    *sessions: SessionRecord, baseline: int | None = 20, condition: str = "depression"
) -> History:
    scale = "pain_nrs" if condition in {"fibromyalgia", "migraine", "crps"} else "phq9"
    return History(
        condition=condition,
        weight_kg=80,
        baseline_scores={scale: baseline} if baseline is not None else {},
        sessions=sessions,
    )


def session(
    mg_per_kg: float, score: int | None = None, scale: str = "phq9", **kwargs: object
) -> SessionRecord:
    return SessionRecord(
        number=1,
        on=date(2026, 12, 7),
        mg_per_kg=mg_per_kg,
        scores={scale: score} if score is not None else {},
        **kwargs,  # type: ignore[arg-type]
    )


def test_mood_well_tolerated_without_response_steps_up_cautiously(catalog: Catalog) -> None:
    result = recommend_next_dose(
        catalog.protocol("depression"), history(session(0.5, 19, tolerability=1))
    )
    assert (result.action, result.recommended_mg_per_kg) == ("increase", 0.55)
    assert any("step up cautiously" in r for r in result.reasons)


def test_mood_responding_holds_the_dose_that_works(catalog: Catalog) -> None:
    result = recommend_next_dose(
        catalog.protocol("depression"), history(session(0.5, 9, tolerability=1))
    )
    assert (result.action, result.recommended_mg_per_kg) == ("hold", 0.5)
    assert any("responding" in r for r in result.reasons)


def test_poor_tolerance_lowers_the_dose_even_when_responding(catalog: Catalog) -> None:
    severe = session(0.5, 8, side_effects=(SideEffectRecord("hallucinations", "severe"),))
    result = recommend_next_dose(catalog.protocol("depression"), history(severe))
    assert (result.action, result.recommended_mg_per_kg) == ("decrease", 0.45)
    assert result.tolerance == "poor"


def test_an_in_infusion_blood_pressure_alert_counts_as_poor_tolerance(catalog: Catalog) -> None:
    alerted = session(0.5, 19, alerts=("vitals.in_sbp_hold",))
    assert (
        recommend_next_dose(catalog.protocol("depression"), history(alerted)).action == "decrease"
    )


def test_moderate_side_effects_hold_rather_than_step_up(catalog: Catalog) -> None:
    moderate = session(0.5, 19, tolerability=2, pauses=1)
    result = recommend_next_dose(catalog.protocol("depression"), history(moderate))
    assert result.action == "hold"


def test_the_upper_bound_of_the_range_is_reached_and_said(catalog: Catalog) -> None:
    result = recommend_next_dose(
        catalog.protocol("depression"), history(session(0.75, 19, tolerability=0))
    )
    assert (result.action, result.recommended_mg_per_kg) == ("hold", 0.75)
    assert any("tops out at 0.75" in r for r in result.reasons)


def test_a_dose_given_above_the_range_by_override_is_brought_back_inside(catalog: Catalog) -> None:
    result = recommend_next_dose(catalog.protocol("depression"), history(session(0.9, 9)))
    assert (result.action, result.recommended_mg_per_kg) == ("decrease", 0.75)


def test_the_lower_bound_is_kept_when_poor_tolerance_persists(catalog: Catalog) -> None:
    result = recommend_next_dose(
        catalog.protocol("depression"), history(session(0.25, 19, tolerability=4))
    )
    assert result.recommended_mg_per_kg == 0.25
    assert any("starts at 0.25" in r for r in result.reasons)


def test_pain_steps_towards_the_effective_dose_while_pain_persists(catalog: Catalog) -> None:
    pain = history(
        session(0.5, 7, scale="pain_nrs", tolerability=1), baseline=8, condition="fibromyalgia"
    )
    result = recommend_next_dose(catalog.protocol("fibromyalgia"), pain)
    assert (result.action, result.recommended_mg_per_kg) == ("increase", 0.6)
    assert result.primary_scale == "pain_nrs"


def test_pain_responding_by_thirty_percent_holds(catalog: Catalog) -> None:
    pain = history(session(0.5, 5, scale="pain_nrs"), baseline=8, condition="fibromyalgia")
    assert recommend_next_dose(catalog.protocol("fibromyalgia"), pain).action == "hold"


def test_no_session_yet_proposes_the_protocol_start(catalog: Catalog) -> None:
    result = recommend_next_dose(catalog.protocol("depression"), history())
    assert (result.recommended_mg_per_kg, result.action) == (0.5, "hold")


def test_three_sessions_without_response_ask_the_prescriber_to_reassess(catalog: Catalog) -> None:
    record = history_from_dict(json.loads((EXAMPLES / "history_after_session3.json").read_text()))
    result = recommend_next_dose(catalog.protocol("depression"), record)
    assert any("Sanacora 2017" in r for r in result.reasons)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"weight": "80"}, "no unit"),
        ({"condition": ""}, "condition: missing"),
        ({"sessions": [{"date": "2026-12-07", "mg_per_kg": 0}]}, r"sessions\[0\].mg_per_kg"),
        ({"sessions": [{"date": "07/12/2026", "mg_per_kg": 0.5}]}, "expected a date"),
        ({"sessions": [{"date": "2026-12-07", "mg_per_kg": 0.5, "tolerability": 7}]}, "0-4"),
        ({"sessions": [{"date": "2026-12-07", "mg_per_kg": 0.5, "scores": {"phq9": 40}}]}, "0-27"),
        (
            {"sessions": [{"date": "2026-12-07", "mg_per_kg": 0.5, "scores": {"phq9": [1, 2]}}]},
            "9 items",
        ),
    ],
)
def test_a_malformed_history_is_refused_naming_the_field(
    patch: dict[str, object], message: str
) -> None:
    data = {"condition": "depression", "weight": "80 kg", "sessions": []}
    data.update(patch)
    with pytest.raises(InputError, match=message):
        history_from_dict(data)


# ------------------------------------------------------------------ property ----------

CONDITIONS = [
    "depression",
    "anxiety",
    "ptsd",
    "fibromyalgia",
    "migraine",
    "crps",
    "neuropathic_pain",
    "chronic_pain",
]


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, History]:
    condition = draw(st.sampled_from(CONDITIONS))
    scale = (
        "pain_nrs"
        if condition in {"fibromyalgia", "migraine", "crps", "neuropathic_pain", "chronic_pain"}
        else "phq9"
    )
    top = 10 if scale == "pain_nrs" else 27
    sessions = []
    for number in range(1, draw(st.integers(0, 8)) + 1):
        sessions.append(
            SessionRecord(
                number=number,
                on=date(2026, 12, 7) + timedelta(days=2 * number),
                mg_per_kg=draw(st.floats(0.05, 3.0)),
                tolerability=draw(st.none() | st.integers(0, 4)),
                side_effects=tuple(
                    SideEffectRecord("nausea", s)
                    for s in draw(
                        st.lists(st.sampled_from(["mild", "moderate", "severe"]), max_size=2)
                    )
                ),
                alerts=tuple(
                    draw(
                        st.lists(
                            st.sampled_from(
                                ["vitals.in_sbp_hold", "vitals.pre_bp_caution_systolic"]
                            ),
                            max_size=2,
                        )
                    )
                ),
                pauses=draw(st.integers(0, 3)),
                scores={scale: draw(st.integers(0, top))} if draw(st.booleans()) else {},
            )
        )
    baseline = draw(st.none() | st.integers(0, top))
    return condition, History(
        condition, 80, {scale: baseline} if baseline is not None else {}, tuple(sessions)
    )


@settings(max_examples=150, deadline=None)
@given(histories())
def test_titration_never_leaves_the_protocol_range(
    catalog: Catalog, case: tuple[str, History]
) -> None:
    condition, record = case
    protocol = catalog.protocol(condition)
    result = recommend_next_dose(protocol, record)
    low, high = protocol.range_mg_per_kg
    held_below = (
        record.sessions
        and result.recommended_mg_per_kg == record.sessions[-1].mg_per_kg < low
        and any("not raised, even to the range's lower bound" in r for r in result.reasons)
    )
    assert held_below or low <= result.recommended_mg_per_kg <= high
    assert result.reasons
    if record.sessions:
        last = record.sessions[-1].mg_per_kg
        expected = (
            "increase"
            if result.recommended_mg_per_kg > last + 1e-9
            else "decrease"
            if result.recommended_mg_per_kg < last - 1e-9
            else "hold"
        )
        assert result.action == expected


@settings(max_examples=200, deadline=None)
@given(
    condition=st.sampled_from(["depression", "ptsd", "fibromyalgia", "crps", "neuropathic_pain"]),
    weight_kg=st.floats(min_value=30, max_value=300),
    last_mg_per_kg=st.floats(min_value=0.1, max_value=2.0),
    tolerability=st.integers(min_value=0, max_value=4),
)
def test_a_proposal_never_passes_a_hard_limit_and_is_flagged_past_a_soft_one(
    condition: str, weight_kg: float, last_mg_per_kg: float, tolerability: int
) -> None:
    from ketaplan.clinical.catalog import load_catalog
    from ketaplan.clinical.dosing import total_mg
    from ketaplan.clinical.profile import DosingWeight
    from ketaplan.clinical.titration import within_limits

    protocol = load_catalog().protocol(condition)
    weight = DosingWeight(round(weight_kg, 1), "actual", "as weighed", "clinic_policy")
    scale = "pain_nrs" if protocol.category == "pain" else "phq9"
    raw = recommend_next_dose(
        protocol,
        replace(
            history(
                session(
                    round(last_mg_per_kg, 2),
                    7 if scale == "pain_nrs" else 19,
                    scale=scale,
                    tolerability=tolerability,
                ),
                condition=condition,
            ),
            baseline_scores={scale: 8 if scale == "pain_nrs" else 20},
        ),
    )
    result = within_limits(raw, protocol, weight)
    limits = protocol.limits
    mg = total_mg(result.recommended_mg_per_kg, weight.weight_kg)
    assert mg <= limits.hard_max_total_mg + 1e-9
    assert result.recommended_mg_per_kg * 60 / protocol.infusion_min <= (
        limits.hard_max_mg_per_kg_per_h + 1e-9
    )
    assert all(c.status != "hard" for c in result.limit_checks)
    assert result.needs_override == any(c.status != "within" for c in result.limit_checks)
    if result.capped:
        assert result.recommended_mg_per_kg < raw.recommended_mg_per_kg
        assert any("capped at" in r for r in result.reasons)
    else:
        assert result.recommended_mg_per_kg == raw.recommended_mg_per_kg


# ------------------------------------------- PHQ-9 item 9, missing pain scores, remission ----
# Kroenke, Spitzer & Williams, J Gen Intern Med 2001;16:606-613: PHQ-9 item 9 (thoughts of
# being better off dead or of self-harm) above 0 needs a clinician's review the same day;
# titration never proposes an increase then (issue 13, item 5).


def _with_item9(record: History, *answers: int | None) -> History:
    days = [date(2026, 12, 1) + timedelta(days=2 * i) for i in range(len(answers))]
    return replace(record, phq9_item9=tuple(zip(days, answers, strict=True)))


def test_phq9_item9_above_zero_turns_a_step_up_into_a_hold_and_says_why(catalog: Catalog) -> None:
    record = _with_item9(history(session(0.5, 19, tolerability=1)), 0, 1)
    result = recommend_next_dose(catalog.protocol("depression"), record)
    assert (result.action, result.recommended_mg_per_kg) == ("hold", 0.5)
    reason = next(r for r in result.reasons if "item 9" in r)
    assert "is 1" in reason
    assert "risen from 0" in reason
    assert "no increase" in reason
    assert "Kroenke 2001" in reason


def test_phq9_item9_back_to_zero_allows_the_step_up_again(catalog: Catalog) -> None:
    record = _with_item9(history(session(0.5, 19, tolerability=1)), 2, 0)
    assert recommend_next_dose(catalog.protocol("depression"), record).action == "increase"


def test_a_total_only_phq9_after_a_positive_item9_also_blocks_the_increase(
    catalog: Catalog,
) -> None:
    record = _with_item9(history(session(0.5, 19, tolerability=1)), 1, None)
    result = recommend_next_dose(catalog.protocol("depression"), record)
    assert result.action == "hold"
    assert any("without its item answers" in r for r in result.reasons)


def test_poor_tolerance_still_lowers_the_dose_when_item9_is_positive(catalog: Catalog) -> None:
    record = _with_item9(history(session(0.5, 19, tolerability=4)), 2)
    result = recommend_next_dose(catalog.protocol("depression"), record)
    assert result.action == "decrease"
    assert any("proposes no increase" in r for r in result.reasons)


def test_item9_keeps_a_dose_below_the_range_rather_than_raising_it(catalog: Catalog) -> None:
    record = _with_item9(history(session(0.2, 9, tolerability=0)), 1)
    result = recommend_next_dose(catalog.protocol("depression"), record)
    assert (result.action, result.recommended_mg_per_kg) == ("hold", 0.2)


def test_item9_is_read_from_the_answers_of_a_history_document(catalog: Catalog) -> None:
    answers = [3, 3, 3, 2, 2, 2, 2, 1, 1]  # total 19, item 9 = 1
    record = history_from_dict(
        {
            "condition": "depression",
            "weight": "80 kg",
            "baseline": {"date": "2026-12-01", "scores": {"phq9": 20}, "phq9_item9": 0},
            "sessions": [
                {
                    "date": "2026-12-07",
                    "mg_per_kg": 0.5,
                    "tolerability": 1,
                    "scores": {"phq9": answers},
                }
            ],
        }
    )
    assert record.phq9_item9 == ((date(2026, 12, 1), 0), (date(2026, 12, 7), 1))
    result = recommend_next_dose(catalog.protocol("depression"), record)
    assert result.action == "hold"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"scores": {"phq9": 12}, "phq9_item9": 4}, r"phq9_item9: expected a whole number 0-3"),
        ({"scores": {"gad7": 12}, "phq9_item9": 1}, "given without a PHQ-9"),
        (
            {"scores": {"phq9": [1, 1, 1, 1, 1, 1, 1, 1, 0]}, "phq9_item9": 2},
            "is 2, but the PHQ-9 answers give item 9 = 0",
        ),
    ],
)
def test_an_inconsistent_item9_is_refused(entry: dict[str, object], message: str) -> None:
    data = {
        "condition": "depression",
        "weight": "80 kg",
        "sessions": [{"date": "2026-12-07", "mg_per_kg": 0.5, **entry}],
    }
    with pytest.raises(InputError, match=message):
        history_from_dict(data)


@pytest.mark.parametrize(
    ("baseline", "score", "missing"),
    [
        (None, None, "a baseline pain_nrs and a pain_nrs since is missing"),
        (8, None, "a pain_nrs since the baseline is missing"),
        (None, 7, "a baseline pain_nrs is missing"),
    ],
)
def test_a_pain_protocol_without_a_pain_score_holds_and_says_what_is_missing(
    catalog: Catalog, baseline: int | None, score: int | None, missing: str
) -> None:
    pain = history(
        session(0.5, score, scale="pain_nrs", tolerability=0),
        baseline=baseline,
        condition="fibromyalgia",
    )
    result = recommend_next_dose(catalog.protocol("fibromyalgia"), pain)
    assert (result.action, result.recommended_mg_per_kg) == ("hold", 0.5)
    assert any(missing in r for r in result.reasons)
    assert any("never" in r or "before any step up" in r for r in result.reasons)


def test_titration_reports_remission_as_well_as_response(catalog: Catalog) -> None:
    result = recommend_next_dose(
        catalog.protocol("depression"), history(session(0.5, 4, tolerability=1))
    )
    data = result.to_dict()
    assert (data["response"], data["remission"]) == (True, True)
    result = recommend_next_dose(
        catalog.protocol("depression"), history(session(0.5, 9, tolerability=1))
    )
    assert (result.to_dict()["response"], result.to_dict()["remission"]) == (True, False)
    assert any("not in remission (remission is 4 or less" in r for r in result.reasons)


@settings(max_examples=200, deadline=None)
@given(
    histories(),
    st.lists(st.none() | st.integers(0, 3), min_size=1, max_size=4),
)
def test_no_increase_while_item9_is_positive_or_unknown_after_a_positive(
    catalog: Catalog, case: tuple[str, History], answers: list[int | None]
) -> None:
    condition, record = case
    record = _with_item9(record, *answers)
    result = recommend_next_dose(catalog.protocol(condition), record)
    known = [a for a in answers if a is not None]
    positive_now = answers[-1] is not None and answers[-1] > 0
    unknown_after_positive = answers[-1] is None and any(a > 0 for a in known)
    if record.sessions and (positive_now or unknown_after_positive):
        assert result.action != "increase"
        assert any("item 9" in r for r in result.reasons)


@settings(max_examples=150, deadline=None)
@given(histories())
def test_a_pain_protocol_never_steps_up_without_pain_scores(
    catalog: Catalog, case: tuple[str, History]
) -> None:
    condition, record = case
    protocol = catalog.protocol(condition)
    if protocol.category != "pain":
        return
    blind = replace(
        record,
        baseline_scores={},
        sessions=tuple(replace(s, scores={}) for s in record.sessions),
    )
    assert recommend_next_dose(protocol, blind).action != "increase"


def test_a_step_up_after_a_total_only_phq9_asks_to_check_item9(catalog: Catalog) -> None:
    record = _with_item9(history(session(0.5, 19, tolerability=1)), 0, None)
    result = recommend_next_dose(catalog.protocol("depression"), record)
    assert result.action == "increase"  # no positive answer on record
    assert any("check that item 9" in r for r in result.reasons)
