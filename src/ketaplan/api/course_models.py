"""A course's schedule and its booster plan as typed response models.

They describe :meth:`ketaplan.clinical.course.CoursePlan.to_dict` (the schedule, also stored
with the course), :meth:`ketaplan.services.courses.BookedCourse.schedule_dict` (the front
desk's part of it) and :meth:`ketaplan.clinical.course.BoosterPlan.to_dict`, field by field.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class Appointment(BaseModel):
    """One session of the series, booked."""

    number: int
    date: dt.date
    start: str = Field(description="ISO 8601 with the clinic's UTC offset.")
    end: str = Field(description="ISO 8601 with the clinic's UTC offset.")
    weekday: str = Field(examples=["Mon"])
    status: str = Field(examples=["scheduled"])


class SpacingOut(BaseModel):
    """The spacing rules in force: the stricter of the protocol's and the clinic's."""

    min_hours_between: float
    max_per_week: int
    appointment_min: float


class Schedule(BaseModel):
    """A course's schedule: the appointments, the missed ones, and whether the series fits
    the protocol's window."""

    protocol: str
    sessions: list[Appointment]
    missed: list[Appointment]
    window_last_day: dt.date
    completes_within_window: bool
    problems: list[str]
    spacing: SpacingOut


class Bookings(BaseModel):
    """The front desk's part of a schedule: the appointments and the missed ones."""

    sessions: list[Appointment]
    missed: list[Appointment]


class BoosterRecommendationOut(BaseModel):
    trigger: str = Field(description="relapse or maintenance.")
    dates: list[dt.date]
    window: list[dt.date] = Field(description="[earliest, latest] day to give it.")
    reason: str


class RelapseCheck(BaseModel):
    scale: str
    relapsed: bool
    rule: str | None = Field(description="left_remission or reliable_change, when relapsed.")
    reason: str


class BoosterPlanOut(BaseModel):
    """Reassessment after the series, and booster recommendations, each with its reason."""

    series_end: dt.date
    reassess_on: dt.date
    interval_weeks: list[int] = Field(description="[fewest, most] weeks between boosters.")
    consecutive_days: int
    recommendations: list[BoosterRecommendationOut]
    relapse_checks: list[RelapseCheck]


__all__ = ["Appointment", "Bookings", "BoosterPlanOut", "Schedule"]
