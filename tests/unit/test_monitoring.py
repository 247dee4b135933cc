"""Vital signs are validated; monitoring thresholds are data a clinic can change."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ketaplan.clinical.catalog.course_loader import load_monitoring_rules
from ketaplan.clinical.monitoring import VitalSigns, check_vitals
from ketaplan.errors import CatalogError, InputError

AT = datetime(2026, 12, 7, 9, 0, tzinfo=timezone(timedelta(hours=-8)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"systolic_mmhg": 400, "diastolic_mmhg": 20},
            r"400/20 is not a reading ketaplan accepts: systolic 50-300 mmHg",
        ),
        ({"systolic_mmhg": 80, "diastolic_mmhg": 90}, "systolic must be above the diastolic"),
        ({"systolic_mmhg": 120, "diastolic_mmhg": 120}, "systolic must be above the diastolic"),
        ({"systolic_mmhg": 120}, "needs both systolic and diastolic"),
        ({"spo2_pct": 101}, "SpO2 101 % is outside the accepted 50-100 %"),
        ({"heart_rate_bpm": 0}, "heart rate 0 /min is outside"),
    ],
)
def test_implausible_vital_signs_are_input_errors_saying_what_is_accepted(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        VitalSigns(**kwargs)


def test_default_thresholds_follow_the_reference_and_cite_their_source() -> None:
    rules = {r.code: r for r in load_monitoring_rules().for_category("mood")}
    assert (rules["pre_bp_caution_systolic"].above, rules["pre_bp_caution_systolic"].source) == (
        140,
        "predose_bp",
    )
    assert (rules["pre_bp_caution_diastolic"].above, rules["pre_bp_caution_diastolic"].action) == (
        90,
        "weigh_risk",
    )
    assert (rules["pre_sbp_hold"].above, rules["pre_sbp_hold"].action) == (180, "hold_start")
    assert rules["pre_dbp_hold"].above == 110
    assert rules["pre_hr_hold"].above == 110
    assert rules["pre_spo2_hold"].below == 92
    assert rules["in_sbp_hold"].source == "clinic_policy"
    assert set(load_monitoring_rules().by_category) == {"mood", "pain"}


def test_a_reading_at_the_threshold_does_not_fire_and_one_above_does() -> None:
    rules = load_monitoring_rules().for_category("mood")
    assert check_vitals(VitalSigns(180, 110), "in_infusion", rules, AT) == ()
    codes = [
        a.code for a in check_vitals(VitalSigns(181, 111, 111, 91, 9), "in_infusion", rules, AT)
    ]
    assert codes == [
        "vitals.in_sbp_hold",
        "vitals.in_dbp_hold",
        "vitals.in_hr_hold",
        "vitals.in_spo2_low",
        "vitals.in_rr_low",
    ]


def test_pre_infusion_rules_say_hold_the_start() -> None:
    alerts = check_vitals(
        VitalSigns(185, 100), "pre_infusion", load_monitoring_rules().for_category("mood"), AT
    )
    assert [a.action for a in alerts] == ["weigh_risk", "weigh_risk", "hold_start"]


def test_a_clinic_file_changes_one_threshold_and_keeps_the_rest(tmp_path: Path) -> None:
    clinic = tmp_path / "monitoring.toml"
    clinic.write_text("[monitoring.mood.rules.in_sbp_hold]\nabove = 170\n")
    rules = {r.code: r for r in load_monitoring_rules((clinic,)).for_category("mood")}
    assert rules["in_sbp_hold"].above == 170
    assert rules["in_dbp_hold"].above == 110


def test_a_clinic_rule_without_a_known_source_is_refused_naming_the_file(tmp_path: Path) -> None:
    clinic = tmp_path / "ours.toml"
    clinic.write_text('[monitoring.mood.rules.in_sbp_hold]\nsource = "my_aunt"\n')
    with pytest.raises(CatalogError, match=r"ours.toml: monitoring.mood.rules.in_sbp_hold.source"):
        load_monitoring_rules((clinic,))


def test_every_catalog_alert_names_its_threshold_so_a_clinic_threshold_rewrites_it() -> None:
    from ketaplan.clinical.catalog.course_loader import load_monitoring_rules
    from ketaplan.clinical.monitoring import (
        THRESHOLD_RANGES,
        rule_direction,
        rule_threshold,
        with_thresholds,
    )

    rules = load_monitoring_rules()
    for category, category_rules in rules.by_category.items():
        for rule in category_rules:
            low, high = THRESHOLD_RANGES[(rule.vital, rule_direction(rule))]
            assert low <= rule_threshold(rule) <= high, rule.code  # defaults are acceptable
            changed = with_thresholds(rules, {category: {rule.code: low}})
            (moved,) = [r for r in changed.for_category(category) if r.code == rule.code]
            assert rule_threshold(moved) == low
            assert f"{rule_direction(rule)} {low:g}" in moved.message, moved.message
            assert "(clinic setting)" not in moved.message
            assert f"{rule_threshold(rule):g}" not in moved.message.split(":")[0]


def test_low_side_and_recovery_rules_are_clinic_policy_within_the_ranges_a_clinic_may_set() -> None:
    from ketaplan.clinical.monitoring import (
        RECOVERY_ACTIONS,
        THRESHOLD_RANGES,
        rule_direction,
        rule_threshold,
    )

    for category in ("mood", "pain"):
        rules = {r.code: r for r in load_monitoring_rules().for_category(category)}
        assert (rules["in_sbp_low"].below, rules["in_hr_low"].below) == (90, 50)
        assert (rules["rec_sbp_low"].below, rules["rec_hr_low"].below) == (90, 50)
        for rule in rules.values():
            low, high = THRESHOLD_RANGES[(rule.vital, rule_direction(rule))]
            assert low <= rule_threshold(rule) <= high, rule.code
            if rule.code.startswith("rec_"):
                assert rule.phases == ("recovery",)
                assert rule.action in RECOVERY_ACTIONS
                assert rule.source == "clinic_policy"
            if rule.code.startswith("in_"):
                assert rule.phases == ("in_infusion",)


def test_a_clinic_may_set_the_low_side_and_recovery_thresholds_within_their_ranges() -> None:
    from ketaplan.clinical.monitoring import with_thresholds

    rules = with_thresholds(
        load_monitoring_rules(), {"mood": {"in_hr_low": 45, "rec_sbp_low": 85}}
    ).for_category("mood")
    by_code = {r.code: r for r in rules}
    assert by_code["in_hr_low"].message.startswith("heart rate below 45/min")
    assert by_code["rec_sbp_low"].message.startswith("systolic below 85 mmHg")
    with pytest.raises(InputError, match="35-60"):
        with_thresholds(load_monitoring_rules(), {"mood": {"in_hr_low": 20}})


@pytest.mark.parametrize("category", ["mood", "pain"])
def test_pre_infusion_hypotension_and_bradycardia_hold_the_start_as_clinic_policy(
    category: str,
) -> None:
    """No guideline gives the low-side numbers (clinical/REFERENCE.md section 3): they are
    clinic_policy defaults, systolic below 90 mmHg or heart rate below 50/min, like the
    pre-infusion hypertension hold (above 180/110), and a clinic may change them."""
    rules = {r.code: r for r in load_monitoring_rules().for_category(category)}
    for code, vital, below in (
        ("pre_sbp_low", "systolic_mmhg", 90),
        ("pre_hr_low", "heart_rate_bpm", 50),
    ):
        rule = rules[code]
        assert (rule.phases, rule.vital, rule.below) == (("pre_infusion",), vital, below)
        assert (rule.action, rule.source) == ("hold_start", "clinic_policy")
    alerts = check_vitals(VitalSigns(85, 55, 44), "pre_infusion", list(rules.values()), AT)
    assert {a.code: a.action for a in alerts} == {
        "vitals.pre_sbp_low": "hold_start",
        "vitals.pre_hr_low": "hold_start",
    }
    assert check_vitals(VitalSigns(90, 60, 50), "pre_infusion", list(rules.values()), AT) == ()
