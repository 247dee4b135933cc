"""Predicted plasma ketamine for the order page and the session console; reads, audited.

The order page predicts the planned infusion for its patient; the console predicts from what
was charted so far (the chart's replay gives the rate stretches, pauses and the stop) with the
rest of the infusion as it runs, and the what-ifs "pause now" and "lower the rate to X". A
what-if is a prediction: it writes nothing to the chart, only the audit row of the read.

Every figure says how it was reached (:class:`PredictionBasis`): the model (Domino 1984, the
racemic ketamine that clinics infuse, the CLI's default model too) with its sources and its
parameters at the patient's weight, the variability and its source, the virtual patients and
seed of the band, and the clinic's reference level with its source (``[levels]`` of the PK
catalog).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ketaplan.clinical.chart_fold import close_segment
from ketaplan.clinical.chart_rules import capped
from ketaplan.clinical.pk import InfusionSegment, PkModel, constant_infusion, load_pk_levels
from ketaplan.clinical.pk import pk_model as find_pk_model
from ketaplan.clinical.pk.infusion import stop_min
from ketaplan.clinical.pk.prediction import (
    BAND_PATIENTS,
    BAND_SEED,
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
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import InputError
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.clinic_policy import clinic_chart_rules
from ketaplan.services.plans import find_plan
from ketaplan.services.sessions import find_session, read_folded_chart
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.units import parse_pump_rate_ml_per_h

PREDICTION_MODEL = "domino"
"""The model the pages predict with: Domino 1984 (racemic ketamine, adults), the CLI's
default; its parameters and sources are shown with every prediction."""

_PARAMETER_WORDS = (
    ("v1_l", "V1 (central volume)", "L"),
    ("v2_l", "V2", "L"),
    ("v3_l", "V3", "L"),
    ("cl_l_per_min", "CL (clearance)", "L/min"),
    ("q2_l_per_min", "Q2", "L/min"),
    ("q3_l_per_min", "Q3", "L/min"),
)


@dataclass(frozen=True, slots=True)
class PredictionBasis:
    """How every predicted number was reached, in words and numbers with their units."""

    model_key: str
    model_title: str
    population: str
    warnings: tuple[str, ...]
    weight_kg: float
    parameters: tuple[tuple[str, float, str], ...]
    """(name, value at this weight, unit) of each volume and clearance of the typical patient."""
    sources: tuple[str, ...]
    """The citations behind the parameters, each once."""
    variability: str
    level_ng_per_ml: float
    level_source: str
    n_patients: int
    seed: int
    step_min: float
    follow_min: float


def basis_for(model: PkModel, weight_kg: float, age_years: float | None) -> PredictionBasis:
    typical = model.parameters(weight_kg)
    parameters = tuple(
        (words, round(float(getattr(typical, name)[0]), 3), unit)
        for name, words, unit in _PARAMETER_WORDS
        if float(getattr(typical, name)[0]) > 0
    )
    described = model.describe()["sources"]
    # plasma only: the effect site's ke0 (and its source) plays no part in these curves
    cited = [described[n] for n in sorted(described) if n not in ("iiv_cv", "ke0_per_min")]
    cvs = ", ".join(f"{name.upper()} {cv:.0%}" for name, cv in sorted(model.iiv_cv.items()))
    levels = load_pk_levels()
    return PredictionBasis(
        model_key=model.key,
        model_title=model.title,
        population=model.population,
        warnings=model.population_warnings(weight_kg, age_years),
        weight_kg=weight_kg,
        parameters=parameters,
        sources=tuple(dict.fromkeys(cited)),
        variability=f"log-normal, coefficient of variation {cvs}, independent "
        f"({described.get('iiv_cv', 'no source')})",
        level_ng_per_ml=levels.reference_ng_per_ml,
        level_source=levels.reference_source,
        n_patients=BAND_PATIENTS,
        seed=BAND_SEED,
        step_min=STEP_MIN,
        follow_min=FOLLOW_MIN,
    )


@dataclass(frozen=True, slots=True)
class PredictionOption:
    """One curve of a page: ``key`` (``plan``, ``as_running``, ``pause_now``, ``lower``,
    ``as_charted``), its words, and its prediction."""

    key: str
    label: str
    prediction: Prediction


@dataclass(frozen=True, slots=True)
class PlanPrediction:
    plan_id: int
    patient_id: int
    dose_mg: float
    dose_from: str
    """Which dose was simulated: the preparation's delivered mg once signed, else the plan's."""
    duration_min: float
    basis: PredictionBasis
    option: PredictionOption


def predict_plan(uow: UnitOfWork, plan_id: int, *, actor: Actor) -> PlanPrediction:
    """The planned infusion predicted for the plan's patient (weight and age as planned)."""
    require_clinical_facts(actor, "a plan's prediction")
    with uow.reading():
        row = find_plan(uow, plan_id, actor)
        plan: dict[str, Any] = row.plan
        uow.audit(
            actor,
            AuditAction.PREDICTION_PLAN_READ,
            "plan",
            plan_id,
            patient_id=row.patient_id,
            details={"model": PREDICTION_MODEL},
        )
        uow.commit()
        patient_id = row.patient_id
    weight_kg = float(plan["patient"]["weight_kg"])
    age = plan["patient"].get("age_years")
    preparation = plan.get("preparation")
    if preparation and preparation.get("delivered_mg"):
        dose_mg, dose_from = float(preparation["delivered_mg"]), "the bag as prepared"
    else:
        dose_mg, dose_from = float(plan["dose"]["total_mg"]), "the planned dose"
    duration_min = float(plan["dose"]["duration_min"])
    model = find_pk_model(PREDICTION_MODEL)
    basis = basis_for(model, weight_kg, None if age is None else float(age))
    found = predict(
        model,
        weight_kg,
        constant_infusion(dose_mg, duration_min),
        level_ng_per_ml=basis.level_ng_per_ml,
    )
    label = f"{dose_mg:g} mg over {duration_min:g} min (plan)"
    return PlanPrediction(
        plan_id,
        patient_id,
        dose_mg,
        dose_from,
        duration_min,
        basis,
        PredictionOption("plan", label, found),
    )


