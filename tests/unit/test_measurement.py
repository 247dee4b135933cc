"""The questionnaire schedule per protocol (catalog data) and the questionnaires due from it."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from ketaplan.clinical.catalog import build_catalog
from ketaplan.clinical.measurement import (
    QuestionnaireSchedule,
    due_questionnaires,
    load_schedules,
)
from ketaplan.errors import CatalogError

SERIES = tuple(date(2026, 12, 7) + timedelta(days=d) for d in (0, 2, 4, 7, 9, 11))
"""Six infusions in a little under two weeks (Mon, Wed, Fri, Mon, Wed, Fri)."""
MOOD = QuestionnaireSchedule("mood", ("phq9",), True, 14, {})


def _due(
    schedule: QuestionnaireSchedule, today: date, **answered: tuple[date, ...]
) -> list[tuple[str, date]]:
    found = due_questionnaires(
        schedule, session_days=SERIES, answered=answered, today=today, answer_window_days=3
    )
    return [(d.scale, d.due_on) for d in found]


def test_every_protocol_of_the_catalog_has_a_schedule_whose_every_number_is_cited() -> None:
    catalog = build_catalog()
    schedules = load_schedules(catalog.sources)
    for key, protocol in catalog.protocols.items():
        schedule = schedules.for_protocol(key, protocol.category)
        assert schedule.scales, key
        assert {"scales", "follow_up_every_days"} <= set(schedule.sources), key
    assert schedules.for_protocol("anxiety", "mood").scales == ("phq9", "gad7")
    assert schedules.for_protocol("ptsd", "mood").scales == ("phq9", "pcl5")
    assert schedules.for_protocol("crps", "pain").scales == ("phq9", "pain_nrs")
    assert schedules.for_protocol("depression", "mood").follow_up_every_days == 14


def test_a_phq9_is_due_before_each_infusion_and_answering_it_in_the_window_clears_it() -> None:
    assert _due(MOOD, SERIES[0]) == [("phq9", SERIES[0])]
    assert _due(MOOD, SERIES[0], phq9=(SERIES[0],)) == []
    # The day after infusion 1, infusion 2 is within the 3-day window and not answered for.
    assert _due(MOOD, SERIES[0] + timedelta(days=1), phq9=(SERIES[0],)) == [("phq9", SERIES[1])]
    # An answer the day before infusion 2 counts for it.
    assert _due(MOOD, SERIES[1], phq9=(SERIES[0], SERIES[1] - timedelta(days=1))) == []


def test_nothing_is_due_more_than_the_window_before_the_next_infusion() -> None:
    before_series = SERIES[0] - timedelta(days=4)
    assert _due(MOOD, before_series) == []
    assert _due(MOOD, SERIES[0] - timedelta(days=3)) == [("phq9", SERIES[0])]


def test_after_the_series_a_phq9_is_due_every_two_weeks_from_the_last_answer() -> None:
    last = SERIES[-1]
    assert _due(MOOD, last + timedelta(days=13), phq9=(last,)) == []
    assert _due(MOOD, last + timedelta(days=14), phq9=(last,)) == [
        ("phq9", last + timedelta(days=14))
    ]
    answered_later = last + timedelta(days=15)
    assert _due(MOOD, last + timedelta(days=20), phq9=(last, answered_later)) == []
    assert _due(MOOD, answered_later + timedelta(days=14), phq9=(last, answered_later)) == [
        ("phq9", answered_later + timedelta(days=14))
    ]


def test_an_anxiety_schedule_asks_each_of_its_scales_on_its_own() -> None:
    anxiety = QuestionnaireSchedule("anxiety", ("phq9", "gad7"), True, 14, {})
    assert _due(anxiety, SERIES[0], phq9=(SERIES[0],)) == [("gad7", SERIES[0])]


def test_a_patient_with_no_series_is_due_nothing() -> None:
    found = due_questionnaires(
        MOOD, session_days=(), answered={}, today=date(2026, 12, 7), answer_window_days=3
    )
    assert found == ()


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('scales = ["phq10"]\nfollow_up_every_days = 14', "scales"),
        ('scales = ["phq9"]\nfollow_up_every_days = 400', "0 to 365"),
        ('scales = ["phq9"]\nfollow_up_every_days = 14\nevery = 3', "unknown keys"),
    ],
)
def test_a_schedule_file_with_a_mistake_is_refused_naming_it(
    tmp_path: Path, table: str, problem: str
) -> None:
    path = tmp_path / "questionnaires.toml"
    path.write_text(
        "[questionnaire_schedule]\nanswer_window_days = 3\n"
        'sources = { answer_window_days = "clinic_policy" }\n'
        f"[questionnaire_schedule.mood]\n{table}\n"
        'sources = { scales = "seed_001", follow_up_every_days = "kroenke_2001" }\n',
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match=problem):
        load_schedules(path=path)


def test_a_schedule_number_without_a_known_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "questionnaires.toml"
    path.write_text(
        "[questionnaire_schedule]\nanswer_window_days = 3\n"
        'sources = { answer_window_days = "clinic_policy" }\n'
        '[questionnaire_schedule.mood]\nscales = ["phq9"]\nfollow_up_every_days = 14\n'
        'sources = { scales = "seed_001", follow_up_every_days = "a_blog" }\n',
        encoding="utf-8",
    )
    with pytest.raises(CatalogError, match="needs a source"):
        load_schedules(path=path)


def test_the_default_crisis_message_is_the_988_lifeline_with_its_source() -> None:
    catalog = build_catalog()
    assert "call or text 988" in catalog.clinic.crisis_message
    assert "988 Suicide & Crisis Lifeline" in catalog.sources["lifeline_988"]


def test_a_clinic_file_sets_its_own_crisis_message(tmp_path: Path) -> None:
    own = tmp_path / "clinic.toml"
    own.write_text(
        '[clinic]\ncrisis_message = "Call Samaritans free on 116 123 (UK and Ireland)."\n',
        encoding="utf-8",
    )
    assert build_catalog([own]).clinic.crisis_message.startswith("Call Samaritans")
