"""Clinic settings in the database: the calendar and alert thresholds an admin saves are the
ones courses are scheduled against and alerts are raised with; every change is audited with
its old and new value, and a refused edit saves nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.monitoring import MonitoringRules
from ketaplan.clinical.policy import ClinicPolicy, catalog_policy
from ketaplan.errors import ConflictError, InputError, InputErrors
from ketaplan.services import (
    Actor,
    PatientDetails,
    PatientRecord,
    PlanOrder,
    UnitOfWork,
    append_session_event,
    create_patient,
    create_plan,
    get_session_chart,
    open_session,
    schedule_course,
    screen_patient,
)
from ketaplan.services.clinic_identity import IdentityInput
from ketaplan.services.clinic_settings import (
    ClinicSettingsRecord,
    clinic_settings,
    update_clinic_settings,
)
from ketaplan.services.clinic_settings_form import (
    CalendarInput,
    ClinicSettingsInput,
    thresholds_as_text,
)
from ketaplan.store import Database
from ketaplan.store.models import AuditEvent, Base, Clinic, InfusionSession

from .conftest import signed_plan


@pytest.fixture
def calendar(catalog: Catalog) -> ClinicCalendar:
    return load_calendar(None, catalog.clinic.time_zone)


@pytest.fixture
def monitoring() -> MonitoringRules:
    return load_monitoring_rules()


def _calendar_input(**typed: Any) -> CalendarInput:
    values: dict[str, Any] = {
        "open_weekdays": ("mon", "tue", "wed", "thu", "fri"),
        "open_time": "08:00",
        "close_time": "17:00",
        "session_times": "09:00, 11:00, 13:00",
        "holidays": "2026-12-25",
        "min_hours_between": "20",
        "max_per_week": "5",
    }
    values.update(typed)
    return CalendarInput(**values)


def _save(
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    *,
    calendar_input: CalendarInput | None = None,
    thresholds: dict[str, str] | None = None,
) -> ClinicSettingsRecord:
    current = clinic_settings(
        uow, actor=admin, catalog=catalog, calendar=calendar, monitoring=monitoring
    )
    return update_clinic_settings(
        uow,
        ClinicSettingsInput(
            name=current.name,
            price_per_session_usd="600",
            bag_sizes_ml="50, 100, 250, 500",
            vials="10 mg/mL x 20 mL\n50 mg/mL x 10 mL",
            calendar=calendar_input,
            thresholds=thresholds or {},
        ),
        expected_version=current.version,
        actor=admin,
        catalog=catalog,
        calendar=calendar,
        monitoring=monitoring,
    )


def test_a_course_is_scheduled_on_the_days_the_clinic_says_it_is_open(
    uow: UnitOfWork,
    admin: Actor,
    nurse: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    prescriber: Actor,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    signed_plan(uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver)
    saved = _save(
        uow,
        admin,
        catalog,
        calendar,
        monitoring,
        calendar_input=_calendar_input(
            open_weekdays=("mon", "wed", "fri"), session_times="10:30", min_hours_between="24"
        ),
    )
    assert saved.calendar.open_weekdays == frozenset({0, 2, 4})
    course = schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2026, 12, 7),
        actor=nurse,
        policy=policy,
    )
    days = [date.fromisoformat(s["date"]) for s in course.schedule.to_dict()["sessions"]]
    assert len(days) == 6
    assert {d.weekday() for d in days} <= {0, 2, 4}
    assert {s["start"][11:16] for s in course.schedule.to_dict()["sessions"]} == {"10:30"}
    assert date(2026, 12, 25) not in days


def test_a_session_alert_uses_the_clinics_own_threshold_and_names_it(
    uow: UnitOfWork,
    admin: Actor,
    nurse: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    prescriber: Actor,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    signed_plan(uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver)

    def alerts_for_check_in(systolic: int) -> list[dict[str, Any]]:
        session = open_session(
            uow, patient.patient_id, condition="depression", actor=nurse, policy=policy
        )
        chart = append_session_event(
            uow,
            session.session_id,
            {
                "at": "2025-12-07T08:50:00-08:00",
                "type": "check_in",
                "systolic": systolic,
                "diastolic": 84,
            },
            expected_seq=0,
            actor=nurse,
            policy=policy,
        )
        alerts: list[dict[str, Any]] = chart.summary.to_dict()["alerts"]  # type: ignore[assignment]
        return [a for a in alerts if a["code"] == "vitals.pre_sbp_hold"]

    assert alerts_for_check_in(170) == []  # the catalog holds the start above 180
    _save(
        uow,
        admin,
        catalog,
        calendar,
        monitoring,
        thresholds={"threshold__mood__pre_sbp_hold": "160"},
    )
    held = alerts_for_check_in(170)
    assert len(held) == 1
    assert held[0]["threshold"] == 160
    assert held[0]["message"].startswith("systolic 170 mmHg: systolic above 160 mmHg: hold")
    assert alerts_for_check_in(155) == []


def test_a_chart_keeps_the_thresholds_in_force_when_its_session_was_opened(
    uow: UnitOfWork,
    database: Database,
    admin: Actor,
    nurse: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    prescriber: Actor,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    """A settings change applies to sessions opened after it; the alerts of charts already
    taken are not rewritten (sessions from before thresholds were recorded follow the clinic's
    thresholds now, as they always did)."""
    signed_plan(uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver)
    check_in = {
        "at": "2025-12-07T08:50:00-08:00",
        "type": "check_in",
        "systolic": 170,
        "diastolic": 84,
    }

    def held(session_id: int) -> list[float]:
        chart = get_session_chart(uow, session_id, actor=nurse, policy=policy)
        alerts: list[dict[str, Any]] = chart.summary.to_dict()["alerts"]  # type: ignore[assignment]
        return [a["threshold"] for a in alerts if a["code"] == "vitals.pre_sbp_hold"]

    def opened_and_checked_in() -> int:
        session = open_session(
            uow, patient.patient_id, condition="depression", actor=nurse, policy=policy
        )
        append_session_event(
            uow,
            session.session_id,
            check_in,
            expected_seq=0,
            actor=nurse,
            policy=policy,
        )
        return session.session_id

    before = opened_and_checked_in()
    legacy = opened_and_checked_in()
    with database.session_factory() as session:  # as if opened before migration 0004
        session.get_one(InfusionSession, legacy).alert_thresholds = None
        session.commit()
    assert held(before) == held(legacy) == []  # the catalog holds the start above 180
    _save(
        uow,
        admin,
        catalog,
        calendar,
        monitoring,
        thresholds={"threshold__mood__pre_sbp_hold": "160"},
    )
    after = opened_and_checked_in()
    assert held(after) == [160]
    assert held(before) == []  # judged by the thresholds of its day
    assert held(legacy) == [160]
    with database.session_factory() as session:
        recorded = {
            row.id: row.alert_thresholds
            for row in session.scalars(
                select(InfusionSession).where(InfusionSession.id.in_([before, after]))
            )
        }
    assert recorded == {before: {}, after: {"pre_sbp_hold": 160.0}}


def test_each_changed_setting_is_audited_with_its_old_and_new_value(
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    database: Database,
) -> None:
    _save(
        uow,
        admin,
        catalog,
        calendar,
        monitoring,
        calendar_input=_calendar_input(max_per_week="3"),
        thresholds={"threshold__pain__in_spo2_low": "90"},
    )
    with database.session_factory() as session:
        event = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "clinic.settings.update")
            .order_by(AuditEvent.seq.desc())
        ).first()
        stored = session.scalars(select(Clinic)).one().settings
    assert event is not None
    changed = event.details["changed"]
    assert changed["calendar.max_per_week"] == {"from": 5, "to": 3}
    assert changed["threshold.pain.in_spo2_low"] == {"from": 92.0, "to": 90.0}
    assert "threshold.mood.in_spo2_low" not in changed
    assert "calendar.open_time" not in changed
    # only what differs from the defaults is stored; the rest follows the catalog
    assert stored["monitoring"] == {"pain": {"in_spo2_low": 90.0}}
    assert stored["calendar"]["max_per_week"] == 3


@pytest.mark.parametrize(
    ("calendar_typed", "thresholds", "field", "says"),
    [
        ({}, {"threshold__mood__in_sbp_hold": "300"}, "threshold__mood__in_sbp_hold", "120-220"),
        ({}, {"threshold__mood__in_sbp_hold": "high"}, "threshold__mood__in_sbp_hold", "not a"),
        ({}, {"threshold__mood__in_spo2_low": "50"}, "threshold__mood__in_spo2_low", "85-97"),
        ({}, {"threshold__mood__no_such_rule": "5"}, "threshold__mood__no_such_rule", "knows"),
        ({"open_weekdays": ()}, {}, "open_weekdays", "at least one day"),
        ({"open_time": "8am"}, {}, "open_time", "HH:MM"),
        ({"close_time": "07:00"}, {}, "close_time", "after opening"),
        ({"session_times": "18:00"}, {}, "session_times", "outside opening hours"),
        ({"holidays": "25/12/2026"}, {}, "holidays", "YYYY-MM-DD"),
        ({"min_hours_between": "200"}, {}, "min_hours_between", "0 to 168"),
        ({"max_per_week": "9"}, {}, "max_per_week", "1 to 7"),
    ],
)
def test_a_bad_calendar_or_threshold_is_refused_by_field_and_saves_nothing(
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    rows: Callable[[type[Base]], int],
    calendar_typed: dict[str, Any],
    thresholds: dict[str, str],
    field: str,
    says: str,
) -> None:
    before = clinic_settings(
        uow, actor=admin, catalog=catalog, calendar=calendar, monitoring=monitoring
    )
    audit_rows = rows(AuditEvent)
    with pytest.raises(InputError) as refused:
        _save(
            uow,
            admin,
            catalog,
            calendar,
            monitoring,
            calendar_input=_calendar_input(**calendar_typed),
            thresholds=thresholds,
        )
    assert refused.value.fields["field"] == field
    assert says in refused.value.message
    # the read inside _save is audited; nothing else was written
    assert rows(AuditEvent) == audit_rows + 1
    after = clinic_settings(
        uow, actor=admin, catalog=catalog, calendar=calendar, monitoring=monitoring
    )
    assert after == before


def test_the_defaults_are_always_acceptable_thresholds(
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
) -> None:
    from ketaplan.services.clinic_settings_form import thresholds_as_text

    saved = _save(
        uow, admin, catalog, calendar, monitoring, thresholds=thresholds_as_text(monitoring)
    )
    assert saved.monitoring == monitoring


def test_a_stored_threshold_for_a_rule_the_catalog_dropped_is_ignored_not_refused(
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    database: Database,
) -> None:
    from ketaplan.services.clinic_policy import clinic_monitoring

    with database.session_factory() as session:
        clinic = session.scalars(select(Clinic)).one()
        clinic.settings = {
            **(clinic.settings or {}),
            "monitoring": {"mood": {"retired_rule": 5, "in_sbp_hold": 170}, "gone": {"x": 1}},
        }
        session.commit()
    with uow:
        rules = clinic_monitoring(uow, admin, monitoring)
    (sbp,) = [r for r in rules.for_category("mood") if r.code == "in_sbp_hold"]
    assert sbp.above == 170
    assert rules.for_category("pain") == monitoring.for_category("pain")


def test_a_screening_and_a_plan_judge_pre_infusion_vitals_by_the_same_clinic_thresholds(
    uow: UnitOfWork,
    admin: Actor,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    resolver: MedicationResolver,
) -> None:
    """A clinic that holds the start above 150 mmHg: 162/84 is a hold for the screening and for
    the saved plan alike (the plan once fell back to the catalog's 180 and said caution)."""
    thresholds = thresholds_as_text(monitoring) | {"threshold__mood__pre_sbp_hold": "150"}
    _save(uow, admin, catalog, calendar, monitoring, thresholds=thresholds)
    details = PatientDetails(
        full_name="Sam Pressure", weight="70 kg", height="170 cm", blood_pressure="162/84"
    )
    patient = create_patient(uow, details, actor=nurse, catalog=catalog)
    served = catalog_policy(catalog, monitoring, calendar)
    screening = screen_patient(
        uow,
        patient.patient_id,
        condition="depression",
        actor=nurse,
        policy=served,
        resolver=resolver,
    )
    plan = create_plan(
        uow,
        patient.patient_id,
        PlanOrder("depression"),
        actor=prescriber,
        policy=served,
        resolver=resolver,
    )
    assert screening.status == plan.plan["eligibility"]["status"] == "contraindicated"
    codes = {f["code"] for f in plan.plan["eligibility"]["findings"]}
    assert "vitals.pre_sbp_hold" in codes
    assert {f["code"] for f in screening.findings} == codes


def test_a_pre_infusion_heart_rate_under_the_clinics_bradycardia_threshold_holds_plan_and_screening(
    uow: UnitOfWork,
    admin: Actor,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    resolver: MedicationResolver,
) -> None:
    """A clinic that holds the start below 55/min (the default, 50, is clinic policy): a heart
    rate of 52 at intake holds the screening and the saved plan, as it would at check-in."""
    thresholds = thresholds_as_text(monitoring) | {"threshold__mood__pre_hr_low": "55"}
    _save(uow, admin, catalog, calendar, monitoring, thresholds=thresholds)
    details = PatientDetails(full_name="Bea Slow", weight="70 kg", height="170 cm", heart_rate="52")
    patient = create_patient(uow, details, actor=nurse, catalog=catalog)
    served = catalog_policy(catalog, monitoring, calendar)
    screening = screen_patient(
        uow,
        patient.patient_id,
        condition="depression",
        actor=nurse,
        policy=served,
        resolver=resolver,
    )
    plan = create_plan(
        uow,
        patient.patient_id,
        PlanOrder("depression"),
        actor=prescriber,
        policy=served,
        resolver=resolver,
    )
    assert plan.plan["eligibility"]["verdict"] == "hold"
    (finding,) = [f for f in screening.findings if f["code"] == "vitals.pre_hr_low"]
    assert "heart rate below 55/min" in finding["message"]
    assert {f["code"] for f in plan.plan["eligibility"]["findings"]} == {
        f["code"] for f in screening.findings
    }


@pytest.mark.parametrize("typed", ["30", "-1", "lots", "nan"])
def test_a_bag_overfill_outside_zero_to_twenty_five_percent_is_refused_and_saves_nothing(
    uow: UnitOfWork, admin: Actor, catalog: Catalog, typed: str
) -> None:
    current = clinic_settings(uow, actor=admin, catalog=catalog)
    with pytest.raises(InputError) as refused:
        update_clinic_settings(
            uow,
            ClinicSettingsInput(
                name=current.name,
                price_per_session_usd="600",
                bag_sizes_ml="100",
                vials="10 mg/mL x 20 mL",
                bag_overfill_percent=typed,
            ),
            expected_version=current.version,
            actor=admin,
            catalog=catalog,
        )
    assert refused.value.fields["field"] == "bag_overfill_percent"
    assert "from 0 to 25" in refused.value.message
    after = clinic_settings(uow, actor=admin, catalog=catalog)
    assert (after.version, after.bag_overfill_percent) == (current.version, 9.0)


def _save_identity(
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    identity: IdentityInput,
) -> ClinicSettingsRecord:
    current = clinic_settings(
        uow, actor=admin, catalog=catalog, calendar=calendar, monitoring=monitoring
    )
    return update_clinic_settings(
        uow,
        ClinicSettingsInput(
            name=current.name,
            price_per_session_usd="600",
            bag_sizes_ml="50, 100, 250",
            vials="50 mg/mL x 10 mL",
            identity=identity,
        ),
        expected_version=current.version,
        actor=admin,
        catalog=catalog,
        calendar=calendar,
        monitoring=monitoring,
    )


def test_an_admin_sets_the_address_title_dea_number_and_holiday_region_and_they_are_in_force(
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    database: Database,
) -> None:
    from ketaplan.services.course_calendar import clinic_heading
    from ketaplan.services.ledger_printing import ledger_heading

    saved = _save_identity(
        uow,
        admin,
        catalog,
        calendar,
        monitoring,
        IdentityInput(
            holiday_region="us-ca",
            address="  12 Harbor Way,   Oakland CA ",
            calendar_title="Bay clinic visit",
            dea_registration="ap 5836727",
        ),
    )
    assert (saved.holiday_region, saved.dea_registration) == ("US-CA", "AP5836727")
    assert (saved.address, saved.calendar_title) == (
        "12 Harbor Way, Oakland CA",
        "Bay clinic visit",
    )
    assert saved.calendar.public_holidays is not None
    assert saved.calendar.public_holidays.closes_on(date(2030, 3, 31))  # Cesar Chavez Day
    again = clinic_settings(
        uow, actor=admin, catalog=catalog, calendar=calendar, monitoring=monitoring
    )
    assert again.holiday_region == "US-CA"
    assert again.dea_registration == "AP5836727"
    with database.session_factory() as db:
        clinic = db.get_one(Clinic, admin.clinic_id)
        assert ledger_heading(clinic, catalog).dea_registration == "AP5836727"
        assert clinic_heading(clinic, catalog).title == "Bay clinic visit"
        assert clinic_heading(clinic, catalog).address == "12 Harbor Way, Oakland CA"
        event = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "clinic.settings.update")
        ).all()[-1]
    changed = event.details["changed"]
    assert changed["dea_registration"] == {"from": "", "to": "AP5836727"}
    assert changed["holiday_region"]["to"] == "US-CA"
    blank = _save_identity(
        uow,
        admin,
        catalog,
        calendar,
        monitoring,
        IdentityInput(holiday_region="", dea_registration=""),
    )
    assert blank.holiday_region == ""
    assert blank.calendar.public_holidays is None


