"""Adding a member of staff (admins): a name, an e-mail no account has, a role and an initial
password within the password rules; every field's problem named at once, on the page beside its
field, and nothing written; the new member signs in with the initial password. And the staff
changes an admin may not make to themselves or to the last admin, each refused with a reason."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ketaplan.errors import ConflictError, InputError, InputErrors, PermissionDenied
from ketaplan.http.security import SIGN_IN_COOKIE
from ketaplan.services import Actor, UnitOfWork, load_actor
from ketaplan.services.accounts import csrf_token_for, sign_in
from ketaplan.services.staff import (
    NewStaffMember,
    add_staff_member,
    change_role,
    deactivate_user,
    list_staff,
)
from ketaplan.store import Database
from ketaplan.store.models import User

from .conftest import PASSWORD, ROLE_EMAILS, Api

INITIAL = "a long initial passphrase"
ROBIN = NewStaffMember("Robin Reyes", "Robin@Bay.example ", "nurse", INITIAL)
EVERYTHING_WRONG = NewStaffMember("  ", "robin at bay", "surgeon", "short")


def _users(database: Database) -> int:
    with database.session_factory() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def test_an_admin_adds_a_member_of_staff_who_signs_in_with_the_initial_password(
    uow: UnitOfWork, admin: Actor, audit_log: Callable[[], list[str]]
) -> None:
    member = add_staff_member(uow, ROBIN, actor=admin)
    assert (member.full_name, member.email, member.role) == (
        "Robin Reyes",
        "robin@bay.example",
        "nurse",
    )
    assert member.active
    assert member.has_password
    assert audit_log()[-1] == "user.create"
    signed = sign_in(uow, "robin@bay.example", INITIAL, kind="cookie", origin="test")
    assert signed.actor.role == "nurse"
    listed = {m.email: m.full_name for m in list_staff(uow, actor=admin)}
    assert listed["robin@bay.example"] == "Robin Reyes"
    assert listed[admin.email] == ""  # set up before names were asked for


def _problems(refused: InputError) -> list[dict[str, str]]:
    assert isinstance(refused, InputErrors)  # several, each naming its field
    problems = refused.fields["problems"]
    assert isinstance(problems, list)
    return problems


def test_every_field_s_problem_is_named_at_once_and_nothing_is_written(
    database: Database, uow: UnitOfWork, admin: Actor, audit_log: Callable[[], list[str]]
) -> None:
    users, before = _users(database), audit_log()
    with pytest.raises(InputError) as refused:
        add_staff_member(uow, EVERYTHING_WRONG, actor=admin)
    errors = {p["field"]: p["problem"] for p in _problems(refused.value)}
    assert set(errors) == {"full_name", "email", "role", "password"}
    assert "give the member of staff's name" in errors["full_name"]
    assert "is not an e-mail address" in errors["email"]
    assert "is not one of admin, prescriber, nurse, front_desk" in errors["role"]
    assert "12 to 1024 characters long (this one has 5)" in errors["password"]
    assert "short" not in refused.value.message  # a typed password is never echoed
    assert (_users(database), audit_log()) == (users, before)


def test_an_address_already_in_use_is_one_of_the_fields_problems(
    database: Database, uow: UnitOfWork, admin: Actor, nurse: Actor
) -> None:
    users = _users(database)
    taken = NewStaffMember("Second Nurse", "NURSE@bay.example", "nurse", "x")
    with pytest.raises(InputError) as refused:
        add_staff_member(uow, taken, actor=admin)
    errors = {p["field"]: p["problem"] for p in _problems(refused.value)}
    assert set(errors) == {"email", "password"}
    assert "nurse@bay.example already exists" in errors["email"]
    assert _users(database) == users


@pytest.mark.parametrize("role", ["prescriber", "nurse", "front_desk"])
def test_only_an_admin_adds_staff(
    database: Database, uow: UnitOfWork, request: pytest.FixtureRequest, role: str
) -> None:
    actor: Actor = request.getfixturevalue(role)
    users = _users(database)
    with pytest.raises(PermissionDenied):
        add_staff_member(uow, ROBIN, actor=actor)
    assert _users(database) == users


def test_an_admin_does_not_deactivate_themselves_nor_leave_the_clinic_without_an_admin(
    uow: UnitOfWork, admin: Actor, prescriber: Actor
) -> None:
    with pytest.raises(ConflictError) as last:
        deactivate_user(uow, admin.user_id, actor=admin)
    assert last.value.code == "conflict.last_admin"
    with pytest.raises(ConflictError) as demoted:
        change_role(uow, admin.user_id, "nurse", actor=admin)
    assert demoted.value.code == "conflict.last_admin"
    assert "make another member of staff an admin first" in demoted.value.message
    change_role(uow, prescriber.user_id, "admin", actor=admin)
    with pytest.raises(ConflictError) as own:
        deactivate_user(uow, admin.user_id, actor=admin)
    assert own.value.code == "conflict.own_account"
    assert "another admin can" in own.value.message
    second = load_actor(uow, prescriber.email, origin="test")
    assert not deactivate_user(uow, admin.user_id, actor=second).active


# ------------------------------------------------------------ API and page ----


def _browser(api: Api, email: str) -> tuple[TestClient, str]:
    done = sign_in(
        UnitOfWork(api.context.database.session_factory), email, PASSWORD, kind="cookie", origin="t"
    )
    client = TestClient(api.client.app)
    client.cookies.set(SIGN_IN_COOKIE, done.token)
    return client, csrf_token_for(done.token)


def test_the_api_adds_a_member_and_answers_every_problem_in_one_422(api: Api) -> None:
    body = {"full_name": "Robin Reyes", "email": "robin@bay.example", "role": "nurse"}
    added = api.client.post(
        "/api/v1/staff", json={**body, "password": INITIAL}, headers=api.as_role("admin")
    )
    assert added.status_code == 201, added.text
    assert added.json()["full_name"] == "Robin Reyes"
    refused = api.client.post(
        "/api/v1/staff",
        json={"full_name": "", "email": "robin@bay.example", "role": "chef", "password": "x"},
        headers=api.as_role("admin"),
    )
    assert refused.status_code == 422, refused.text
    assert {p["field"] for p in refused.json()["problems"]} == {
        "full_name",
        "email",
        "role",
        "password",
    }
    assert (
        api.client.post(
            "/api/v1/staff", json={**body, "password": INITIAL}, headers=api.as_role("nurse")
        ).status_code
        == 403
    )


def test_the_page_shows_every_field_s_error_beside_it_and_keeps_what_was_typed(
    api: Api,
) -> None:
    browser, csrf = _browser(api, ROLE_EMAILS["admin"])
    users = _users(api.context.database)
    form = {
        "full_name": "",
        "email": "robin at bay",
        "role": "",
        "password": "tiny pw",
        "csrf_token": csrf,
    }
    answer = browser.post("/staff/new", data=form, follow_redirects=False)
    assert answer.status_code == 422, answer.text
    for field in ("full_name", "email", "role", "password"):
        assert f'data-error-for="{field}"></p>' not in answer.text, field  # each has its message
    assert "4 fields need attention" in answer.text
    assert 'value="robin at bay"' in answer.text  # kept for correcting
    assert "tiny pw" not in answer.text  # the password never comes back
    assert _users(api.context.database) == users
    form.update(full_name="Robin Reyes", email="robin@bay.example", role="front_desk")
    form["password"] = INITIAL
    done = browser.post("/staff/new", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    shown = browser.get(done.headers["location"])
    assert "robin@bay.example is added as front desk" in shown.text
    assert "Robin Reyes" in shown.text
