"""A titration recommendation and the course history behind it, as typed response models.

They describe :meth:`ketaplan.clinical.titration.Titration.to_dict` and the history the
service stores with it (``ketaplan.services.titration``), field by field. A field that only
some recommendations carry (the dose in mg, the limit checks) is optional and left out of
the JSON when absent (the route answers with ``response_model_exclude_unset``).
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class OutcomeOut(BaseModel):
    """Response and remission on the primary scale, in words too."""

    scale: str
    baseline: int | None
    latest: int
    reduction_from_baseline: float | None = Field(description="A fraction: 0.5 is 50 %.")
    response: bool | None
    remission: bool | None = Field(description="null for a scale that defines none.")
    reason: str


class TitrationLimitCheck(BaseModel):
    quantity: str
    value: float
    unit: str
    soft_max: float | None
    hard_max: float | None
    status: str
    message: str


class TitrationLimits(BaseModel):
    checks: list[TitrationLimitCheck]
    needs_override: bool
    capped: bool


class Recommendation(BaseModel):
    """The next session's dose and every reason for it."""

    recommended_mg_per_kg: float
    action: str = Field(description="increase, hold or decrease.")
    reasons: list[str]
    last_mg_per_kg: float | None
    range_mg_per_kg: list[float] = Field(description="The protocol's [low, high].")
    tolerance: str | None = Field(description="good, fair or poor; null before any session.")
    primary_scale: str | None
    reduction_from_baseline: float | None = Field(description="A fraction: 0.5 is 50 %.")
    response: bool | None
    remission: bool | None
    outcome: OutcomeOut | None
    proposal: str
    recommended_mg: float | None = None
    dosing_weight_kg: float | None = None
    weight_basis: str | None = None
    limits: TitrationLimits | None = None


class SideEffectSeen(BaseModel):
    name: str
    severity: str


class PastSession(BaseModel):
    """One past session as titration saw it."""

    number: int
    on: dt.date
    mg_per_kg: float
    tolerability: int | None
    side_effects: list[SideEffectSeen]
    alerts: list[str]
    pauses: int
    scores: dict[str, int] = Field(description="Each scale's total that day.")


class FollowUpScore(BaseModel):
    on: dt.date
    scale: str
    total: int


class Phq9Item9(BaseModel):
    on: dt.date
    answer: int | None = Field(description="Item 9's answer; null when only the total is known.")


class TitrationBasis(BaseModel):
    """The course history the recommendation was computed from."""

    condition: str
    weight_kg: float | None
    baseline_scores: dict[str, int]
    sessions: list[PastSession]
    follow_up: list[FollowUpScore]
    phq9_item9: list[Phq9Item9]


__all__ = ["Recommendation", "TitrationBasis"]