@pytest.mark.parametrize(
    ("identity", "field", "says"),
    [
        (IdentityInput(dea_registration="AB1234567"), "dea_registration", "should be 3"),
        (IdentityInput(dea_registration="A12345678"), "dea_registration", "two letters"),
        (IdentityInput(dea_registration="AB123456"), "dea_registration", "seven digits"),
        (IdentityInput(holiday_region="XX"), "holiday_region", "not a country"),
        (IdentityInput(holiday_region="US-ZZ"), "holiday_region", "not a subdivision"),
        (IdentityInput(calendar_title="  "), "calendar_title", "cannot be blank"),
        (IdentityInput(address="x" * 301), "address", "at most 300"),
        (IdentityInput(crisis_message=" \n "), "crisis_message", "cannot be blank"),
        (IdentityInput(crisis_message="988 " * 251), "crisis_message", "at most 1000"),
        (IdentityInput(crisis_message="Call <a href=x>988</a>"), "crisis_message", "no HTML"),
        (IdentityInput(crisis_message="Call 988 <script>"), "crisis_message", "plain text"),
    ],
)
def test_a_bad_identity_setting_is_refused_naming_its_field_and_nothing_is_saved(
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    identity: IdentityInput,
    field: str,
    says: str,
) -> None:
    with pytest.raises(InputError) as refused:
        _save_identity(uow, admin, catalog, calendar, monitoring, identity)
    assert refused.value.fields["field"] == field
    assert says in refused.value.message
    assert "_" not in refused.value.message.split(":")[0]  # words, not the field's code
    after = clinic_settings(
        uow, actor=admin, catalog=catalog, calendar=calendar, monitoring=monitoring
    )
    assert after.version == 1


