"""A plan: screening, personalised dose, limits and preparation for one infusion.

This is the use case every entry point calls (CLI, API, web pages). It decides nothing the
modules it calls do not decide; it puts them in order and turns the result into the JSON
contract that clients rely on (keys documented in the README).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from ketaplan.clinical.catalog import Protocol
from ketaplan.clinical.dosing import Dose, personalise_dose
from ketaplan.clinical.limits import LimitCheck, Override, check_limits, enforce_limits
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.preparation import (
    Preparation,
    preparation_findings,
    preparation_steps,
    prepare_infusion,
)
from ketaplan.clinical.profile import PatientProfile, dosing_weight
from ketaplan.clinical.screening import Eligibility, eligibility_to_dict, screen, with_findings

DISCLAIMER = (
    "Decision support for licensed clinicians: a prescriber reviews and confirms this plan "
    "before any infusion."
)


@dataclass(frozen=True, slots=True)
class PlanRequest:
    condition: str
    profile: PatientProfile
    requested_mg_per_kg: float | None = None
    override_reason: str | None = None
    prescriber: str | None = None


class Plan(NamedTuple):
    protocol: Protocol
    catalog_version: str
    profile: PatientProfile
    eligibility: Eligibility
    dose: Dose
    limit_checks: tuple[LimitCheck, ...]
    override: Override | None
    preparation: Preparation


def make_plan(request: PlanRequest, policy: ClinicPolicy, resolver: MedicationResolver) -> Plan:
    """Screen, dose, check limits and prepare; raises only for bad input or refused doses.

    The plan's findings are the screening's plus what dosing and preparation ask the
    prescriber to look at (a dose the range minimum raised, a dosing weight outside its
    formula's range, a draw the stock cannot measure within tolerance): one list, one status.

    Everything the clinic decides comes from ``policy``: the catalog (with its clinic file),
    the pre-infusion thresholds screening uses, the dosing-weight basis and the stock the
    preparation is made from. The CLI, the API and the pages pass the same policy for the same
    clinic, so they plan a patient identically.
    """
    catalog = policy.catalog
    protocol = catalog.protocol(request.condition)
    profile = request.profile
    eligibility = screen(profile, protocol, catalog, resolver, policy.monitoring)
    weight = dosing_weight(profile, protocol, catalog)
    dose = personalise_dose(
        profile,
        protocol,
        catalog,
        weight,
        eligibility.interaction_classes,
        request.requested_mg_per_kg,
    )
    checks = check_limits(dose, protocol)
    override = enforce_limits(
        checks, override_reason=request.override_reason, prescriber=request.prescriber
    )
    preparation = prepare_infusion(
        dose.total_mg, dose.duration_min, protocol.bag_ml, policy.supplies
    )
    eligibility = with_findings(
        eligibility,
        dose.cautions + preparation_findings(preparation, catalog.cite("clinic_policy")),
    )
    return Plan(
        protocol, catalog.version, profile, eligibility, dose, checks, override, preparation
    )


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan in the stable JSON shape (see the README for the contract)."""
    p, d, prep, e = plan.profile, plan.dose, plan.preparation, plan.eligibility
    return {
        "catalog_version": plan.catalog_version,
        "condition": plan.protocol.key,
        "protocol": {
            "key": plan.protocol.key,
            "title": plan.protocol.title,
            "category": plan.protocol.category,
            "monitoring": plan.protocol.monitoring,
            "range_mg_per_kg": list(plan.protocol.range_mg_per_kg),
            "alternatives": list(plan.protocol.alternatives),
            "choices": {c.aspect: c.chosen for c in plan.protocol.choices},
        },
        "patient": {
            "weight_kg": round(p.weight_kg, 2),
            "height_cm": round(p.height_cm, 1) if p.height_cm else None,
            "bmi": round(p.bmi, 1) if p.bmi else None,
            "age_years": p.age_years,
            "sex": p.sex,
            "pregnant": p.pregnant,
            "breastfeeding": p.breastfeeding,
            "history": list(p.history),
            "alcohol": p.alcohol,
        },
        "eligibility": eligibility_to_dict(e),
        "dose": {
            "dosing_weight_kg": d.dosing_weight_kg,
            "weight_basis": d.weight_basis,
            "mg_per_kg": d.mg_per_kg,
            "total_mg": d.total_mg,
            "duration_min": d.duration_min,
            "recovery_min": plan.protocol.recovery_min,
            "rate_mg_per_kg_per_h": round(d.rate_mg_per_kg_per_h, 4),
            "rate_mg_per_h": round(d.rate_mg_per_h, 2),
            "personalised_mg_per_kg": d.personalised_mg_per_kg,
            "explanation": [
                {
                    "rule": s.rule,
                    "before": _num(s.before),
                    "after": _num(s.after),
                    "unit": s.unit,
                    "reason": s.reason,
                    "source": s.source,
                }
                for s in d.explanation
            ],
        },
        "limits": {
            "checks": [
                {
                    "quantity": c.quantity,
                    "value": c.value,
                    "unit": c.unit,
                    "soft_min": c.soft_min,
                    "soft_max": c.soft_max,
                    "hard_min": c.hard_min,
                    "hard_max": c.hard_max,
                    "status": c.status,
                    "message": c.message,
                }
                for c in plan.limit_checks
            ],
            "override": (
                {
                    "prescriber": plan.override.prescriber,
                    "reason": plan.override.reason,
                    "limits": list(plan.override.limits),
                }
                if plan.override
                else None
            ),
        },
        "preparation": {
            "vial_mg_per_ml": prep.vial_mg_per_ml,
            "vial_volume_ml": prep.vial_volume_ml,
            "vials_needed": prep.vials_needed,
            "syringes": [
                {
                    "syringe_ml": f.capacity_ml,
                    "graduation_ml": f.graduation_ml,
                    "draw_ml": f.draw_ml,
                }
                for f in prep.syringes
            ],
            "draw_ml": prep.draw_ml,
            "drawn_mg": prep.drawn_mg,
            "waste_mg": prep.waste_mg,
            "diluent": prep.diluent,
            "bag_ml": prep.bag_ml,
            "bag_overfill_ml": prep.bag_overfill_ml,
            "total_volume_ml": prep.total_volume_ml,
            "final_mg_per_ml": prep.final_mg_per_ml,
            "pump_rate_ml_per_h": prep.pump_rate_ml_per_h,
            "vtbi_ml": prep.vtbi_ml,
            "duration_min": prep.duration_min,
            "delivered_mg": prep.delivered_mg,
            "delivered_vs_ordered_percent": round(prep.delivered_vs_ordered_percent, 3),
            "drawn_vs_ordered_percent": round(prep.drawn_vs_ordered_percent, 3),
            "within_tolerance": prep.within_tolerance,
            "steps": preparation_steps(prep),
        },
        "series": {
            "sessions": plan.protocol.series.sessions,
            "within_days": [plan.protocol.series.min_days, plan.protocol.series.max_days],
        },
        "disclaimer": DISCLAIMER,
    }


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
