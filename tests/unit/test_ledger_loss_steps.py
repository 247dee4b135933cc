"""A loss case's step is refused with every problem at once (issue 18, item 7): what the step
itself lacks and what the case's state refuses, each naming its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ketaplan.clinical.ledger import LossEvent, append_step, fold_case, step_problems
from ketaplan.errors import InputError, InputErrors

DISCOVERED = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)
OPEN = LossEvent(1, 1, "open", DISCOVERED, 7, "two vials gone from the safe", "loss", "K-1 K-2")


def _fields(refused: InputError) -> list[str]:
    parts = refused.errors if isinstance(refused, InputErrors) else (refused,)
    return [str(p.fields["field"]) for p in parts]


def test_opening_without_a_kind_or_a_description_names_both() -> None:
    bare = LossEvent(1, 1, "open", DISCOVERED, 7, " ", None)
    with pytest.raises(InputErrors) as refused:
        fold_case([bare])
    assert _fields(refused.value) == ["kind", "text"]


def test_a_second_form_106_without_a_reference_names_the_step_and_the_reference() -> None:
    filed = LossEvent(2, 1, "form_106", DISCOVERED + timedelta(days=3), 7, reference="F-1")
    again = LossEvent(3, 1, "form_106", DISCOVERED + timedelta(days=4), 7, reference="")
    with pytest.raises(InputErrors) as refused:
        append_step([OPEN, filed], again)
    assert _fields(refused.value) == ["step", "reference"]


def test_a_resolution_before_the_discovery_without_its_text_names_the_time_and_the_text() -> None:
    early = LossEvent(2, 1, "resolve", DISCOVERED - timedelta(hours=1), 7, "")
    with pytest.raises(InputErrors) as refused:
        append_step([OPEN], early)
    assert _fields(refused.value) == ["at", "text"]


def test_a_step_of_a_resolved_case_is_one_refusal_and_a_good_step_folds() -> None:
    resolved = append_step([OPEN], LossEvent(2, 1, "resolve", DISCOVERED, 7, "found in the safe"))
    assert not resolved.open
    closing = LossEvent(2, 1, "resolve", DISCOVERED, 7, "found in the safe")
    with pytest.raises(InputError) as refused:
        append_step([OPEN, closing], LossEvent(3, 1, "note", DISCOVERED, 7, "checked again"))
    assert _fields(refused.value) == ["case_id"]


@pytest.mark.parametrize(
    ("step", "kind", "text", "reference", "fields"),
    [
        ("open", None, "", "", ["kind", "text"]),
        ("open", "theft", "forced lock", "", []),
        ("notice", None, "", "", []),
        ("form_106", None, "", " ", ["reference"]),
        ("note", None, " ", "", ["text"]),
        ("resolve", None, "recount matched", "", []),
    ],
)
def test_a_steps_own_fields_are_checked_without_its_case(
    step: str, kind: str | None, text: str, reference: str, fields: list[str]
) -> None:
    found = step_problems(step, kind=kind, text=text, reference=reference)
    assert [str(p.fields["field"]) for p in found] == fields
