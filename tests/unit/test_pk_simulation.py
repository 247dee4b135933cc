"""The simulator: exact against a tight ODE solution, linear, non-negative, mass-conserving."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from ketaplan.clinical.pk import (
    InfusionSegment,
    PkParameters,
    constant_infusion,
    load_pk_models,
    minutes_until_below,
    modes,
    peaks,
    simulate,
    simulate_cohort,
    time_grid_min,
)
from ketaplan.clinical.pk.infusion import rate_pieces
from ketaplan.errors import InputError

MODELS = ["domino", "clements_250", "hijazi", "kamp"]


def _ode(
    parameters: PkParameters, segments: list[InfusionSegment], t_min: np.ndarray, row: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Plasma and effect site (ng/mL) from scipy's solve_ivp on amounts, piece by piece."""
    v = parameters.volumes_l()[row]
    cl = parameters.clearances_l_per_min()[row]
    c = parameters.compartments
    ke0 = float(parameters.ke0_per_min[row])
    pieces = rate_pieces(segments, float(t_min[-1]))

    def rhs(_t: float, y: np.ndarray, u: float) -> np.ndarray:
        conc = y[:c] / v
        d = np.zeros(c + 1)
        d[0] = u - cl[0] * conc[0]
        for j in range(1, c):
            flow = cl[j] * (conc[0] - conc[j])
            d[0] -= flow
            d[j] += flow
        d[c] = ke0 * (conc[0] - y[c]) if ke0 == ke0 else 0.0
        return d

    y = np.zeros(c + 1)
    plasma = np.empty(t_min.size)
    effect = np.empty(t_min.size)
    for start, end, u in zip(pieces.start_min, pieces.end_min, pieces.rate_mg_per_min, strict=True):
        inside = (t_min >= start) & ((t_min < end) | (end == t_min[-1]))
        wanted = t_min[inside]
        points = wanted if wanted.size and wanted[-1] == end else np.append(wanted, end)
        sol = solve_ivp(
            rhs, (start, end), y, t_eval=points, args=(u,), method="DOP853", rtol=1e-12, atol=1e-15
        )
        assert sol.success
        plasma[inside] = 1000 * sol.y[0, : wanted.size] / v[0]
        effect[inside] = 1000 * sol.y[c, : wanted.size]
        y = sol.y[:, -1]
    return plasma, effect


@pytest.mark.parametrize("key", MODELS)
def test_the_exact_solution_matches_a_tight_ode_solution_within_1e_6(key: str) -> None:
    model = load_pk_models()[key]
    params = model.parameters(70.0)
    grid = time_grid_min(240, 60)
    segments = [
        InfusionSegment(0.0, 40.0, 0.875),
        InfusionSegment(55.5, 70.25, 0.4),  # off-grid breakpoints, a second bag
    ]
    exact = simulate(params, segments, grid, effect_site=True)
    plasma, effect = _ode(params, segments, grid)
    positive = grid > 0
    assert exact.plasma_ng_per_ml[0, positive] == pytest.approx(plasma[positive], rel=1e-6)
    assert exact.effect_ng_per_ml is not None
    assert exact.effect_ng_per_ml[0, positive] == pytest.approx(effect[positive], rel=1e-6)


def test_the_cohort_stepper_gives_the_same_numbers_as_the_closed_form() -> None:
    model = load_pk_models()["domino"]
    params = model.parameters(np.array([55.0, 70.0, 110.0]))
    grid = time_grid_min(120, 30)
    segments = [InfusionSegment(0.0, 40.0, 0.9), InfusionSegment(41.2, 50.0, 0.3)]
    closed = simulate(params, segments, grid)
    cohort = simulate_cohort(params, segments, grid, percentiles=(0.0, 100.0), block_rows=7)
    assert cohort.peak_plasma_ng_per_ml == pytest.approx(
        closed.plasma_ng_per_ml.max(axis=1), rel=1e-12
    )
    assert cohort.plasma_bands_ng_per_ml[0] == pytest.approx(
        closed.plasma_ng_per_ml.min(axis=0), rel=1e-10, abs=1e-12
    )
    assert cohort.plasma_bands_ng_per_ml[1] == pytest.approx(
        closed.plasma_ng_per_ml.max(axis=0), rel=1e-10
    )
    expected_below = minutes_until_below(grid, closed.plasma_ng_per_ml, 100.0, 50.0)
    np.testing.assert_allclose(cohort.minutes_below_after_stop, expected_below)


