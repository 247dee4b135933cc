"""Outcome scales scored by their published rules.

Sources, cited per test: Kroenke, Spitzer & Williams 2001 (PHQ-9); Spitzer et al. 2006
(GAD-7); National Center for PTSD, PCL-5 scoring (PCL-5); Rush et al. 2003 (QIDS-SR16).
"""

from __future__ import annotations

import pytest

from ketaplan.clinical.outcomes import (
    detect_relapse,
    is_remission,
    is_response,
    parse_answers,
    score,
)
from ketaplan.errors import InputError

# Kroenke 2001: PHQ-9 total 0-27; 0-4 minimal, 5-9 mild, 10-14 moderate, 15-19 moderately
# severe, 20-27 severe.
PHQ9_BANDS = [
    (0, "minimal"),
    (4, "minimal"),
    (5, "mild"),
    (9, "mild"),
    (10, "moderate"),
    (14, "moderate"),
    (15, "moderately_severe"),
    (19, "moderately_severe"),
    (20, "severe"),
    (27, "severe"),
]


def _answers_for(total: int, items: int, item_max: int) -> list[int]:
    answers = []
    for _ in range(items):
        value = min(item_max, total)
        answers.append(value)
        total -= value
    return answers


@pytest.mark.parametrize(("total", "band"), PHQ9_BANDS)
def test_phq9_totals_fall_in_kroenke_2001_bands(total: int, band: str) -> None:
    answers = _answers_for(total, 9, 3)
    result = score("phq9", answers)
    assert (result.total, result.severity) == (total, band)


def test_phq9_sums_the_nine_items_of_the_brief_example() -> None:
    result = score("phq9", parse_answers("1,2,0,1,3,0,1,2,0"))
    assert result.to_dict() == {"scale": "phq9", "total": 10, "severity": "moderate", "flags": []}


def test_phq9_item_nine_above_zero_flags_same_day_review_per_kroenke_2001() -> None:
    assert score("phq9", [0] * 8 + [1]).flags == ("phq9.item9_positive",)
    assert score("phq9", [3] * 8 + [0]).flags == ()


# Spitzer 2006: GAD-7 total 0-21; 5, 10, 15 = mild, moderate, severe; >= 10 screens positive.
@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_totals_fall_in_spitzer_2006_bands(total: int, band: str) -> None:
    result = score("gad7", _answers_for(total, 7, 3))
    assert (result.total, result.severity) == (total, band)
    assert ("gad7.screen_positive" in result.flags) == (total >= 10)


def test_pcl5_sums_clusters_b_c_d_e_as_the_national_center_for_ptsd_defines_them() -> None:
    answers = [1, 2, 3, 4, 0, 2, 1, 0, 1, 2, 3, 4, 0, 1, 4, 3, 2, 1, 0, 0]
    result = score("pcl5", answers)
    assert result.total == sum(answers) == 34
    assert result.details["clusters"] == {"B": 10, "C": 3, "D": 11, "E": 10}


def test_pcl5_provisional_diagnosis_needs_one_b_one_c_two_d_two_e_items_rated_two_or_more() -> None:
    # National Center for PTSD: item >= 2 endorsed; >= 1 B, >= 1 C, >= 2 D, >= 2 E.
    meets = [2, 0, 0, 0, 0, 2, 0, 2, 2, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0]
    assert score("pcl5", meets).details["provisional_ptsd"] is True
    one_d_only = [2, 0, 0, 0, 0, 2, 0, 2, 1, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0]
    assert score("pcl5", one_d_only).details["provisional_ptsd"] is False
    no_c = [4, 4, 4, 4, 4] + [1, 1] + [4] * 7 + [4] * 6
    result = score("pcl5", no_c)
    assert result.details["provisional_ptsd"] is False
    assert result.total == 74  # far above the 31-33 cut-off, yet no C symptom endorsed
    assert "pcl5.above_cutoff" in result.flags


def test_pcl5_cutoff_is_reported_as_the_31_to_33_range() -> None:
    assert score("pcl5", _answers_for(30, 20, 4)).severity == "below_cutoff"
    result = score("pcl5", _answers_for(31, 20, 4))
    assert result.severity == "at_or_above_cutoff"
    assert result.details["cutoff_range"] == [31, 33]


