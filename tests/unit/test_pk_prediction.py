"""The pages' predictions: the band, the time below the reference level, and the what-ifs.

Property-based where the numbers are acted on: the band holds its median; a pause now never
raises the predicted level at any time nor delays the time below the level; a lower rate never
raises the level while the infusion as running would still be running; the what-if's rate is
refused, never clamped, when it is not a rate the pump could be lowered to.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketaplan.clinical.pk import InfusionSegment, constant_infusion, load_pk_levels, load_pk_models
from ketaplan.clinical.pk.prediction import (
    FOLLOW_MIN,
    STEP_MIN,
    Prediction,
    RunningInfusion,
    as_running,
    check_lower_rate,
    lowered,
    paused_now,
    predict,
)
from ketaplan.errors import InputError, SafetyLimitError
from ketaplan.units import parse_pump_rate_ml_per_h

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODELS = sorted(load_pk_models())
LEVEL = 100.0
FEW = 40  # virtual patients in a property test: the properties hold for any cohort


@st.composite
def running_infusions(draw: st.DrawFn) -> RunningInfusion:
    """A chart so far (stretches at several rates, maybe a pause between them), the running
    rate of a bag of 0.2-1 mg/mL, and what the order still has to give."""
    concentration = draw(st.floats(0.2, 1.0))
    charted: list[InfusionSegment] = []
    t = 0.0
    for _ in range(draw(st.integers(0, 3))):
        length = draw(st.floats(1.0, 20.0))
        rate_ml_per_h = draw(st.floats(20.0, 250.0))
        charted.append(InfusionSegment(t, t + length, rate_ml_per_h * concentration / 60.0))
        t += length + draw(st.sampled_from([0.0, 0.0, 3.0]))  # sometimes a pause
    now = t + draw(st.floats(0.0, 2.0))
    return RunningInfusion(
        charted=tuple(charted),
        now_min=now,
        rate_ml_per_h=draw(st.floats(20.0, 250.0)),
        concentration_mg_per_ml=concentration,
        remaining_mg=draw(st.floats(0.5, 60.0)),
    )


def _predict(
    model: str, weight_kg: float, segments: tuple[InfusionSegment, ...], until: float
) -> Prediction:
    return predict(
        load_pk_models()[model],
        weight_kg,
        segments,
        level_ng_per_ml=LEVEL,
        until_min=until,
        n_patients=FEW,
    )


@PROPERTY
@given(
    st.sampled_from(MODELS),
    st.floats(45.0, 130.0),
    st.floats(5.0, 120.0),
    st.floats(10.0, 120.0),
)
def test_the_band_holds_its_median_at_every_time(
    model: str, weight_kg: float, dose_mg: float, duration_min: float
) -> None:
    found = predict(
        load_pk_models()[model],
        weight_kg,
        constant_infusion(dose_mg, duration_min),
        level_ng_per_ml=LEVEL,
        n_patients=FEW,
    )
    assert (found.low_ng_per_ml <= found.median_ng_per_ml + 1e-9).all()
    assert (found.median_ng_per_ml <= found.high_ng_per_ml + 1e-9).all()
    low, mid, high = found.below_band_min
    finite = [v if v is not None else math.inf for v in (low, mid, high)]
    assert finite == sorted(finite)


@PROPERTY
@given(st.sampled_from(MODELS), st.floats(45.0, 130.0), running_infusions())
def test_pausing_now_never_raises_the_level_nor_delays_the_time_below_it(
    model: str, weight_kg: float, running: RunningInfusion
) -> None:
    going = as_running(running)
    paused = paused_now(running)
    if not paused:  # nothing given yet: a pause now gives no drug at all
        return
    until = max(s.end_min for s in going) + FOLLOW_MIN
    on, off = _predict(model, weight_kg, going, until), _predict(model, weight_kg, paused, until)
    slack = 1e-9 * float(on.typical_ng_per_ml.max()) + 1e-12
    assert (off.typical_ng_per_ml <= on.typical_ng_per_ml + slack).all()
    assert (off.high_ng_per_ml <= on.high_ng_per_ml + slack).all()
    assert (off.low_ng_per_ml <= on.low_ng_per_ml + slack).all()
    if on.below_at_min is not None:
        assert off.below_at_min is not None
        assert off.below_at_min <= on.below_at_min + 1e-9


@PROPERTY
@given(
    st.sampled_from(MODELS),
    st.floats(45.0, 130.0),
    running_infusions(),
    st.floats(0.05, 0.95),
)
def test_a_lower_rate_never_raises_the_level_while_the_infusion_as_running_would_run(
    model: str, weight_kg: float, running: RunningInfusion, fraction: float
) -> None:
    going = as_running(running)
    slower = lowered(running, running.rate_ml_per_h * fraction)
    end = max(s.end_min for s in going)
    until = max(s.end_min for s in slower) + FOLLOW_MIN
    on, low = _predict(model, weight_kg, going, until), _predict(model, weight_kg, slower, until)
    while_running = on.t_min <= end + 1e-9
    slack = 1e-9 * float(on.typical_ng_per_ml.max()) + 1e-12
    assert (
        low.typical_ng_per_ml[while_running] <= on.typical_ng_per_ml[while_running] + slack
    ).all()
    assert (low.high_ng_per_ml[while_running] <= on.high_ng_per_ml[while_running] + slack).all()
    # the same ordered dose goes in either way, only later
    assert low.total_mg == pytest.approx(on.total_mg, rel=1e-9)


@PROPERTY
@given(st.sampled_from(MODELS), st.floats(45.0, 130.0), st.floats(5.0, 120.0))
def test_the_time_below_the_level_is_the_first_time_after_the_stop_below_it(
    model: str, weight_kg: float, dose_mg: float
) -> None:
    found = predict(
        load_pk_models()[model],
        weight_kg,
        constant_infusion(dose_mg, 40.0),
        level_ng_per_ml=LEVEL,
        n_patients=FEW,
    )
    after = found.t_min >= found.stop_min
    below = found.typical_ng_per_ml < LEVEL
    if found.below_at_min is None:
        assert not (after & below).any()
        return
    at = round(found.below_at_min / STEP_MIN)
    assert found.typical_ng_per_ml[at] < LEVEL
    assert not (after[:at] & below[:at]).any()


def _infusing(rate_ml_per_h: float = 150.0) -> RunningInfusion:
    return RunningInfusion(
        (InfusionSegment(0.0, 10.0, rate_ml_per_h * 0.35 / 60.0),), 10.0, rate_ml_per_h, 0.35, 26.0
    )


@given(st.floats(0.1, 149.9))
def test_a_rate_below_the_running_one_and_within_the_limit_is_taken_as_typed(rate: float) -> None:
    kept = check_lower_rate(rate, _infusing(), weight_kg=70.0, hard_max_mg_per_kg_per_h=2.0)
    assert kept == rate  # never rounded or clamped


@given(st.floats(150.0, 1e6))
def test_a_rate_not_below_the_running_one_is_refused_never_clamped(rate: float) -> None:
    with pytest.raises((InputError, SafetyLimitError)) as refused:
        check_lower_rate(rate, _infusing(), weight_kg=70.0, hard_max_mg_per_kg_per_h=100.0)
    assert refused.value.fields["field"] == "lower_rate_ml_per_h"
    assert "150 mL/h" in refused.value.message


def test_a_rate_past_the_hard_limit_is_refused_with_the_limit_in_mg_per_kg_per_h() -> None:
    with pytest.raises(SafetyLimitError, match="hard limit of 2 mg/kg/h") as refused:
        check_lower_rate(9999.0, _infusing(), weight_kg=70.0, hard_max_mg_per_kg_per_h=2.0)
    assert "mg/kg/h at 70 kg" in refused.value.message


@pytest.mark.parametrize("rate", [0.0, -3.0, math.nan, math.inf])
def test_zero_negative_and_non_finite_rates_are_refused(rate: float) -> None:
    with pytest.raises(InputError, match="above 0 and below the running 150 mL/h"):
        check_lower_rate(rate, _infusing(), weight_kg=70.0, hard_max_mg_per_kg_per_h=2.0)


def test_there_is_no_rate_to_lower_when_the_infusion_is_not_running() -> None:
    stopped = RunningInfusion(_infusing().charted, 10.0, 0.0, 0.35, 0.0)
    with pytest.raises(InputError, match="not running"):
        check_lower_rate(50.0, stopped, weight_kg=70.0, hard_max_mg_per_kg_per_h=2.0)


@pytest.mark.parametrize(
    ("typed", "rate"),
    [("60", 60.0), (" 60.5 ", 60.5), ("60 mL/h", 60.0), ("60ml/hr", 60.0), ("1 mL/min", 60.0)],
)
def test_a_pump_rate_is_read_in_ml_per_h(typed: str, rate: float) -> None:
    assert parse_pump_rate_ml_per_h(typed) == rate


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("60 mg/h", "unknown unit"),
        ("-60", "negative"),
        ("", "empty"),
        ("sixty", "not a quantity"),
        ("6,5", "comma"),
        ("nan", "not a number"),
    ],
)
def test_a_pump_rate_in_another_unit_or_not_a_number_is_refused(typed: str, words: str) -> None:
    with pytest.raises(InputError, match=words) as refused:
        parse_pump_rate_ml_per_h(typed, field="the rate")
    assert refused.value.fields["field"] == "the rate"


def test_the_reference_level_is_in_the_catalog_with_its_source_marked_clinic_policy() -> None:
    levels = load_pk_levels()
    assert levels.reference_ng_per_ml == 100.0
    assert "clinic policy" in levels.reference_source
    assert "100-250 ng/mL" in levels.reference_source  # the dissociative range it is taken from


def test_every_option_of_a_page_is_predicted_on_the_same_virtual_patients() -> None:
    model = load_pk_models()["domino"]
    a = predict(model, 70.0, constant_infusion(35, 40), level_ng_per_ml=LEVEL, n_patients=FEW)
    b = predict(model, 70.0, constant_infusion(35, 40), level_ng_per_ml=LEVEL, n_patients=FEW)
    np.testing.assert_array_equal(a.high_ng_per_ml, b.high_ng_per_ml)
    assert a.below_band_min == b.below_band_min


def test_nothing_to_predict_when_no_drug_is_given() -> None:
    with pytest.raises(InputError, match="no drug"):
        predict(load_pk_models()["domino"], 70.0, (), level_ng_per_ml=LEVEL)