@pytest.mark.parametrize("key", MODELS)
@pytest.mark.parametrize("jitter", [False, True])
def test_one_patient_alone_matches_the_same_patient_in_a_batch(key: str, jitter: bool) -> None:
    # one patient takes a scalar fast path; a batch the vectorised one: same numbers
    model = load_pk_models()[key]
    grid = time_grid_min(180, 30)
    if jitter:
        grid[1::3] += 1e-3
    segments = [InfusionSegment(0.0, 40.0, 0.875), InfusionSegment(61.1, 75.0, 0.3)]
    alone = simulate(model.parameters(70.0), segments, grid, effect_site=True)
    batch = simulate(model.parameters([70.0, 90.0]), segments, grid, effect_site=True)
    np.testing.assert_allclose(alone.plasma_ng_per_ml[0], batch.plasma_ng_per_ml[0], rtol=1e-11)
    assert alone.effect_ng_per_ml is not None
    assert batch.effect_ng_per_ml is not None
    np.testing.assert_allclose(
        alone.effect_ng_per_ml[0, 1:], batch.effect_ng_per_ml[0, 1:], rtol=1e-11
    )


def test_a_repeated_one_patient_simulation_reuses_nothing_a_caller_can_change() -> None:
    # the one-patient path keeps modes and exponentials between calls: a caller who writes
    # into a result must not change the next one, and each call matches the batch path
    params = load_pk_models()["domino"].parameters(70.0)
    grid = time_grid_min(240, 10)
    plan = constant_infusion(35, 40)
    first = simulate(params, plan, grid, effect_site=True)
    assert first.effect_ng_per_ml is not None
    first.plasma_ng_per_ml[:] = -1.0
    first.effect_ng_per_ml[:] = -1.0
    again = simulate(params, plan, grid, effect_site=True)
    batch = simulate(
        load_pk_models()["domino"].parameters([70.0, 80.0]), plan, grid, effect_site=True
    )
    np.testing.assert_allclose(again.plasma_ng_per_ml[0], batch.plasma_ng_per_ml[0], rtol=1e-11)
    assert again.effect_ng_per_ml is not None
    assert batch.effect_ng_per_ml is not None
    np.testing.assert_allclose(
        again.effect_ng_per_ml[0, 1:], batch.effect_ng_per_ml[0, 1:], rtol=1e-11
    )


def test_a_uniform_and_a_jittered_grid_agree_at_shared_times() -> None:
    params = load_pk_models()["kamp"].parameters(80.0)
    grid = time_grid_min(100, 20)
    jittered = grid.copy()
    jittered[1::2] += 1e-3  # not evenly spaced: the direct exponentials are used
    segments = constant_infusion(40, 40)
    a = simulate(params, segments, grid, effect_site=True)
    b = simulate(params, segments, jittered, effect_site=True)
    assert a.plasma_ng_per_ml[0, ::2] == pytest.approx(b.plasma_ng_per_ml[0, ::2], rel=1e-12)
    assert a.effect_ng_per_ml is not None
    assert b.effect_ng_per_ml is not None
    assert a.effect_ng_per_ml[0, 2::2] == pytest.approx(b.effect_ng_per_ml[0, 2::2], rel=1e-12)


def test_an_effect_site_rate_equal_to_a_mode_rate_is_still_exact() -> None:
    params = load_pk_models()["clements_250"].parameters(70.0)
    rate = modes(params).rate_per_min[0]
    coincident = PkParameters(
        **{
            name: getattr(params, name)
            for name in PkParameters.__slots__  # type: ignore[attr-defined]
            if name != "ke0_per_min"
        },
        ke0_per_min=np.array([-rate[0] * (1 + 1e-9)]),
    )
    grid = time_grid_min(120, 60)
    exact = simulate(coincident, constant_infusion(35, 40), grid, effect_site=True)
    _, effect = _ode(coincident, list(constant_infusion(35, 40)), grid)
    assert exact.effect_ng_per_ml is not None
    assert exact.effect_ng_per_ml[0, 1:] == pytest.approx(effect[1:], rel=1e-6)


def test_a_model_without_ke0_refuses_an_effect_site() -> None:
    params = load_pk_models()["domino"].parameters(70.0)
    params = PkParameters(
        params.compartments,
        params.v1_l,
        params.v2_l,
        params.v3_l,
        params.cl_l_per_min,
        params.q2_l_per_min,
        params.q3_l_per_min,
        np.array([np.nan]),
    )
    with pytest.raises(InputError, match="no effect site"):
        simulate(params, constant_infusion(35, 40), time_grid_min(60, 60), effect_site=True)


