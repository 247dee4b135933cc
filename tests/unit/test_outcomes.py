"""Outcome scales scored by their published rules.

Sources, cited per test: Kroenke, Spitzer & Williams 2001 (PHQ-9); Spitzer et al. 2006
(GAD-7); National Center for PTSD, PCL-5 scoring (PCL-5); Rush et al. 2003 (QIDS-SR16).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaplan.clinical.outcomes import (
    SCALES,
    assess_outcome,
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


# Relapse after the series (issue 13, item 5): leaving remission, or a rise of at least the
# scale's reliable change; a rise inside remission, or a smaller one, is noise. Sources per
# scale: PHQ-9 5 points, Löwe et al., Med Care 2004;42:1194 (minimal clinically important
# individual change, 2 SEM); GAD-7 4 points, Toussaint et al., J Affect Disord 2020;265:395;
# PCL-5 15 points, Marx et al., Psychol Assess 2022;34:197 (reliable change index, sample 1);
# pain NRS 2 points, Farrar et al., Pain 2001;94:149; QIDS-SR16 5 points, clinic policy.
# Remission: PHQ-9 and GAD-7 4 or less (Kroenke 2001; Spitzer 2006), QIDS-SR16 5 or less
# (Rush 2003).
@pytest.mark.parametrize(
    ("key", "end", "follow_up", "rule"),
    [
        ("phq9", 4, [6, 11], "left_remission"),
        ("phq9", 4, [5], "left_remission"),
        ("phq9", 3, [4], None),  # a rise inside remission
        ("phq9", 0, [4], None),
        ("phq9", 9, [10], None),  # into the moderate band by 1 point: noise
        ("phq9", 6, [10], None),
        ("phq9", 6, [11], "reliable_change"),
        ("phq9", 3, [5, 7], "left_remission"),
        ("phq9", 8, [13, 8], None),  # judged on the latest score
        ("gad7", 6, [9], None),
        ("gad7", 6, [10], "reliable_change"),
        ("gad7", 2, [5], "left_remission"),
        ("pcl5", 20, [34], None),
        ("pcl5", 20, [35], "reliable_change"),
        ("pain_nrs", 3, [4], None),
        ("pain_nrs", 3, [5], "reliable_change"),
        ("qids_sr16", 5, [5], None),
        ("qids_sr16", 5, [6], "left_remission"),
        ("qids_sr16", 7, [12], "reliable_change"),
    ],
)
def test_relapse_is_leaving_remission_or_a_reliable_rise_and_says_which_rule_fired(
    key: str, end: int, follow_up: list[int], rule: str | None
) -> None:
    finding = detect_relapse(key, end, follow_up)
    assert finding.relapsed == (rule is not None)
    assert finding.rule == rule
    assert finding.at_index == len(follow_up) - 1
    if rule == "reliable_change":
        spec = SCALES[key]
        assert f"reliable change is {spec.reliable_change_points} points" in finding.reason
        assert spec.reliable_change_source in finding.reason
    if rule == "left_remission":
        assert "out of remission" in finding.reason


def test_a_non_relapse_in_the_moderate_band_still_says_symptoms_persist() -> None:
    finding = detect_relapse("phq9", 12, [14])
    assert not finding.relapsed
    assert "within measurement noise" in finding.reason
    assert "symptoms persist" in finding.reason


def test_no_follow_up_is_no_relapse() -> None:
    assert not detect_relapse("phq9", 4, []).relapsed


def test_every_symptom_scale_names_its_reliable_change_and_where_it_comes_from() -> None:
    for spec in SCALES.values():
        if spec.category == "tolerability":
            continue
        assert spec.reliable_change_points is not None
        assert spec.reliable_change_points > 0
        source = spec.reliable_change_source
        assert "clinic policy" in source or any(year in source for year in ("20", "19"))


SYMPTOM_SCALES = [k for k, v in SCALES.items() if v.category != "tolerability"]


@st.composite
def follow_ups(draw: st.DrawFn) -> tuple[str, int, list[int]]:
    key = draw(st.sampled_from(SYMPTOM_SCALES))
    top = SCALES[key].total_max
    end = draw(st.integers(0, top))
    return key, end, draw(st.lists(st.integers(0, top), min_size=1, max_size=4))


@settings(max_examples=400, deadline=None)
@given(follow_ups())
def test_relapse_rules_hold_for_any_scores(case: tuple[str, int, list[int]]) -> None:
    key, end, totals = case
    spec = SCALES[key]
    latest = totals[-1]
    finding = detect_relapse(key, end, totals)
    in_remission = spec.remission_max is not None and latest <= spec.remission_max
    ended_in_remission = spec.remission_max is not None and end <= spec.remission_max
    reliable = latest - end >= (spec.reliable_change_points or 0)
    if in_remission:
        assert not finding.relapsed  # a rise inside remission is not a relapse
    elif ended_in_remission:
        assert finding.rule == "left_remission"
    elif reliable:
        assert finding.rule == "reliable_change"
    else:
        assert not finding.relapsed
    assert finding.relapsed == (finding.rule is not None)
    # a relapse is never a fall, nor a rise smaller than the scale's reliable change unless
    # it leaves remission
    if finding.relapsed:
        assert latest > end
        assert finding.rule == "left_remission" or reliable


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(SYMPTOM_SCALES),
    baseline=st.none() | st.integers(0, 80),
    latest=st.integers(0, 80),
)
def test_outcome_reports_response_against_baseline_and_remission_on_the_latest_score(
    key: str, baseline: int | None, latest: int
) -> None:
    spec = SCALES[key]
    latest = min(latest, spec.total_max)
    baseline = None if baseline is None else min(baseline, spec.total_max)
    outcome = assess_outcome(key, baseline, latest)
    if baseline is None:
        assert outcome.response is None
    else:
        assert outcome.response == is_response(key, baseline, latest)
    if spec.remission_max is None:
        assert outcome.remission is None
        assert "no remission cut-off" in outcome.reason
    else:
        assert outcome.remission == is_remission(key, latest)
        assert ("not in remission" in outcome.reason) != outcome.remission


def test_outcome_of_the_kroenke_2001_example_is_response_and_remission() -> None:
    outcome = assess_outcome("phq9", 19, 4)
    assert (outcome.response, outcome.remission) == (True, True)
    assert outcome.to_dict()["reduction_from_baseline"] == 0.789