def test_qids_sr16_takes_domain_maxima_as_rush_2003_prescribes() -> None:
    # Items 1-4 sleep (max), 5 once, 6-9 appetite/weight (max), 10-14 once, 15-16 psychomotor (max).
    answers = [1, 3, 0, 2, 2, 0, 1, 3, 2, 1, 1, 0, 2, 1, 2, 3]
    result = score("qids_sr16", answers)
    assert result.details["domains"] == {
        "sleep": 3,
        "sad_mood": 2,
        "appetite_weight": 3,
        "concentration": 1,
        "self_view": 1,
        "suicidal_ideation": 0,
        "interest": 2,
        "energy": 1,
        "psychomotor": 3,
    }
    assert result.total == 16
    assert result.severity == "severe"


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (5, "none"),
        (6, "mild"),
        (10, "mild"),
        (11, "moderate"),
        (15, "moderate"),
        (16, "severe"),
        (20, "severe"),
        (21, "very_severe"),
        (27, "very_severe"),
    ],
)
def test_qids_sr16_bands_follow_rush_2003(total: int, band: str) -> None:
    # Nine domains of 0-3: fill them one by one using the first item of each domain.
    domain_first_items = [1, 5, 6, 10, 11, 12, 13, 14, 15]
    answers = [0] * 16
    remaining = total
    for item in domain_first_items:
        answers[item - 1] = min(3, remaining)
        remaining -= answers[item - 1]
    result = score("qids_sr16", answers)
    assert (result.total, result.severity) == (total, band)


def test_qids_sr16_item_twelve_flags_suicidal_ideation_for_review() -> None:
    answers = [0] * 16
    answers[11] = 1
    assert score("qids_sr16", answers).flags == ("qids_sr16.item12_positive",)


def test_pain_nrs_is_one_rating_from_zero_to_ten() -> None:
    assert score("pain_nrs", [7]).severity == "severe"
    assert score("pain_nrs", [0]).severity == "none"
    with pytest.raises(InputError, match="accepted 0-10"):
        score("pain_nrs", [11])


def test_tolerability_rating_of_three_or_more_is_flagged_as_poorly_tolerated() -> None:
    assert score("tolerability", [3]).flags == ("tolerability.poorly_tolerated",)
    assert score("tolerability", [2]).flags == ()


@pytest.mark.parametrize(
    ("scale", "answers", "message"),
    [
        ("phq9", [1, 2, 0], "9 items; got 3"),
        ("phq9", [1] * 10, "9 items; got 10"),
        ("phq9", [1, 2, 0, 1, 4, 0, 1, 2, 0], "item 5 is 4; accepted 0-3"),
        ("phq9", [1, 2, 0, 1, -1, 0, 1, 2, 0], "accepted 0-3"),
        ("phq9", [1, 2, None, 1, 1, 0, 1, 2, 0], "item 3 is missing"),
        ("gad7", [0, 1, 2, 3, 0, 1], "7 items; got 6"),
        ("gad7", [0, 1, 2, 3, 0, 1, 1.5], "not a whole number"),
        ("pcl5", [0] * 19, "20 items; got 19"),
        ("pcl5", [0] * 19 + [5], "item 20 is 5; accepted 0-4"),
        ("qids_sr16", [0] * 15, "16 items; got 15"),
        ("qids_sr16", [0] * 15 + [4], "accepted 0-3"),
        ("pain_nrs", [], "1 items; got 0"),
    ],
)
def test_malformed_answers_are_refused_with_what_is_accepted(
    scale: str, answers: list[object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        score(scale, answers)


def test_typed_answers_with_a_gap_or_a_word_are_refused() -> None:
    with pytest.raises(InputError, match="answer 3 is missing"):
        parse_answers("1,2,,1")
    with pytest.raises(InputError, match="'x', not a whole number"):
        parse_answers("1,x")


def test_unknown_scale_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"unknown scale 'madrs'.*phq9"):
        score("madrs", [0])


def test_response_is_half_the_baseline_for_mood_and_thirty_percent_for_pain() -> None:
    assert is_response("phq9", 20, 10)
    assert not is_response("phq9", 20, 11)
    assert is_response("pain_nrs", 10, 7)
    assert not is_response("pain_nrs", 10, 8)


def test_remission_is_phq9_below_five_gad7_below_five_qids_five_or_less() -> None:
    assert is_remission("phq9", 4)
    assert not is_remission("phq9", 5)
    assert is_remission("gad7", 4)
    assert not is_remission("gad7", 5)
    assert is_remission("qids_sr16", 5)
    assert not is_remission("qids_sr16", 6)
    assert not is_remission("pcl5", 0)  # the PCL-5 defines no remission cut-off


def test_relapse_is_a_score_back_over_its_threshold_after_the_series() -> None:
    finding = detect_relapse("phq9", 4, [6, 11])
    assert finding.relapsed
    assert finding.at_index == 1
    assert "back at or above 10" in finding.reason


def test_relapse_is_also_a_score_rising_across_two_measurements() -> None:
    finding = detect_relapse("phq9", 3, [5, 7])
    assert finding.relapsed
    assert "rose across the two latest measurements (3 -> 5 -> 7)" in finding.reason


def test_steady_low_scores_are_no_relapse() -> None:
    assert not detect_relapse("phq9", 4, [5, 4]).relapsed
    assert not detect_relapse("phq9", 4, []).relapsed