def test_concentrations_are_zero_before_the_infusion_starts() -> None:
    params = load_pk_models()["domino"].parameters(70.0)
    grid = time_grid_min(60, 60)
    result = simulate(params, constant_infusion(35, 40, start_min=10), grid)
    assert (result.plasma_ng_per_ml[0, grid < 10] == 0).all()
    # at the start itself: zero up to rounding of the plateau (about 1e-16 of it)
    assert result.plasma_ng_per_ml[0, 10] == pytest.approx(0, abs=1e-9)
    assert result.plasma_ng_per_ml[0, 11] > 0


def test_peak_of_a_constant_infusion_is_at_its_end() -> None:
    params = load_pk_models()["domino"].parameters(70.0)
    grid = time_grid_min(240, 10)
    result = simulate(params, constant_infusion(35, 40), grid)
    summary = peaks(grid, result.plasma_ng_per_ml)
    assert summary.time_of_peak_min[0] == 40.0


def test_a_level_never_reached_gives_no_time_below() -> None:
    params = load_pk_models()["hijazi"].parameters(70.0)
    grid = time_grid_min(60, 60)
    result = simulate(params, constant_infusion(35, 40), grid)
    assert np.isnan(minutes_until_below(grid, result.plasma_ng_per_ml, 1e-3, 40.0)[0])


@pytest.mark.parametrize(
    ("start", "end", "rate", "message"),
    [
        (-1.0, 10.0, 1.0, "0 or later"),
        (10.0, 10.0, 1.0, "not after its start"),
        (0.0, 10.0, -1.0, "negative"),
        (0.0, float("inf"), 1.0, "finite"),
    ],
)
def test_a_bad_segment_is_an_input_error(
    start: float, end: float, rate: float, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        InfusionSegment(start, end, rate)


@pytest.mark.parametrize(
    ("until", "step", "message"),
    [
        (0, 10, "positive"),
        (240, 0, "positive"),
        (240, 300 * 60, "longer than"),
        (1e6, 0.01, "more than"),
    ],
)
def test_a_bad_time_grid_is_an_input_error(until: float, step: float, message: str) -> None:
    with pytest.raises(InputError, match=message):
        time_grid_min(until, step)


def test_a_grid_that_goes_back_in_time_is_refused() -> None:
    params = load_pk_models()["domino"].parameters(70.0)
    with pytest.raises(InputError, match="strictly increasing"):
        simulate(params, constant_infusion(35, 40), np.array([0.0, 2.0, 1.0]))


# ------------------------------------------------------------------ properties (Hypothesis) --

segment_lists = st.lists(
    st.builds(
        lambda start, length, rate: InfusionSegment(start, start + length, rate),
        st.floats(0, 100, allow_nan=False),
        st.floats(0.05, 60, allow_nan=False),
        st.floats(0, 5, allow_nan=False),
    ),
    min_size=1,
    max_size=4,
)
PROPERTY_GRID = time_grid_min(180, 60)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    segments=segment_lists,
    key=st.sampled_from(MODELS),
    weight=st.floats(40, 150),
    factor=st.floats(0.1, 10),
)
def test_scaling_every_rate_scales_every_concentration(
    segments: list[InfusionSegment], key: str, weight: float, factor: float
) -> None:
    params = load_pk_models()[key].parameters(weight)
    base = simulate(params, segments, PROPERTY_GRID, effect_site=True)
    scaled_segments = [
        InfusionSegment(s.start_min, s.end_min, s.rate_mg_per_min * factor) for s in segments
    ]
    scaled = simulate(params, scaled_segments, PROPERTY_GRID, effect_site=True)
    np.testing.assert_allclose(
        scaled.plasma_ng_per_ml, factor * base.plasma_ng_per_ml, rtol=1e-9, atol=1e-9
    )
    assert scaled.effect_ng_per_ml is not None
    assert base.effect_ng_per_ml is not None
    np.testing.assert_allclose(
        scaled.effect_ng_per_ml, factor * base.effect_ng_per_ml, rtol=1e-9, atol=1e-9
    )


@PROPERTY
@given(a=segment_lists, b=segment_lists, key=st.sampled_from(MODELS))
def test_two_infusions_together_give_the_sum_of_each_alone(
    a: list[InfusionSegment], b: list[InfusionSegment], key: str
) -> None:
    params = load_pk_models()[key].parameters(70.0)
    both = simulate(params, a + b, PROPERTY_GRID).plasma_ng_per_ml
    each = simulate(params, a, PROPERTY_GRID).plasma_ng_per_ml
    each = each + simulate(params, b, PROPERTY_GRID).plasma_ng_per_ml
    np.testing.assert_allclose(both, each, rtol=1e-9, atol=1e-9)