def test_every_bad_field_of_the_settings_is_refused_at_once(
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
) -> None:
    with pytest.raises(InputErrors) as refused:
        update_clinic_settings(
            uow,
            ClinicSettingsInput(
                name="",
                price_per_session_usd="lots",
                bag_sizes_ml="50",
                vials="50 mg/mL x 10 mL",
                calendar=_calendar_input(open_time="8 am", max_per_week="9"),
                thresholds={"threshold__mood__in_sbp_hold": "high"},
                identity=IdentityInput(dea_registration="AB1234567"),
            ),
            expected_version=1,
            actor=admin,
            catalog=catalog,
            calendar=calendar,
            monitoring=monitoring,
        )
    assert [e.fields["field"] for e in refused.value.errors] == [
        "name",
        "price_per_session_usd",
        "open_time",
        "max_per_week",
        "dea_registration",
        "threshold__mood__in_sbp_hold",
    ]


def test_the_dea_check_digit_follows_the_published_rule() -> None:
    from ketaplan.services.clinic_identity import parse_dea_registration

    # AP5836727: 5 + 3 + 7 = 15; 2 x (8 + 6 + 2) = 32; 15 + 32 = 47 -> 7.
    assert parse_dea_registration("AP5836727") == "AP5836727"
    assert parse_dea_registration("AB1234563") == "AB1234563"  # clinic.toml's example
    assert parse_dea_registration("") == ""
    for wrong in ("AP5836728", "AP583672", "5P5836727", "AP58367271"):
        with pytest.raises(InputError):
            parse_dea_registration(wrong)


