"""The role matrix is keyed by use case: every route and every page control names one.

The route-walking tests (tests/service/test_api_access.py, tests/security) check that every
route of the running app has a rule; these check the matrix itself, with no app.
"""

from __future__ import annotations

import pytest

from ketaplan.http.permissions import (
    PAGE_CONTROLS,
    PUBLIC,
    ROUTES,
    RULES,
    USE_CASE_RULES,
    UseCase,
    can,
)
from ketaplan.services import ROLES, Actor


def _actor(role: str) -> Actor:
    return Actor(1, 1, f"{role}@clinic.example", "Robin Diaz", role, "test")  # type: ignore[arg-type]


def test_every_use_case_has_a_rule_and_is_served() -> None:
    assert set(USE_CASE_RULES) == set(UseCase)
    served = set(ROUTES.values())
    assert set(UseCase) - served == PAGE_CONTROLS, "a use case with no route is a page control"
    assert served & PAGE_CONTROLS == set()


def test_a_route_has_the_rule_of_its_use_case() -> None:
    assert set(RULES) == set(ROUTES)
    for route, use_case in ROUTES.items():
        assert RULES[route] == USE_CASE_RULES[use_case], route


def test_an_api_route_and_its_page_share_one_rule() -> None:
    """The pairs that do the same thing name the same use case (so cannot drift apart)."""
    for api, page in [
        ("create_plan", "web_create_plan"),
        ("sign_order", "web_sign_order"),
        ("cancel_order", "web_cancel_order"),
        ("append_session_event", "web_chart_event"),
        ("decide_titration", "web_decide_titration"),
        ("list_staff", "web_staff"),
        ("open_patient_link", "web_patient_questionnaire"),
    ]:
        assert ROUTES[api] is ROUTES[page], (api, page)


@pytest.mark.parametrize("role", ROLES)
def test_can_answers_the_rule(role: str) -> None:
    actor = _actor(role)
    for use_case, rule in USE_CASE_RULES.items():
        assert can(actor, use_case) is (rule == PUBLIC or role in rule)
        assert can(actor, use_case.value) is can(actor, use_case)  # as templates ask


def test_the_prescribers_acts_are_the_prescribers() -> None:
    for use_case in ("sign_order", "cancel_signed_order", "override_dose_limit"):
        assert [role for role in ROLES if can(_actor(role), use_case)] == ["prescriber"]


def test_an_unknown_use_case_is_a_bug_not_a_no() -> None:
    with pytest.raises(ValueError, match="sign_ordr"):
        can(_actor("admin"), "sign_ordr")
