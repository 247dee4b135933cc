"""Titration: a recommendation for the course's next dose, and the prescriber's decision."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ketaplan.api.context import services
from ketaplan.api.params import RecordId
from ketaplan.api.security import SignedIn
from ketaplan.services import decide_titration, recommend_titration

router = APIRouter(tags=["titration"])


class RecommendationOut(BaseModel):
    recommendation_id: int
    patient_id: int
    course_id: int
    recommendation: dict[str, Any]
    basis: dict[str, Any] = Field(description="The course history it was computed from.")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mg_per_kg: Annotated[float | None, Field(gt=0, le=100, allow_inf_nan=False)] = Field(
        None, description="Leave out to accept the recommendation; another dose needs a reason."
    )
    reason: Annotated[str, Field(max_length=1000)] = ""


class DecisionOut(BaseModel):
    decision_id: int
    recommendation_id: int
    decision: str
    mg_per_kg: float
    reason: str
    decided_at: datetime


@router.post("/courses/{course_id}/titration", name="recommend_titration", status_code=201)
def recommend(course_id: RecordId, actor: SignedIn, request: Request) -> RecommendationOut:
    """The next session's mg/kg for the course so far, with reasons (stored for the decision)."""
    context = services(request)
    record = recommend_titration(
        context.unit_of_work(),
        course_id,
        actor=actor,
        catalog=context.catalog,
        monitoring=context.monitoring,
    )
    return RecommendationOut(
        recommendation_id=record.recommendation_id,
        patient_id=record.patient_id,
        course_id=record.course_id,
        recommendation=record.recommendation,
        basis=record.basis,
    )


@router.post("/titration/{recommendation_id}/decision", name="decide_titration", status_code=201)
def decide(
    recommendation_id: RecordId, body: DecisionIn, actor: SignedIn, request: Request
) -> DecisionOut:
    """Accept the recommendation or choose another dose with a reason (prescribers; once)."""
    context = services(request)
    record = decide_titration(
        context.unit_of_work(),
        recommendation_id,
        actor=actor,
        catalog=context.catalog,
        mg_per_kg=body.mg_per_kg,
        reason=body.reason,
    )
    return DecisionOut(
        decision_id=record.decision_id,
        recommendation_id=record.recommendation_id,
        decision=record.decision,
        mg_per_kg=record.mg_per_kg,
        reason=record.reason,
        decided_at=record.decided_at,
    )