@PROPERTY
@given(segments=segment_lists, key=st.sampled_from(MODELS), weight=st.floats(40, 150))
def test_concentrations_are_never_negative(
    segments: list[InfusionSegment], key: str, weight: float
) -> None:
    params = load_pk_models()[key].parameters(weight)
    result = simulate(params, segments, PROPERTY_GRID, effect_site=True)
    assert (result.plasma_ng_per_ml >= -1e-12).all()
    assert result.effect_ng_per_ml is not None
    assert (result.effect_ng_per_ml >= -1e-12).all()


@PROPERTY
@given(
    dose_mg=st.floats(1, 200),
    duration_min=st.floats(1, 60),
    key=st.sampled_from(MODELS),
    weight=st.floats(40, 150),
)
def test_drug_eliminated_equals_the_dose_over_all_time(
    dose_mg: float, duration_min: float, key: str, weight: float
) -> None:
    # Mass balance: everything infused leaves by clearance, so CL * AUC(0..inf) = dose. The
    # AUC of a sum of exponentials is exact: sum_i g_i * integral of each mode.
    params = load_pk_models()[key].parameters(weight)
    found = modes(params)
    rate = found.rate_per_min[0]
    gain = found.gain_ng_per_ml_per_mg[0] / 1000.0  # mg/L per mg
    # a unit-rate infusion for T min, then washout: AUC per mode is g * T / (-rate)
    auc_mg_min_per_l = float(np.sum(gain * (dose_mg / duration_min) * duration_min / -rate))
    assert params.cl_l_per_min[0] * auc_mg_min_per_l == pytest.approx(dose_mg, rel=1e-9)
    # and the simulated curve holds what is still in the body: plasma never exceeds dose / V1
    grid = time_grid_min(max(duration_min * 2, 10), 30)
    result = simulate(params, constant_infusion(dose_mg, duration_min), grid)
    assert result.plasma_ng_per_ml.max() <= 1000 * dose_mg / params.v1_l[0] * (1 + 1e-12)


@pytest.mark.parametrize("key", MODELS)
def test_what_the_simulated_curve_clears_over_a_long_washout_equals_the_dose(key: str) -> None:
    # Mass balance through the simulator itself: CL * integral of plasma to (near) infinity is
    # everything infused, here integrated numerically until 40 slowest half-lives have passed.
    params = load_pk_models()[key].parameters(70.0)
    slowest_per_min = float(-modes(params).rate_per_min[0].max())
    grid = time_grid_min(40 / slowest_per_min, 3)
    result = simulate(params, constant_infusion(35, 40), grid)
    cleared_mg = params.cl_l_per_min[0] * np.trapezoid(result.plasma_ng_per_ml[0], grid) / 1000
    assert cleared_mg == pytest.approx(35.0, rel=1e-3)


@PROPERTY
@given(
    compartments=st.integers(1, 3),
    volumes=st.lists(st.floats(0.5, 500), min_size=3, max_size=3),
    clearances=st.lists(st.floats(0.001, 10), min_size=3, max_size=3),
    ke0=st.floats(0.01, 10),
)
def test_the_single_patient_closed_form_matches_lapack_for_any_parameters(
    compartments: int, volumes: list[float], clearances: list[float], ke0: float
) -> None:
    # the one-patient path diagonalises in Python (or falls back to eigh when rates nearly
    # meet); a batch always uses LAPACK's eigh: both must give the same concentrations
    def batch(n: int) -> PkParameters:
        v = [np.full(n, x) for x in volumes]
        q = [np.full(n, x) for x in clearances]
        if compartments < 3:
            v[2], q[2] = np.zeros(n), np.zeros(n)
        if compartments < 2:
            v[1], q[1] = np.zeros(n), np.zeros(n)
        return PkParameters(compartments, *v, *q, np.full(n, ke0))

    grid = time_grid_min(120, 60)
    plan = constant_infusion(35, 40)
    one = simulate(batch(1), plan, grid, effect_site=True)
    two = simulate(batch(2), plan, grid, effect_site=True)
    np.testing.assert_allclose(
        one.plasma_ng_per_ml[0], two.plasma_ng_per_ml[0], rtol=1e-9, atol=1e-9
    )
    assert one.effect_ng_per_ml is not None
    assert two.effect_ng_per_ml is not None
    np.testing.assert_allclose(
        one.effect_ng_per_ml[0], two.effect_ng_per_ml[0], rtol=1e-9, atol=1e-9
    )