def test_the_crisis_message_is_the_catalogs_until_an_admin_sets_the_clinics_own(
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    database: Database,
    nurse: Actor,
) -> None:
    from ketaplan.services import PatientDetails, create_patient
    from ketaplan.services.patient_links import create_patient_link, open_patient_link

    before = clinic_settings(
        uow, actor=admin, catalog=catalog, calendar=calendar, monitoring=monitoring
    )
    assert before.crisis_message == catalog.clinic.crisis_message  # 988, cited in the catalog
    own = "Call Samaritans free on 116 123 (UK and Ireland), day or night."
    saved = _save_identity(
        uow, admin, catalog, calendar, monitoring, IdentityInput(crisis_message=f"  {own}\n")
    )
    assert saved.crisis_message == own
    with database.session_factory() as db:
        event = db.scalars(
            select(AuditEvent).where(AuditEvent.action == "clinic.settings.update")
        ).all()[-1]
    assert event.details["changed"]["crisis_message"] == {
        "from": catalog.clinic.crisis_message,
        "to": own,
    }
    patient = create_patient(
        uow,
        PatientDetails(full_name="Ann Example", weight="70 kg", height="170 cm", age_years=40),
        actor=nurse,
        catalog=catalog,
    )
    link = create_patient_link(uow, patient.patient_id, scales=["phq9"], actor=nurse)
    view = open_patient_link(
        uow, link.token, origin="test", crisis_default=catalog.clinic.crisis_message
    )
    assert view.crisis_message == own


@pytest.mark.parametrize("version", [0, 2**31, 10**30])
def test_a_version_no_clinic_can_hold_is_stale_not_a_database_error(
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    calendar: ClinicCalendar,
    monitoring: MonitoringRules,
    version: int,
) -> None:
    """The settings form posts back the version it was opened at as text; a tampered one past
    the column's range is refused as stale before any statement binds it."""
    current = clinic_settings(
        uow, actor=admin, catalog=catalog, calendar=calendar, monitoring=monitoring
    )
    with pytest.raises(ConflictError) as refused:
        update_clinic_settings(
            uow,
            ClinicSettingsInput(
                name=current.name,
                price_per_session_usd="600",
                bag_sizes_ml="50, 100, 250",
                vials="50 mg/mL x 10 mL",
            ),
            expected_version=version,
            actor=admin,
            catalog=catalog,
            calendar=calendar,
            monitoring=monitoring,
        )
    assert refused.value.code == "conflict.stale_version"
    after = clinic_settings(
        uow, actor=admin, catalog=catalog, calendar=calendar, monitoring=monitoring
    )
    assert after.version == current.version
