"""Titration: a recommendation for the course's next dose, and the prescriber's decision.

The decision is the course's next order: planned like any plan and signed by the deciding
prescriber in the same request (``password`` re-entered). Errors: 403
``signature.wrong_password``; 422 ``limit.override_required`` past a soft limit without a
reason, 422 ``limit.hard_limit_exceeded`` past a hard one, 422 ``order.override_required``
when screening stops the infusion and no ``override_reason`` is given; 409
``conflict.already_decided``. A refusal records no decision and no order (it is audited).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ketaplan.api.titration_models import Recommendation, TitrationBasis
from ketaplan.http.context import services
from ketaplan.http.params import ErrorOut, Line, MultilineText, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.inputs import MAX_REQUESTED_MG_PER_KG
from ketaplan.services import DEFAULT_MEANING

router = APIRouter(tags=["titration"])


class RecommendationOut(BaseModel):
    recommendation_id: int
    patient_id: int
    course_id: int
    recommendation: Recommendation
    basis: TitrationBasis = Field(description="The course history it was computed from.")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mg_per_kg: Annotated[
        float | None, Field(gt=0, le=MAX_REQUESTED_MG_PER_KG, allow_inf_nan=False)
    ] = Field(
        None, description="Leave out to accept the recommendation; another dose needs a reason."
    )
    reason: Annotated[MultilineText, Field(max_length=1000)] = ""
    password: Annotated[Line, Field(min_length=1, max_length=1024)] = Field(
        description="The deciding prescriber's password: the decision is signed as an order."
    )
    override_reason: Annotated[MultilineText | None, Field(min_length=1, max_length=1000)] = Field(
        None,
        description="Past a soft limit (default: the reason), or to override a "
        "contraindication or hold found by screening.",
    )
    meaning: Annotated[Line, Field(min_length=1, max_length=500)] = Field(
        DEFAULT_MEANING, description="What the signature means; recorded with it."
    )


class DecisionOut(BaseModel):
    decision_id: int
    recommendation_id: int
    decision: str
    mg_per_kg: float
    reason: str
    decided_at: datetime
    plan_id: int | None = Field(description="The signed order the decision made.")


@router.post(
    "/courses/{course_id}/titration",
    name="recommend_titration",
    response_model_exclude_unset=True,
    status_code=201,
)
def recommend(course_id: RecordId, actor: SignedIn, request: Request) -> RecommendationOut:
    """The next session's mg/kg for the course so far, with reasons (stored for the decision)."""
    context = services(request)
    record = context.titration.recommend(course_id, actor=actor)
    return RecommendationOut(
        recommendation_id=record.recommendation_id,
        patient_id=record.patient_id,
        course_id=record.course_id,
        recommendation=Recommendation.model_validate(record.recommendation),
        basis=TitrationBasis.model_validate(record.basis),
    )


@router.post(
    "/titration/{recommendation_id}/decision",
    name="decide_titration",
    status_code=201,
    responses={429: {"model": ErrorOut, "description": "Too many wrong passwords; wait"}},
)
def decide(
    recommendation_id: RecordId, body: DecisionIn, actor: SignedIn, request: Request
) -> DecisionOut:
    """Accept the recommendation or choose another dose with a reason (prescribers; once):
    the decision becomes the course's next order, signed by the prescriber."""
    context = services(request)
    record = context.titration.decide(
        recommendation_id,
        actor=actor,
        password=body.password,
        mg_per_kg=body.mg_per_kg,
        reason=body.reason,
        override_reason=body.override_reason,
        meaning=body.meaning,
    )
    return DecisionOut(
        decision_id=record.decision_id,
        recommendation_id=record.recommendation_id,
        decision=record.decision,
        mg_per_kg=record.mg_per_kg,
        reason=record.reason,
        decided_at=record.decided_at,
        plan_id=record.plan_id,
    )
