"""The plan and the screening verdict as typed response models, so a generated client gets
classes with named, unit-bearing fields instead of a dictionary.

They describe the stable JSON the domain writes (:func:`ketaplan.clinical.planning.
plan_to_dict` and :func:`ketaplan.clinical.screening.eligibility_to_dict`, the README's
contract) field by field; ``tests/service/test_generated_client.py`` checks that every golden
plan goes through them unchanged, so a key the domain adds and these miss fails there, not in
a client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Finding(BaseModel):
    """One screening finding: a contraindication, an interaction, a monitoring note."""

    code: str = Field(examples=["contraindication.controlled_hypertension"])
    severity: Literal["block", "caution", "info"]
    message: str
    source: str = Field(description="Where the rule comes from.")


class MedicationFound(BaseModel):
    """A medication as typed and what it was resolved to."""

    typed: str
    ingredients: list[str]
    classes: list[str]
    resolved_by: str | None
    unchecked: list[str] = Field(description="Ingredients no interaction rule covers.")


class Eligibility(BaseModel):
    """The screening verdict."""

    status: str
    verdict: str
    headline: str
    findings: list[Finding]
    medications: list[MedicationFound]


class ProtocolUsed(BaseModel):
    key: str
    title: str
    category: str
    monitoring: str
    range_mg_per_kg: list[float] = Field(description="The protocol's dose range: [low, high].")
    alternatives: list[str]
    choices: dict[str, str] = Field(description="Each aspect (dose, series, booster): the choice.")


class PatientInPlan(BaseModel):
    """The profile the plan was made for."""

    weight_kg: float
    height_cm: float | None
    bmi: float | None = Field(description="Body-mass index, kg/m².")
    age_years: int | None
    sex: str | None
    pregnant: bool
    breastfeeding: bool
    history: list[str]
    alcohol: str | None


class DoseStep(BaseModel):
    """One step of how the dose was personalised."""

    rule: str
    before: float | None
    after: float | None
    unit: str
    reason: str
    source: str


class Dose(BaseModel):
    dosing_weight_kg: float
    weight_basis: str = Field(examples=["actual"])
    mg_per_kg: float
    total_mg: float
    duration_min: float
    recovery_min: float
    rate_mg_per_kg_per_h: float
    rate_mg_per_h: float
    personalised_mg_per_kg: float
    explanation: list[DoseStep]


class LimitCheck(BaseModel):
    quantity: str = Field(examples=["mg_per_kg"])
    value: float
    unit: str
    soft_min: float | None
    soft_max: float | None
    hard_min: float | None
    hard_max: float | None
    status: str = Field(examples=["within"])
    message: str


class Override(BaseModel):
    """A prescriber's override of soft limits, with the reason."""

    prescriber: str
    reason: str
    limits: list[str]


class Limits(BaseModel):
    checks: list[LimitCheck]
    override: Override | None


class SyringeDraw(BaseModel):
    syringe_ml: float
    graduation_ml: float
    draw_ml: float


class VialSize(BaseModel):
    mg_per_ml: float
    volume_ml: float


class StockUsed(BaseModel):
    """The stock the plan was prepared from (the catalog's or the clinic's settings)."""

    source: str = Field(examples=["catalog"])
    settings_version: int
    vials: list[VialSize]
    bag_sizes_ml: list[float]
    bag_overfill_fraction: float


class Preparation(BaseModel):
    """How to make the infusion: vials, syringes, bag and pump."""

    vial_mg_per_ml: float
    vial_volume_ml: float
    vials_needed: int
    syringes: list[SyringeDraw]
    draw_ml: float
    drawn_mg: float
    waste_mg: float
    diluent: str
    bag_ml: float
    bag_overfill_ml: float
    total_volume_ml: float
    final_mg_per_ml: float
    pump_rate_ml_per_h: float
    vtbi_ml: float = Field(description="Volume to be infused, mL.")
    duration_min: float
    delivered_mg: float
    delivered_vs_ordered_percent: float
    drawn_vs_ordered_percent: float
    within_tolerance: bool
    steps: list[str] = Field(description="The preparation card's steps, in order.")
    stock: StockUsed | None = None


class Series(BaseModel):
    sessions: int
    within_days: list[int] = Field(description="[fewest, most] days the series spans.")


class Plan(BaseModel):
    """A plan as it was made (README: the plan's JSON contract)."""

    catalog_version: str
    condition: str
    protocol: ProtocolUsed
    patient: PatientInPlan
    eligibility: Eligibility
    dose: Dose
    limits: Limits
    preparation: Preparation | None
    series: Series
    disclaimer: str


OrderStatusOut = Literal["proposed", "active", "superseded", "cancelled"]


class OrderOverride(BaseModel):
    """A prescriber's override of the contraindications that block an order, at signing."""

    reason: str
    prescriber: str
    findings: list[Finding] = Field(description="The blocking findings overridden.")


class OrderOut(BaseModel):
    """Where the order stands, and the signature behind it."""

    status: OrderStatusOut
    signed_by: str | None
    signer_name: str | None
    signed_at: datetime | None
    signature_meaning: str | None
    override: OrderOverride | None = Field(
        description="A prescriber's override of a contraindication: reason, findings."
    )
    ended_at: datetime | None
    ended_reason: str | None = Field(description="Why it was cancelled or superseded.")


class PlanShown(Plan):
    """The plan as a reader sees it: ``preparation`` is null, and ``preparation_withheld``
    says why, until the order is active; ``order`` is where the order stands."""

    preparation_withheld: str | None
    order: OrderOut


__all__ = [
    "Dose",
    "Eligibility",
    "Finding",
    "LimitCheck",
    "MedicationFound",
    "OrderOut",
    "OrderOverride",
    "OrderStatusOut",
    "Override",
    "Plan",
    "PlanShown",
    "Preparation",
]
