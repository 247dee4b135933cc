"""The infusion chart as typed response models: its summary and its events.

:meth:`ketaplan.clinical.session.SessionSummary.to_dict` writes the summary and the chart's
events are stored as charted (``ketaplan.clinical.chart_events``: ``type``, ``at`` and the
fields that type accepts). An event is one model with every type's fields, each optional,
rather than fourteen models a client would have to tell apart: the ``type`` says which fields
it carries. The routes that answer a chart leave out the fields an event was not given
(``response_model_exclude_unset``), so an event reads as it was charted.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class AlertOut(BaseModel):
    code: str
    message: str
    at: str
    action: str
    severity: str = Field(description="info, caution, warning or critical.")
    advice: str = Field(description="What to do, in words.")
    vital: str | None
    value: float | None
    threshold: float | None
    source: str
    resolved_at: str | None = Field(description="When a later reading was back within limits.")


class BlockerOut(BaseModel):
    code: str
    message: str
    field: str = Field(description="The form field or event the blocker concerns.")


class SideEffectOut(BaseModel):
    name: str
    severity: str = Field(description="mild, moderate or severe.")
    at: str


class AdjunctOut(BaseModel):
    drug: str
    dose: str = Field(description="The dose as charted, with its unit.")
    at: str


class ChartSummary(BaseModel):
    """What the chart adds up to so far."""

    state: str
    delivered_mg: float
    delivered_mg_per_kg: float
    infusing_min: float
    pauses: int
    rate_changes: int
    completed: bool | None
    stopped_early: bool
    stop_reason: str | None
    tolerability_rating: int | None
    segments: list[list[float]] = Field(
        description="Each stretch of constant rate: [start_min, end_min, rate_mg_per_h], "
        "minutes from the first start."
    )
    bag_empty: bool
    alerts: list[AlertOut]
    side_effects: list[SideEffectOut]
    adjuncts: list[AdjunctOut]
    voided: list[int]
    allowed_events: list[str]
    start_blockers: list[BlockerOut]
    discharge_blockers: list[BlockerOut]
    discharge_from: str | None = Field(description="When the patient may leave, at the earliest.")


class ChartEvent(BaseModel):
    """One charted event: ``type`` and ``at``, and the fields of that type (the others are
    left out of the JSON)."""

    type: str = Field(examples=["start"])
    at: str = Field(description="An ISO 8601 time with its UTC offset.")
    systolic: float | None = Field(None, description="mmHg (check_in, vitals).")
    diastolic: float | None = Field(None, description="mmHg (check_in, vitals).")
    heart_rate: float | None = Field(None, description="Per minute (check_in, vitals).")
    spo2: float | None = Field(None, description="% (check_in, vitals).")
    resp_rate: float | None = Field(None, description="Per minute (check_in, vitals).")
    rate_ml_per_h: float | None = Field(None, description="The pump rate (start, rate).")
    concentration_mg_per_ml: float | None = Field(None, description="The bag's (start).")
    reason: str | None = Field(
        None, description="pause, stop, complete, hold_override, correction."
    )
    completed: bool | None = Field(None, description="stop.")
    name: str | None = Field(None, description="side_effect.")
    severity: str | None = Field(None, description="side_effect: mild, moderate or severe.")
    drug: str | None = Field(None, description="adjunct.")
    dose: str | None = Field(None, description="adjunct, with its unit.")
    rating: int | None = Field(None, description="tolerability, 1 to 5.")
    text: str | None = Field(None, description="note.")
    note: str | None = Field(None, description="discharge.")
    vitals_within_limits: bool | None = Field(None, description="discharge checklist.")
    oriented_and_steady: bool | None = Field(None, description="discharge checklist.")
    escort_present: bool | None = Field(None, description="discharge checklist.")
    checked_by: str | None = Field(None, description="discharge: who ticked the checklist.")
    voids_seq: int | None = Field(None, description="correction: the entry voided (1 first).")


__all__ = ["AdjunctOut", "AlertOut", "BlockerOut", "ChartEvent", "ChartSummary"]
