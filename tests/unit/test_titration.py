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
    history_from_dict,
    recommend_next_dose,
)
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
    assert low <= result.recommended_mg_per_kg <= high
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
