"""The shared readers of typed values (ketaplan.inputs): what they accept and refuse."""

from __future__ import annotations

import math
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaplan.errors import InputError
from ketaplan.inputs import (
    LINE_PATTERN,
    MULTILINE_PATTERN,
    check_text,
    clinic_date,
    decimal_number,
    whole_number,
)


def _has_control(text: str, multiline: bool) -> bool:
    allowed = "\t\n\r" if multiline else ""
    return any(unicodedata.category(c) in ("Cc", "Cs") and c not in allowed for c in text)


@given(text=st.text(alphabet=st.characters(codec=None)), multiline=st.booleans())
def test_text_is_refused_exactly_when_it_holds_a_control_character(
    text: str, multiline: bool
) -> None:
    if _has_control(text, multiline):
        with pytest.raises(InputError) as refused:
            check_text(text, field="note", multiline=multiline)
        assert refused.value.fields == {"field": "note"}
        assert refused.value.code == "input.control_character"
    else:
        assert check_text(text, field="note", multiline=multiline) == text


@given(text=st.text(alphabet=st.characters(exclude_categories=("Cs",))), multiline=st.booleans())
def test_the_documented_pattern_says_what_the_check_does(text: str, multiline: bool) -> None:
    pattern = MULTILINE_PATTERN if multiline else LINE_PATTERN
    matches = re.fullmatch(pattern, text) is not None
    assert matches == (not _has_control(text, multiline))


@given(value=st.integers(min_value=0, max_value=2**31 - 1))
def test_a_whole_number_in_range_reads_back(value: int) -> None:
    assert whole_number(f" {value} ", field="n", low=0, high=2**31 - 1) == value


@pytest.mark.parametrize("typed", ["²", "٣", "1e3", "-1", "1.0", "", " ", str(2**31), "9" * 30])
def test_a_whole_number_is_ascii_digits_in_range(typed: str) -> None:
    with pytest.raises(InputError) as refused:
        whole_number(typed, field="number", low=0, high=2**31 - 1)
    assert refused.value.fields["field"] == "number"


@pytest.mark.parametrize("typed", ["nan", "inf", "-inf", "1e308", "١", "x", "", "101"])
def test_a_decimal_is_finite_and_in_range(typed: str) -> None:
    with pytest.raises(InputError):
        decimal_number(typed, field="dose", low=0, high=100)


@given(value=st.floats(min_value=0, max_value=100))
def test_a_decimal_in_range_reads_back(value: float) -> None:
    read = decimal_number(repr(value), field="dose", low=0, high=100)
    assert math.isclose(read, value)


@pytest.mark.parametrize(
    "typed", ["9999-12-31", "0001-01-01", "1899-12-31", "2201-01-01", "²026-01-01", "2026-02-30"]
)
def test_a_date_is_one_a_clinic_could_mean(typed: str) -> None:
    with pytest.raises(InputError) as refused:
        clinic_date(typed, field="first_day")
    assert refused.value.fields["field"] == "first_day"