@dataclass(frozen=True, slots=True)
class SessionPrediction:
    """The console's curves: from the chart so far, then each option (none before a start)."""

    session_id: int
    patient_id: int
    state: str
    now_min: float | None
    running: RunningInfusion | None
    basis: PredictionBasis | None
    options: tuple[PredictionOption, ...]
    lower_rate_ml_per_h: float | None
    note: str


def _minutes(first: datetime, at: datetime) -> float:
    return (at - first).total_seconds() / 60.0


def parse_lower_rate(text: str | None) -> float | None:
    """The what-if's rate as typed (``"60"`` or ``"60 mL/h"``); None when not asked."""
    if text is None or not text.strip():
        return None
    try:
        return parse_pump_rate_ml_per_h(text, field="the rate")
    except InputError as refused:  # said in words; placed beside the what-if's field
        fields = {**refused.fields, "field": "lower_rate_ml_per_h"}
        raise InputError(refused.message, code=refused.code, fields=fields) from refused


def predict_session(
    uow: UnitOfWork,
    session_id: int,
    *,
    actor: Actor,
    policy: ClinicPolicy,
    lower_rate: str | None = None,
) -> SessionPrediction:
    """The console's prediction as of the clock, and the what-if of a lower rate when asked.

    A refused rate (units, zero, past the protocol's hard limit, not lower than the running
    one) raises with the field ``lower_rate_ml_per_h``; nothing is written either way except
    the audit row of the read.
    """
    require_clinical_facts(actor, "a session's prediction")
    asked = parse_lower_rate(lower_rate)
    with uow.reading():
        session = find_session(uow, session_id, actor)
        rules = clinic_chart_rules(uow, actor, policy.monitoring)
        chart, terms, log = read_folded_chart(uow, session, rules, actor=actor, policy=policy)
        now = uow.clock()
        state = log.state
        running: RunningInfusion | None = None
        now_min: float | None = None
        if state.started_at is not None:
            order = terms.order
            bag_mg = None if order is None else order.bag_mg
            last = state.last_at or now
            until = max(now, last) if state.state == "infusing" else last
            charted, _ = capped(close_segment(state, until), bag_mg)
            segments = tuple(
                InfusionSegment(s.start_min, s.end_min, s.rate_mg_per_h / 60.0)
                for s in charted
                if s.end_min > s.start_min
            )
            given_mg = sum(s.amount_mg for s in segments)
            ordered_mg = given_mg if order is None else min(order.ordered_mg, order.bag_mg)
            now_min = _minutes(state.started_at, until)
            infusing = state.state == "infusing" and state.rate_ml_per_h is not None
            running = RunningInfusion(
                charted=segments,
                now_min=now_min,
                rate_ml_per_h=float(state.rate_ml_per_h or 0.0) if infusing else 0.0,
                concentration_mg_per_ml=float(state.concentration_mg_per_ml or 0.0),
                remaining_mg=max(ordered_mg - given_mg, 0.0),
            )
        if asked is not None:
            if running is None:
                running = RunningInfusion((), 0.0, 0.0, 0.0, 0.0)
            check_lower_rate(
                asked,
                running,
                weight_kg=terms.weight_kg,
                hard_max_mg_per_kg_per_h=terms.hard_max_mg_per_kg_per_h,
            )
        uow.audit(
            actor,
            AuditAction.PREDICTION_SESSION_READ,
            "session",
            session_id,
            patient_id=session.patient_id,
            details={
                "model": PREDICTION_MODEL,
                "seq": chart.seq,
                "lower_rate_ml_per_h": asked,
            },
        )
        uow.commit()
        patient_id, weight_kg, summary_state = session.patient_id, session.weight_kg, state.state
    if running is None or (not running.charted and not running.infusing):
        return SessionPrediction(
            session_id,
            patient_id,
            summary_state,
            now_min,
            running,
            None,
            (),
            None,
            "No infusion charted yet: the order page shows the planned infusion's prediction.",
        )
    model = find_pk_model(PREDICTION_MODEL)
    basis = basis_for(model, weight_kg, None)
    choices: list[tuple[str, str, tuple[InfusionSegment, ...]]] = []
    if running.infusing:
        rate = running.rate_ml_per_h
        choices.append(
            (
                "as_running",
                f"As running: {rate:g} mL/h until the ordered dose is in",
                as_running(running),
            )
        )
        choices.append(("pause_now", "Pause now (not resumed)", paused_now(running)))
        if asked is not None:
            choices.append(
                (
                    "lower",
                    f"Lower the rate to {asked:g} mL/h until the ordered dose is in",
                    lowered(running, asked),
                )
            )
    else:
        words = "paused (not resumed)" if summary_state == "paused" else "stopped"
        choices.append(("as_charted", f"As charted: {words}", running.charted))
    choices = [c for c in choices if stop_min(c[2]) > 0]  # a pause before any drug: nothing
    if not choices:
        return SessionPrediction(
            session_id,
            patient_id,
            summary_state,
            now_min,
            running,
            None,
            (),
            None,
            "No drug delivered yet: the order page shows the planned infusion's prediction.",
        )
    last_stop = max(stop_min(segments) for _, _, segments in choices)
    until_min = max(last_stop + FOLLOW_MIN, (now_min or 0.0) + FOLLOW_MIN / 2)
    options = tuple(
        PredictionOption(
            key,
            label,
            predict(
                model,
                weight_kg,
                segments,
                level_ng_per_ml=basis.level_ng_per_ml,
                until_min=until_min,
            ),
        )
        for key, label, segments in choices
    )
    return SessionPrediction(
        session_id,
        patient_id,
        summary_state,
        now_min,
        running,
        basis,
        options,
        asked,
        "",
    )
