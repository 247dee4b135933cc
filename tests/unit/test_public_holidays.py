"""Public holidays come from the ``holidays`` package for any year, so a course scheduled
years ahead (2030 here) still skips them; the clinic's own closed dates add to them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_calendar
from ketaplan.clinical.course import schedule_series
from ketaplan.errors import InputError
from ketaplan.public_holidays import region_holidays

THANKSGIVING_2030 = date(2030, 11, 28)  # fourth Thursday of November 2030


def test_a_course_scheduled_across_a_2030_holiday_skips_it(catalog: Catalog) -> None:
    calendar = load_calendar(None, "America/Los_Angeles")
    assert calendar.public_holidays == region_holidays("US")
    plan = schedule_series(catalog.protocol("depression"), date(2030, 11, 25), calendar)
    days = [s.start.date() for s in plan.sessions]
    assert THANKSGIVING_2030 not in days
    assert days[0] == date(2030, 11, 25)
    assert any(d > THANKSGIVING_2030 for d in days)
    without = replace(calendar, public_holidays=None)
    plain = schedule_series(catalog.protocol("depression"), date(2030, 11, 25), without)
    assert THANKSGIVING_2030 in [s.start.date() for s in plain.sessions]


def test_the_clinics_own_closed_dates_add_to_the_regions() -> None:
    calendar = load_calendar(None, "America/Los_Angeles")
    own = replace(calendar, holidays=frozenset({date(2030, 11, 29)}))
    assert [own.is_open(date(2030, 11, d)) for d in (27, 28, 29)] == [True, False, False]


def test_a_subdivision_adds_its_own_holidays() -> None:
    cesar_chavez_day = date(2030, 3, 31)
    assert region_holidays("US-CA").closes_on(cesar_chavez_day)
    assert not region_holidays("US").closes_on(cesar_chavez_day)


@pytest.mark.parametrize("region", ["XX", "US-ZZ", "", "united states"])
def test_an_unknown_region_is_refused_naming_what_is_accepted(region: str) -> None:
    with pytest.raises(InputError) as refused:
        region_holidays(region)
    assert refused.value.code == "input.unknown_holiday_region"
    assert "ISO 3166" in refused.value.message or "subdivision" in refused.value.message


@settings(max_examples=40, deadline=None)
@given(st.dates(date(2028, 1, 1), date(2060, 12, 31)))
def test_no_session_of_any_year_falls_on_a_public_holiday(start: date) -> None:
    from ketaplan.clinical.catalog import load_catalog

    calendar = load_calendar(None, "America/Los_Angeles")
    us = region_holidays("US")
    plan = schedule_series(load_catalog().protocol("depression"), start, calendar)
    for session in plan.sessions:
        assert not us.closes_on(session.start.date()), session.start
