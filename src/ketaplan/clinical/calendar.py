"""The clinic calendar a course is scheduled against: open days and hours, holidays, spacing.

A clinic's calendar is data (``catalog/calendar.toml`` by default, or a clinic's own TOML/JSON
file); this module holds the value and the checks every appointment must pass. Times are
timezone-aware in the clinic's zone (zoneinfo), so a course across a daylight-saving change
keeps its local appointment times while the hours between infusions are counted in real time.

Examples
--------
>>> from datetime import date, time
>>> cal = ClinicCalendar(
...     time_zone="America/Los_Angeles", open_weekdays=frozenset({0, 1, 2, 3, 4}),
...     open_time=time(8), close_time=time(17), session_times=(time(9),),
...     holidays=frozenset({date(2026, 12, 25)}), min_hours_between=20, max_per_week=5)
>>> [cal.is_open(date(2026, 12, d)) for d in (25, 26, 28)]
[False, False, True]
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ketaplan.errors import InputError


def elapsed_h(earlier: datetime, later: datetime) -> float:
    """Real hours between two aware times.

    Python subtracts two datetimes that share one tzinfo (a ZoneInfo) as wall-clock times, so
    09:00 Saturday to 09:00 Sunday across the spring DST change would count 24 h instead of
    23 h; converting to UTC first counts the hours that really pass.
    """
    return (later.astimezone(UTC) - earlier.astimezone(UTC)).total_seconds() / 3600


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class PublicHolidays(Protocol):
    """A region's public holidays for any year (the adapter :mod:`ketaplan.public_holidays`
    reads them from the ``holidays`` package): the domain asks only whether a day is one.

    Implementations are frozen values (equal when they name the same region), so a calendar
    holding one stays comparable and hashable."""

    @property
    def region(self) -> str: ...

    def closes_on(self, day: date) -> bool: ...


@dataclass(frozen=True, slots=True)
class ClinicCalendar:
    """When a clinic gives infusions.

    ``min_hours_between`` and ``max_per_week`` are the clinic's own spacing rules; a course uses
    the stricter of these and its protocol's series policy. ``max_per_week`` counts any seven
    consecutive days (a rolling week), which is stricter than a calendar week and needs no
    convention about when a week starts.
    """

    time_zone: str
    open_weekdays: frozenset[int]
    open_time: time
    close_time: time
    session_times: tuple[time, ...]
    holidays: frozenset[date]
    min_hours_between: float
    max_per_week: int
    public_holidays: PublicHolidays | None = None

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError(
                f"calendar time_zone {self.time_zone!r} is not an IANA time zone "
                "(e.g. 'America/Los_Angeles')",
                code="input.unknown_time_zone",
                fields={"field": "time_zone", "value": self.time_zone},
            ) from None
        if not self.open_weekdays or not self.open_weekdays <= set(range(7)):
            raise InputError(
                "calendar open_weekdays must name at least one day of mon..sun",
                code="input.invalid_calendar",
                fields={"field": "open_weekdays"},
            )
        if self.open_time >= self.close_time:
            raise InputError(
                "calendar open_time must be before close_time",
                code="input.invalid_calendar",
                fields={"field": "open_time"},
            )
        if not self.session_times:
            raise InputError(
                "calendar session_times must offer at least one appointment time",
                code="input.invalid_calendar",
                fields={"field": "session_times"},
            )
        for slot in self.session_times:
            if not self.open_time <= slot < self.close_time:
                raise InputError(
                    f"calendar session time {slot:%H:%M} lies outside opening hours "
                    f"{self.open_time:%H:%M}-{self.close_time:%H:%M}",
                    code="input.invalid_calendar",
                    fields={"field": "session_times", "value": f"{slot:%H:%M}"},
                )
        if self.max_per_week < 1 or self.min_hours_between < 0:
            raise InputError(
                "calendar max_per_week must be at least 1 and min_hours_between at least 0",
                code="input.invalid_calendar",
                fields={"field": "max_per_week"},
            )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def is_open(self, day: date) -> bool:
        """Open on that date: an open weekday, not a closed date and not a public holiday."""
        return (
            day.weekday() in self.open_weekdays
            and day not in self.holidays
            and (self.public_holidays is None or not self.public_holidays.closes_on(day))
        )

    def appointment(self, day: date, slot: time) -> datetime:
        """The aware start of an appointment at a local time on a date."""
        return datetime.combine(day, slot, tzinfo=self.zone)

    def fits(self, start: datetime, length_min: float) -> bool:
        """The appointment is on an open day and ends (infusion + recovery) by closing time."""
        local = start.astimezone(self.zone)
        if not self.is_open(local.date()) or local.time() < self.open_time:
            return False
        closing = datetime.combine(local.date(), self.close_time, tzinfo=self.zone)
        return local + timedelta(minutes=length_min) <= closing


def violations(
    starts: Sequence[datetime],
    calendar: ClinicCalendar,
    length_min: float,
    min_hours_between: float,
    max_per_week: int,
) -> list[str]:
    """Every calendar constraint a list of appointment starts breaks (empty when none).

    Used by the scheduler as its own final check and by the tests as an independent oracle.
    """
    problems = []
    ordered = sorted(starts, key=lambda s: s.astimezone(UTC))
    for start in ordered:
        if not calendar.fits(start, length_min):
            problems.append(f"{start.isoformat()} is outside the clinic's open days or hours")
    for earlier, later in itertools.pairwise(ordered):
        gap_h = elapsed_h(earlier, later)
        if gap_h < min_hours_between - 1e-9:
            problems.append(
                f"{earlier.isoformat()} and {later.isoformat()} are {gap_h:g} h apart, "
                f"less than {min_hours_between:g} h"
            )
    local_days = [s.astimezone(calendar.zone).date() for s in ordered]
    for i, first in enumerate(local_days):
        within = [d for d in local_days[i:] if (d - first).days < 7]
        if len(within) > max_per_week:
            problems.append(
                f"{len(within)} infusions in the 7 days from {first.isoformat()}, "
                f"more than {max_per_week}"
            )
    return problems
