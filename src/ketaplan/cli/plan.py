"""``ketaplan plan``: screening, personalised dose, limits and preparation for one infusion."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ketaplan.clinical.planning import Plan
    from ketaplan.errors import OverrideRequired


def _whole_number(text: str | None, field: str) -> int | None:
    """An optional whole number (the domain checks its range; this keeps it a number)."""
    from ketaplan.inputs import MAX_RECORD_ID, whole_number

    return None if text is None else whole_number(text, field=field, low=0, high=MAX_RECORD_ID)


def _decimal(text: str | None, field: str) -> float | None:
    import math

    from ketaplan.errors import InputError
    from ketaplan.inputs import MAX_REQUESTED_MG_PER_KG, decimal_number

    if text is None:
        return None
    value = decimal_number(
        text,
        field=field,
        low=-math.inf,
        high=MAX_REQUESTED_MG_PER_KG,
        what="a positive number",
    )
    if value <= 0:
        raise InputError(
            f"{field} {text!r} is not a positive number (e.g. 0.6)",
            code="input.not_a_number",
            fields={"field": field, "value": text},
        )
    return value


def plan(
    condition: Annotated[str, typer.Option(help="Condition key or alias, e.g. depression.")],
    weight: Annotated[str, typer.Option(help='Weight with its unit: "80 kg", "176 lb".')],
    height: Annotated[str | None, typer.Option(help='"175 cm", "1.75 m", "5 ft 9 in".')] = None,
    age: Annotated[str | None, typer.Option(help="Age in years.")] = None,
    sex: Annotated[str | None, typer.Option(help="female or male.")] = None,
    med: Annotated[list[str] | None, typer.Option(help="A current medication; repeat.")] = None,
    history: Annotated[
        list[str] | None,
        typer.Option(help="A history term or abbreviation, e.g. controlled_hypertension, OSA."),
    ] = None,
    pregnant: Annotated[bool, typer.Option("--pregnant")] = False,
    breastfeeding: Annotated[bool, typer.Option("--breastfeeding")] = False,
    alcohol: Annotated[str | None, typer.Option(help="none|occasional|regular|heavy")] = None,
    sensitivity: Annotated[str | None, typer.Option(help="normal|high|low")] = None,
    experience: Annotated[
        str | None, typer.Option(help="naive|prior_ketamine|prior_psychedelic")
    ] = None,
    severity: Annotated[str | None, typer.Option(help="mild|moderate|severe")] = None,
    preference: Annotated[str | None, typer.Option(help="standard|lowest_effective")] = None,
    bp: Annotated[str | None, typer.Option(help='Pre-infusion blood pressure, "128/84".')] = None,
    heart_rate: Annotated[
        str | None, typer.Option("--heart-rate", help="Pre-infusion heart rate per minute, 72.")
    ] = None,
    mg_per_kg: Annotated[
        str | None,
        typer.Option(
            "--mg-per-kg",
            help="Prescriber's requested dose in mg/kg: the total given over the whole "
            "infusion (e.g. 0.5 over 40 min), not per hour.",
        ),
    ] = None,
    override_reason: Annotated[str | None, typer.Option(help="Why a soft limit is passed.")] = None,
    prescriber: Annotated[str | None, typer.Option(help="Prescriber giving the override.")] = None,
    confirm_weight: Annotated[
        bool, typer.Option("--confirm-weight", help="The weight is right though BMI is unusual.")
    ] = False,
    catalog: Annotated[
        list[Path] | None, typer.Option("--catalog", help="Clinic catalog file(s) to merge.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Screen a patient, personalise the dose, check limits and prepare the infusion."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.clinical.catalog.course_loader import load_policy
    from ketaplan.clinical.medications import MedicationResolver
    from ketaplan.clinical.planning import PlanRequest, make_plan, plan_to_dict
    from ketaplan.clinical.profile import build_profile, with_confirm_weight_hint
    from ketaplan.drug_dictionary import DnerDrugDictionary
    from ketaplan.errors import InputError, OverrideRequired

    policy = load_policy(tuple(catalog or ()))
    cat = policy.catalog
    try:
        profile = build_profile(
            cat,
            weight=weight,
            height=height,
            age_years=_whole_number(age, "age"),
            sex=sex,
            pregnant=pregnant,
            breastfeeding=breastfeeding,
            history=history or (),
            medications=med or (),
            alcohol=alcohol,
            sensitivity=sensitivity,
            experience=experience,
            severity=severity,
            preference=preference,
            blood_pressure=bp,
            heart_rate=heart_rate,
            confirm_weight=confirm_weight,
        )
    except InputError as refused:
        raise with_confirm_weight_hint(refused, "--confirm-weight") from None
    request = PlanRequest(
        condition, profile, _decimal(mg_per_kg, "--mg-per-kg"), override_reason, prescriber
    )
    try:
        result = make_plan(request, policy, MedicationResolver(cat, DnerDrugDictionary()))
    except OverrideRequired as refused:
        raise refused.with_hint(override_hint(refused)) from None
    if as_json:
        print_json(plan_to_dict(result))
    else:
        print_lines(summary_lines(result))


OVERRIDE_FLAGS = {"reason": '--override-reason "WHY"', "prescriber": '--prescriber "NAME"'}
"""How the command line gives each part of an override the limits ask for."""


def override_hint(refused: OverrideRequired) -> str:
    """The flags that give what the override still lacks (the error's ``missing`` field)."""
    missing = refused.fields.get("missing")
    names = missing if isinstance(missing, list) else list(OVERRIDE_FLAGS)
    return "add " + " ".join(OVERRIDE_FLAGS[str(n)] for n in names if n in OVERRIDE_FLAGS)


def summary_lines(plan: Plan) -> list[str]:
    """The plan as a nurse reads it: the verdict first, then the dose, then the bag and pump."""
    from ketaplan.clinical.planning import DISCLAIMER
    from ketaplan.clinical.preparation import preparation_steps
    from ketaplan.clinical.screening import VERDICT_HEADLINES, verdict

    d, prep, e = plan.dose, plan.preparation, plan.eligibility
    lines = [
        f"KETAMINE INFUSION PLAN: {plan.protocol.title} (catalog {plan.catalog_version})",
        DISCLAIMER,
        "",
        f"ELIGIBILITY: {e.status.upper()}: {VERDICT_HEADLINES[verdict(e)]}",
    ]
    marks = {"block": "X", "caution": "!", "info": "-"}
    for f in e.findings:
        lines.append(f"  {marks[f.severity]} [{f.severity}] {f.code}: {f.message}")
    if verdict(e) == "do_not_infuse":
        lines.append("  Alternatives: " + "; ".join(plan.protocol.alternatives))
    lines += [
        "",
        f"DOSE: {d.mg_per_kg:g} mg/kg x {d.dosing_weight_kg:g} kg ({d.weight_basis} body weight)"
        f" = {d.total_mg:g} mg over {d.duration_min:g} min ({d.rate_mg_per_kg_per_h:.3g} "
        "mg/kg/h)",
        "  How it was reached:",
    ]
    for number, step in enumerate(d.explanation, 1):
        changed = step.before is not None and step.before != step.after
        before = f"{step.before:.4g} -> " if changed else ""
        lines.append(
            f"  {number}. {step.rule}: {before}{step.after:.4g} {step.unit}: {step.reason}"
        )
    if plan.override:
        lines.append(
            f"  OVERRIDE by {plan.override.prescriber} "
            f"({', '.join(plan.override.limits)}): {plan.override.reason}"
        )
    lines += ["", "PREPARATION"]
    lines += [f"  {n}. {text}" for n, text in enumerate(preparation_steps(prep), 1)]
    lines += [
        "",
        f"PUMP: {prep.pump_rate_ml_per_h:g} mL/h, VTBI {prep.vtbi_ml:g} mL, "
        f"{prep.duration_min:g} min; delivers {prep.delivered_mg:g} mg "
        f"({prep.delivered_vs_ordered_percent:+.2f} % of the order)",
        f"Then {plan.protocol.recovery_min:g} min recovery; monitoring: "
        f"{plan.protocol.monitoring.replace('_', ' ')}.",
    ]
    return lines
