"""``ketaplan simulate``: predicted plasma (and effect-site) ketamine levels for an infusion.

Every report says whom the model was fitted in and warns when the simulation falls outside it
(the model's caution, a weight or age outside the fitted ranges: ``PkModel.population_warnings``),
and flags a predicted level in the anaesthetic range (``[levels]`` of the PK catalog, Zanos
2018). The text shows the effect site when ``--effect-site`` asks for it.

The infusion comes from explicit doses (``--dose-mg`` over ``--duration-min``), from a protocol
(``--condition`` at the protocol's starting mg/kg for ``--weight``), or from a session's event
log (``--events``). numpy, the models and matplotlib are imported inside the command, so the
rest of the command line starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from ketaplan.clinical.pk import InfusionSegment, PkModel

MAXIMA: dict[str, float] = {
    "--dose-mg": 5_000.0,
    "--duration-min": 10_080.0,
    "--until-min": 10_080.0,
    "--step-s": 3_600.0,
    "--below-ng-per-ml": 100_000.0,
}
"""The most each number may be, checked (with finiteness) before anything is simulated; the
simulator refuses zero and negative values itself. Not clinical limits: 5,000 mg is several
times any ketamine dose given in one infusion, a week (10,080 min) longer than any infusion or
follow-up, 100,000 ng/mL far above any level measured in people. Past them (or not finite) a
value is a typing mistake, and the arithmetic would overflow to a "nan" peak."""
MAX_SEED = 2**32 - 1


def _in_range(value: float | None, option: str) -> float | None:
    import math

    from ketaplan.inputs import finite_number

    if value is None:
        return None
    return finite_number(value, field=option, low=-math.inf, high=MAXIMA[option])


def protocol_segments(condition: str, weight_kg: float) -> tuple[InfusionSegment, ...]:
    """The personalised plan's dose for this patient, spread over the protocol's infusion time.

    The same plan ``ketaplan plan`` makes from the weight alone (limits included: a dose a
    limit refuses is refused here too).
    """
    from ketaplan.clinical.catalog.course_loader import load_policy
    from ketaplan.clinical.medications import MedicationResolver
    from ketaplan.clinical.pk import constant_infusion
    from ketaplan.clinical.planning import PlanRequest, make_plan
    from ketaplan.clinical.profile import build_profile
    from ketaplan.drug_dictionary import DnerDrugDictionary

    policy = load_policy()
    catalog = policy.catalog
    profile = build_profile(catalog, weight=f"{weight_kg!r} kg")
    plan = make_plan(
        PlanRequest(condition, profile), policy, MedicationResolver(catalog, DnerDrugDictionary())
    )
    return constant_infusion(plan.preparation.delivered_mg, plan.dose.duration_min)


def _segments(
    dose_mg: float | None,
    duration_min: float | None,
    condition: str | None,
    events: Path | None,
    weight_kg: float,
) -> tuple[str, tuple[InfusionSegment, ...]]:
    from ketaplan.clinical.pk import constant_infusion, segments_from_events
    from ketaplan.errors import InputError

    given = [name for name, value in (("dose", dose_mg), ("condition", condition)) if value]
    given += ["events"] if events is not None else []
    if len(given) != 1:
        raise InputError(
            "give exactly one infusion: --dose-mg with --duration-min, --condition, or --events"
            + (f" (got {', '.join('--' + g for g in given)})" if given else ""),
            code="input.missing",
        )
    if events is not None:
        try:
            lines = events.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InputError(f"cannot read events file {str(events)!r}: {exc.strerror}") from exc
        return "events", segments_from_events(lines, events.name)
    if condition is not None:
        return "protocol", protocol_segments(condition, weight_kg)
    if duration_min is None:
        raise InputError("--dose-mg needs --duration-min (e.g. --duration-min 40)")
    assert dose_mg is not None
    return "dose", constant_infusion(dose_mg, duration_min)


def _cohort(
    chosen: PkModel,
    condition: str | None,
    segments: tuple[InfusionSegment, ...],
    grid: Any,
    n_patients: int,
    weight_range_kg: tuple[float, float],
    seed: int,
    below_ng_per_ml: float,
    anaesthetic_ng_per_ml: float,
) -> dict[str, Any]:
    """A virtual cohort with a progress bar on stderr (shown on a terminal only)."""
    import numpy as np
    from tqdm import tqdm

    from ketaplan.clinical import pk
    from ketaplan.clinical.catalog import load_catalog

    if condition is not None:  # the protocol doses per kg: each patient gets mg/kg x weight
        protocol = load_catalog().protocol(condition)
        plan = pk.constant_infusion(protocol.start_mg_per_kg, protocol.infusion_min)
        per_kg = True
    else:  # explicit mg or an event log: every patient gets the same mg
        plan, per_kg = segments, False
    with tqdm(total=grid.size, desc="virtual patients", unit="step", disable=None) as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = pk.simulate_virtual_cohort(
            chosen,
            plan,
            grid,
            per_kg=per_kg,
            n_patients=n_patients,
            weight_range_kg=weight_range_kg,
            seed=seed,
            below_ng_per_ml=below_ng_per_ml,
            percentiles=(),
            progress=advance,
        )
    summary = result.summary
    below = summary.minutes_below_after_stop
    found = below[~np.isnan(below)]
    return {
        "n_patients": n_patients,
        "weight_range_kg": list(weight_range_kg),
        "dosing": "mg/kg x weight" if per_kg else "same mg for every weight",
        "seed": seed,
        "peak_plasma_ng_per_ml_p5_p50_p95": _rounded(
            np.percentile(summary.peak_plasma_ng_per_ml, (5, 50, 95)), 4
        ),
        "minutes_below_after_stop_p5_p50_p95": _rounded(np.percentile(found, (5, 50, 95)), 4)
        if found.size
        else None,
        "below_ng_per_ml": below_ng_per_ml,
        "fraction_not_below_within_grid": round(float(np.isnan(below).mean()), 6),
        "fraction_peak_in_anaesthetic_range": round(
            float((summary.peak_plasma_ng_per_ml >= anaesthetic_ng_per_ml).mean()), 6
        ),
        "variability": "ketaplan default (see the model's sources)",
    }


def _rounded(values: Any, digits: int) -> list[float]:
    return [round(float(v), digits) for v in values]


def simulate(
    model: Annotated[str, typer.Option(help="PK model: domino, clements_250, hijazi, kamp.")] = (
        "domino"
    ),
    weight: Annotated[
        str | None, typer.Option(help='Body weight with its unit, e.g. "70 kg".')
    ] = None,
    age: Annotated[
        float | None,
        typer.Option(help="Age in years, checked against the model's fitted range."),
    ] = None,
    dose_mg: Annotated[float | None, typer.Option(help="Total dose in mg (up to 5000).")] = None,
    duration_min: Annotated[
        float | None, typer.Option(help="Infusion time in minutes (up to 10080).")
    ] = None,
    condition: Annotated[
        str | None, typer.Option(help="Use this protocol's starting mg/kg and infusion time.")
    ] = None,
    events: Annotated[
        Path | None, typer.Option(help="A session event log, one JSON object per line.")
    ] = None,
    until_min: Annotated[
        float, typer.Option(help="Simulate until this minute (up to 10080).")
    ] = 240.0,
    step_s: Annotated[
        float, typer.Option(help="Time step of the output, seconds (up to 3600).")
    ] = 10.0,
    below_ng_per_ml: Annotated[
        float | None,
        typer.Option(
            help="Report when plasma falls below this level (default: the catalog's clinic "
            "reference level, 100 ng/mL)."
        ),
    ] = None,
    effect_site: Annotated[
        bool,
        typer.Option("--effect-site", help="Also predict the effect site (peak in the text)."),
    ] = False,
    bands: Annotated[
        int | None,
        typer.Option(help="Add 5th-95th percentile bands from this many virtual patients."),
    ] = None,
    cohort: Annotated[
        int | None,
        typer.Option(help="Also simulate this many virtual patients across a weight range."),
    ] = None,
    cohort_weights: Annotated[
        tuple[str, str],
        typer.Option(help='Weight range of the cohort, e.g. "50 kg" "120 kg".'),
    ] = ("50 kg", "120 kg"),
    seed: Annotated[
        int, typer.Option(min=0, max=MAX_SEED, help="Random seed of the virtual patients.")
    ] = 20261207,
    plot: Annotated[
        Path | None, typer.Option(help="Draw the curves to a .png or .svg file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Predict plasma ketamine levels for an infusion: peak, its time, and when it falls."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.clinical import pk
    from ketaplan.clinical.profile import parse_weight_kg
    from ketaplan.errors import InputError
    from ketaplan.units import parse_mass_kg

    if weight is None:
        raise InputError('--weight is required, with its unit (e.g. --weight "70 kg")')
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise InputError(f"--plot {str(plot)!r}: give a .png or .svg file name")
    if bands is not None and not 10 <= bands <= 100_000:
        raise InputError(f"--bands {bands}: use between 10 and 100000 virtual patients")
    if cohort is not None and not 10 <= cohort <= 1_000_000:
        raise InputError(f"--cohort {cohort}: use between 10 and 1000000 virtual patients")
    if age is not None and not 0 < age < 120:
        raise InputError(f"--age {age:g}: give the age in years, more than 0 and below 120")
    dose_mg = _in_range(dose_mg, "--dose-mg")
    duration_min = _in_range(duration_min, "--duration-min")
    until_min = _in_range(until_min, "--until-min") or 0.0
    step_s = _in_range(step_s, "--step-s") or 0.0
    levels = pk.load_pk_levels()
    below_source = (
        f"the catalog's clinic reference level: {levels.reference_source}"
        if below_ng_per_ml is None
        else "given on the command line (clinic policy)"
    )
    if below_ng_per_ml is None:  # the same level the order page and the console use
        below_ng_per_ml = levels.reference_ng_per_ml
    below_ng_per_ml = _in_range(below_ng_per_ml, "--below-ng-per-ml") or 0.0
    weight_kg = parse_weight_kg(weight)
    chosen = pk.pk_model(model)
    warnings = list(chosen.population_warnings(weight_kg, age))
    source, segments = _segments(dose_mg, duration_min, condition, events, weight_kg)
    grid = pk.time_grid_min(until_min, step_s)
    result = pk.simulate(chosen.parameters(weight_kg), segments, grid, effect_site=effect_site)
    plasma = result.plasma_ng_per_ml
    peak = pk.peaks(grid, plasma)
    stopped = pk.stop_min(segments)
    below = pk.minutes_until_below(grid, plasma, below_ng_per_ml, stopped)[0]
    band = None
    if bands is not None:
        band = pk.percentile_bands(
            chosen, weight_kg, segments, grid, n_patients=bands, seed=seed, percentiles=(5, 50, 95)
        )

    cohort_report = None
    if cohort is not None:
        low, high = (parse_mass_kg(w, "cohort weight") for w in cohort_weights)
        cohort_report = _cohort(
            chosen,
            condition,
            segments,
            grid,
            cohort,
            (low, high),
            seed,
            below_ng_per_ml,
            levels.anaesthetic_ng_per_ml,
        )
        for warning in chosen.population_warnings((low, high)):
            if warning not in warnings:
                warnings.append(f"virtual cohort: {warning}")

    series: dict[str, list[float]] = {
        "t_min": _rounded(grid, 6),
        "plasma_ng_per_ml": _rounded(plasma[0], 4),
    }
    if result.effect_ng_per_ml is not None:
        series["effect_ng_per_ml"] = _rounded(result.effect_ng_per_ml[0], 4)
    if band is not None:
        for level, row in zip(band.percentiles, band.plasma_ng_per_ml, strict=True):
            series[f"plasma_p{level:g}_ng_per_ml"] = _rounded(row, 4)
    below_min = None if below != below else round(float(below), 4)  # NaN: never within grid
    peak_plasma = round(float(peak.peak_plasma_ng_per_ml[0]), 4)
    effect_peak = None
    if result.effect_ng_per_ml is not None:
        effect_peak = pk.peaks(grid, result.effect_ng_per_ml)
    peak_effect = (
        None if effect_peak is None else round(float(effect_peak.peak_plasma_ng_per_ml[0]), 4)
    )
    band_top = None if band is None else float(band.plasma_ng_per_ml[-1].max())
    report: dict[str, Any] = {
        "model": chosen.key,
        "model_title": chosen.title,
        "drug": chosen.drug,
        "weight_kg": round(weight_kg, 3),
        "infusion_source": source,
        "segments": [
            {
                "start_min": round(s.start_min, 6),
                "end_min": round(s.end_min, 6),
                "rate_mg_per_min": round(s.rate_mg_per_min, 6),
            }
            for s in segments
        ],
        "total_dose_mg": round(pk.total_dose_mg(segments), 4),
        "stop_min": round(stopped, 6),
        "peak_plasma_ng_per_ml": peak_plasma,
        "time_of_peak_min": round(float(peak.time_of_peak_min[0]), 6),
        "peak_effect_ng_per_ml": peak_effect,
        "time_of_peak_effect_min": None
        if effect_peak is None
        else round(float(effect_peak.time_of_peak_min[0]), 6),
        "population": {
            "fitted_in": chosen.population,
            "fitted_age_years": list(chosen.fitted_age_years),
            "fitted_weight_kg": list(chosen.fitted_weight_kg),
            "age_years": age,
            "warnings": warnings,
        },
        "levels": {
            "anaesthetic_ng_per_ml": levels.anaesthetic_ng_per_ml,
            "source": levels.anaesthetic_source,
            "plasma_peak_in_anaesthetic_range": levels.in_anaesthetic_range(peak_plasma),
            "effect_peak_in_anaesthetic_range": None
            if peak_effect is None
            else levels.in_anaesthetic_range(peak_effect),
            "band_p95_in_anaesthetic_range": None
            if band_top is None
            else levels.in_anaesthetic_range(band_top),
        },
        "below_ng_per_ml": below_ng_per_ml,
        "below_ng_per_ml_source": below_source,
        "minutes_below_after_stop": below_min,
        "bands": None
        if band is None
        else {"n_patients": band.n_patients, "seed": band.seed, "percentiles": [5, 50, 95]},
        "cohort": cohort_report,
        "sources": chosen.describe()["sources"],
        "series": series,
    }
    if plot is not None:
        from ketaplan.cli._pk_plot import draw

        draw(plot, report)
        report["plot"] = str(plot)
    if as_json:
        print_json(report)
        return
    fit_age, fit_weight = chosen.fitted_age_years, chosen.fitted_weight_kg
    lines = [
        f"{chosen.title}, {weight_kg:g} kg" + ("" if age is None else f", {age:g} years"),
        f"Fitted in: {chosen.population}; simulations warned outside {fit_age[0]:g}-"
        f"{fit_age[1]:g} years and {fit_weight[0]:g}-{fit_weight[1]:g} kg"
        + (" (age not given: not checked)" if age is None else ""),
        *(f"WARNING: {warning}" for warning in warnings),
        f"Infusion ({source}): {report['total_dose_mg']:g} mg, "
        + "; ".join(
            f"{s.rate_mg_per_min:g} mg/min from {s.start_min:g} to {s.end_min:g} min"
            for s in segments
        ),
        f"Predicted peak plasma: {peak_plasma:.0f} ng/mL at {report['time_of_peak_min']:g} min",
    ]
    if peak_effect is not None:
        lines.append(
            f"Predicted peak effect site: {peak_effect:.0f} ng/mL at "
            f"{report['time_of_peak_effect_min']:g} min (ke0 {chosen.ke0_per_min:g}/min: "
            f"{chosen.citations[chosen.sources['ke0_per_min']]})"
        )
    flagged = [
        name
        for name, level in (("plasma peak", peak_plasma), ("effect-site peak", peak_effect))
        if level is not None and levels.in_anaesthetic_range(level)
    ]
    if band_top is not None and levels.in_anaesthetic_range(band_top):
        flagged.append("95th percentile of the bands")
    if cohort_report is not None and cohort_report["fraction_peak_in_anaesthetic_range"] > 0:
        share = cohort_report["fraction_peak_in_anaesthetic_range"]
        flagged.append(f"peak of {share:.1%} of the virtual cohort")
    if flagged:
        lines.append(
            f"IN THE ANAESTHETIC RANGE: {', '.join(flagged)} at or above "
            f"{levels.anaesthetic_ng_per_ml:g} ng/mL ({levels.anaesthetic_source}); far above "
            "sub-anaesthetic dosing: check the dose"
        )
    if below_min is None:
        lines.append(f"Plasma stays above {below_ng_per_ml:g} ng/mL until {until_min:g} min")
    else:
        lines.append(
            f"Falls below {below_ng_per_ml:g} ng/mL {below_min:.1f} min after the stop "
            "(level: clinic policy)"
        )
    if band is not None:
        index = int(peak.time_of_peak_min[0] / (step_s / 60.0) + 0.5)
        low, mid, high = band.plasma_ng_per_ml[:, index]
        lines.append(
            f"At that time, 5th-95th percentile over {band.n_patients} virtual patients: "
            f"{low:.0f}-{high:.0f} ng/mL (median {mid:.0f}; variability: ketaplan default)"
        )
    if cohort_report is not None:
        peak_low, peak_mid, peak_high = cohort_report["peak_plasma_ng_per_ml_p5_p50_p95"]
        lines.append(
            f"Virtual cohort of {cohort_report['n_patients']} "
            f"({cohort_report['weight_range_kg'][0]:g}-{cohort_report['weight_range_kg'][1]:g} "
            f"kg, {cohort_report['dosing']}): peak 5th-95th percentile {peak_low:.0f}-"
            f"{peak_high:.0f} ng/mL (median {peak_mid:.0f})"
        )
    if plot is not None:
        lines.append(f"Plot: {plot}")
    lines.append("A model prediction for a typical patient, not a measured level.")
    print_lines(lines)
