"""Public holidays of a region for any year, from the maintained ``holidays`` package.

The clinic calendar used to carry a typed list of dates that ended in 2027: a course scheduled
in 2028 would have booked infusions on Thanksgiving. The ``holidays`` package (python-holidays,
"Open World Holidays Framework") computes each country's and subdivision's holidays for any
year, observed days included (a Saturday Christmas closes the Friday before), and is released
monthly as governments change their calendars. The domain (:mod:`ketaplan.clinical.calendar`)
sees only :class:`~ketaplan.clinical.calendar.PublicHolidays`; this adapter is the one module
that imports the package.

A region is written as ISO 3166 codes: a country (``"US"``, ``"GB"``, ``"DE"``) or a country and
one of its subdivisions (``"US-CA"``, ``"DE-BY"``, ``"GB-SCT"``).

Examples
--------
>>> from datetime import date
>>> us = region_holidays("US")
>>> [us.closes_on(date(2030, 11, 28)), us.closes_on(date(2030, 11, 27))]
[True, False]
>>> us.name_on(date(2030, 7, 4))
'Independence Day'
>>> region_holidays("US-CA").closes_on(date(2030, 3, 31))  # Cesar Chavez Day
True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date

from ketaplan.errors import InputError

FIRST_YEAR, LAST_YEAR = 1950, 2200
"""Years a clinic's schedule can fall in; outside them a date is a typo, not a booking."""


@functools.lru_cache(maxsize=256)
def _year(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    """One year's holidays of a region, by date (cached: the scheduler asks day by day)."""
    import holidays  # here, not at the top: importing it costs ~150 ms of every command

    _check(country, subdivision, f"{country}-{subdivision}" if subdivision else country)
    found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return {day: str(name) for day, name in found.items()}


@dataclass(frozen=True, slots=True)
class RegionHolidays:
    """A country's (and optionally one subdivision's) public holidays, every year."""

    country: str
    subdivision: str | None = None

    @property
    def region(self) -> str:
        return self.country if self.subdivision is None else f"{self.country}-{self.subdivision}"

    def name_on(self, day: date) -> str | None:
        """The holiday's name on that date (several joined by "; "), or None."""
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            return None
        return _year(self.country, self.subdivision, day.year).get(day)

    def closes_on(self, day: date) -> bool:
        return self.name_on(day) is not None

    def between(self, first: date, last: date) -> dict[date, str]:
        """The holidays from ``first`` to ``last`` inclusive, by date (for a listing)."""
        return {
            day: name
            for year in range(max(first.year, FIRST_YEAR), min(last.year, LAST_YEAR) + 1)
            for day, name in sorted(_year(self.country, self.subdivision, year).items())
            if first <= day <= last
        }


def region_holidays(
    region: str, *, field: str = "holiday_region", check: bool = True
) -> RegionHolidays:
    """The holidays of ``region`` (``"US"``, ``"US-CA"``); an unknown code is an
    :class:`InputError` that names the field and what is accepted. ``check=False`` (the
    packaged calendar, read by every command) leaves the check to the first date asked,
    so that a command that schedules nothing does not import the library."""
    code = region.strip().upper()
    country, _, subdivision = code.partition("-")
    if check:
        _check(country, subdivision, region, field)
    return RegionHolidays(country, subdivision or None)


def _check(
    country: str, subdivision: str | None, region: str, field: str = "holiday_region"
) -> None:
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        raise InputError(
            f"{field} {region!r} is not a country the holidays library knows: give an ISO 3166 "
            "country code such as 'US', 'GB' or 'DE', optionally with a subdivision ('US-CA')",
            code="input.unknown_holiday_region",
            fields={"field": field, "value": region},
        )
    if subdivision and subdivision not in supported[country]:
        raise InputError(
            f"{field} {region!r}: {subdivision!r} is not a subdivision of {country}; accepted: "
            f"{', '.join(supported[country])}",
            code="input.unknown_holiday_region",
            fields={"field": field, "value": region},
        )
