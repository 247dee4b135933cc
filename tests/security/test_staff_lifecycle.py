"""Staff lifecycle (issue 14, item 9): list, change a role, reset a password, deactivate and
reactivate, from the CLI, the API and the staff page; every refusal changes nothing; a
deactivated account's sign-ins end at once; refused requests (401, 403, 429) are in the audit
trail without secrets. On SQLite and PostgreSQL (``tests/service/conftest.py``)."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.service.conftest import PASSWORD, ROLE_EMAILS, Api, writer_gate

from ketaplan.app import create_app
from ketaplan.cli import main
from ketaplan.errors import (
    ConflictError,
    InputError,
    KetaplanError,
    NotFoundError,
    PermissionDenied,
    TooManyAttempts,
)
from ketaplan.http.permissions import RULES, STAFF
from ketaplan.http.refusals import (
    RECORDED_IN_ALL,
    RECORDED_PER_ORIGIN,
    WINDOW,
    Refusal,
    RefusalRecorder,
)
from ketaplan.http.security import CSRF_HEADER, SIGN_IN_COOKIE
from ketaplan.services import Actor, UnitOfWork, load_actor, set_up_clinic, utc_now
from ketaplan.services.accounts import csrf_token_for, sign_in
from ketaplan.services.staff import (
    change_role,
    deactivate_user,
    list_staff,
    reactivate_user,
    reset_password,
)
from ketaplan.store.models import AccessToken, AuditEvent, User

NEW_PASSWORD = "a new passphrase for monday"
FORGED_CSRF = "5ca1ab1e" * 8
OTHER_ADMIN = "admin@harbor.example"


# ----------------------------------------------------------------- helpers ----


def _uow(api: Api) -> UnitOfWork:
    return UnitOfWork(api.context.database.session_factory)


def _actor(api: Api, email: str) -> Actor:
    return load_actor(_uow(api), email, origin="test")


def _user_id(api: Api, email: str) -> int:
    with api.context.database.session_factory() as session:
        found = session.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


def _other_clinic(api: Api) -> Actor:
    """A second clinic with its own admin (who must not see or change the first's staff)."""
    return set_up_clinic(
        _uow(api),
        name="Harbor Clinic",
        time_zone="America/New_York",
        admin_email=OTHER_ADMIN,
        admin_password=PASSWORD,
    )


def _staff_state(api: Api) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """Everything a staff change could touch: accounts, sign-ins, and staff audit events."""
    with api.context.database.session_factory() as session:
        users = [
            tuple(row)
            for row in session.execute(
                select(User.id, User.role, User.active, User.password_hash).order_by(User.id)
            )
        ]
        tokens = [
            tuple(row)
            for row in session.execute(
                select(AccessToken.id, AccessToken.revoked_at).order_by(AccessToken.id)
            )
        ]
        changes = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.action.in_(
                    [
                        "user.deactivate",
                        "user.reactivate",
                        "user.change_role",
                        "user.set_password",
                    ]
                )
            )
        ).all()
    return users, tokens, len(changes)


def _events(api: Api, action: str) -> list[AuditEvent]:
    with api.context.database.session_factory() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def _all_audit_text(api: Api) -> str:
    """Every audit row as text (all columns and details), to search for what must not be in it."""
    with api.context.database.session_factory() as session:
        rows = session.scalars(select(AuditEvent)).all()
        return "\n".join(
            json.dumps(
                {c.name: str(getattr(row, c.name)) for c in AuditEvent.__table__.columns},
                ensure_ascii=False,
            )
            for row in rows
        )


def _bearer(api: Api, email: str, password: str = PASSWORD) -> dict[str, str]:
    done = sign_in(_uow(api), email, password, kind="bearer", origin="test")
    return {"Authorization": f"Bearer {done.token}"}


def _cookie_client(api: Api, email: str) -> tuple[TestClient, str]:
    """A browser signed in as ``email`` (its own client, its own cookie) and its CSRF token."""
    done = sign_in(_uow(api), email, PASSWORD, kind="cookie", origin="test")
    client = TestClient(api.client.app)
    client.cookies.set(SIGN_IN_COOKIE, done.token)
    return client, csrf_token_for(done.token)


# --------------------------------------------------------- the service ----


def test_the_staff_list_shows_everyone_of_the_clinic_and_only_them(api: Api) -> None:
    _other_clinic(api)
    admin = _actor(api, ROLE_EMAILS["admin"])
    deactivate_user(_uow(api), _user_id(api, ROLE_EMAILS["nurse"]), actor=admin)
    listed = list_staff(_uow(api), actor=admin)
    assert [(m.email, m.role, m.active) for m in listed] == [
        ("admin@bay.example", "admin", True),
        ("front_desk@bay.example", "front_desk", True),
        ("prescriber@bay.example", "prescriber", True),
        ("nurse@bay.example", "nurse", False),  # deactivated staff last
    ]
    by_email = {m.email: m for m in listed}
    assert by_email["prescriber@bay.example"].open_sign_ins == 1  # the api fixture's token
    assert by_email["nurse@bay.example"].open_sign_ins == 0
    assert all(m.has_password for m in listed)
    (read,) = _events(api, "user.list")
    assert read.actor_user_id == admin.user_id
    assert read.details == {"count": 4}


# fmt: off
REFUSALS: list[tuple[str, str, str, Callable[..., object], tuple[Any, ...], type, str]] = [
    # (case, acting, target, change, extra arguments, error, code)
    ("a nurse lists", "nurse@bay.example", "", list_staff, (), PermissionDenied, "permission_denied"),
    ("a nurse deactivates", "nurse@bay.example", "prescriber@bay.example", deactivate_user, (), PermissionDenied, "permission_denied"),
    ("a prescriber changes a role", "prescriber@bay.example", "nurse@bay.example", change_role, ("admin",), PermissionDenied, "permission_denied"),
    ("the front desk resets a password", "front_desk@bay.example", "nurse@bay.example", reset_password, (NEW_PASSWORD,), PermissionDenied, "permission_denied"),
    ("a nurse reactivates", "nurse@bay.example", "prescriber@bay.example", reactivate_user, (), PermissionDenied, "permission_denied"),
    ("another clinic's admin deactivates", OTHER_ADMIN, "nurse@bay.example", deactivate_user, (), NotFoundError, "not_found.user"),
    ("another clinic's admin changes a role", OTHER_ADMIN, "nurse@bay.example", change_role, ("admin",), NotFoundError, "not_found.user"),
    ("another clinic's admin resets a password", OTHER_ADMIN, "nurse@bay.example", reset_password, (NEW_PASSWORD,), NotFoundError, "not_found.user"),
    ("another clinic's admin reactivates", OTHER_ADMIN, "nurse@bay.example", reactivate_user, (), NotFoundError, "not_found.user"),
    ("the last admin deactivates themselves", "admin@bay.example", "admin@bay.example", deactivate_user, (), ConflictError, "conflict.last_admin"),
    ("the last admin makes themselves a nurse", "admin@bay.example", "admin@bay.example", change_role, ("nurse",), ConflictError, "conflict.last_admin"),
    ("a role that does not exist", "admin@bay.example", "nurse@bay.example", change_role, ("superuser",), InputError, "input.invalid_choice"),
    ("a role in capitals", "admin@bay.example", "nurse@bay.example", change_role, ("Admin",), InputError, "input.invalid_choice"),
    ("the role the member has", "admin@bay.example", "nurse@bay.example", change_role, ("nurse",), ConflictError, "conflict.same_role"),
    ("reactivating an active account", "admin@bay.example", "nurse@bay.example", reactivate_user, (), ConflictError, "conflict.already_active"),
    ("a password too short", "admin@bay.example", "nurse@bay.example", reset_password, ("short",), InputError, "input.weak_password"),
]
# fmt: on


def test_every_refused_staff_change_changes_nothing(api: Api, subtests: pytest.Subtests) -> None:
    """Every refusal of the table, one after the other against one database with the other
    clinic in it: each changes nothing (checked), so each meets the database as the first did."""
    _other_clinic(api)
    for case, acting, target, change, extra, error, code in REFUSALS:
        with subtests.test(case):
            before = _staff_state(api)
            arguments = (_user_id(api, target), *extra) if target else ()
            with pytest.raises(error) as refused:
                change(_uow(api), *arguments, actor=_actor(api, acting))
            assert refused.value.code == code
            assert _staff_state(api) == before
            if code == "conflict.last_admin":
                assert "last active admin" in refused.value.message
                assert "make another member of staff an admin first" in refused.value.message


def test_a_user_who_does_not_exist_and_another_clinics_user_look_the_same(api: Api) -> None:
    other = _other_clinic(api)
    admin = _actor(api, ROLE_EMAILS["admin"])
    with pytest.raises(NotFoundError) as missing:
        deactivate_user(_uow(api), 2**31 - 1, actor=admin)
    with pytest.raises(NotFoundError) as elsewhere:
        deactivate_user(_uow(api), other.user_id, actor=admin)
    assert missing.value.code == elsewhere.value.code == "not_found.user"
    assert OTHER_ADMIN not in elsewhere.value.message


def test_with_two_admins_one_may_leave_and_the_last_one_may_not(api: Api) -> None:
    admin = _actor(api, ROLE_EMAILS["admin"])
    prescriber_id = _user_id(api, ROLE_EMAILS["prescriber"])
    promoted = change_role(_uow(api), prescriber_id, "admin", actor=admin)
    assert promoted.role == "admin"
    second = _actor(api, ROLE_EMAILS["prescriber"])
    deactivate_user(_uow(api), admin.user_id, actor=second)  # the first admin leaves
    with pytest.raises(ConflictError) as refused:
        change_role(_uow(api), second.user_id, "prescriber", actor=second)
    assert refused.value.code == "conflict.last_admin"
    with pytest.raises(PermissionDenied):  # the first admin's actor is stale: no longer active
        reactivate_user(_uow(api), admin.user_id, actor=admin)
    (changed,) = _events(api, "user.change_role")
    assert changed.details == {"from": "prescriber", "to": "admin"}
    assert changed.actor_user_id == admin.user_id


def test_two_admins_deactivating_each_other_at_once_leave_one_active_admin(api: Api) -> None:
    admin = _actor(api, ROLE_EMAILS["admin"])
    change_role(_uow(api), _user_id(api, ROLE_EMAILS["prescriber"]), "admin", actor=admin)
    second = _actor(api, ROLE_EMAILS["prescriber"])
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def deactivate(actor: Actor, target: Actor) -> None:
        start.wait()
        try:
            deactivate_user(_uow(api), target.user_id, actor=actor)
            outcomes.append("done")
        except KetaplanError as refused:
            outcomes.append(refused.code)

    threads = [
        threading.Thread(target=deactivate, args=(admin, second)),
        threading.Thread(target=deactivate, args=(second, admin)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Staff changes take turns: whichever comes second finds its own account deactivated.
    assert sorted(outcomes) == ["done", "permission.role_not_allowed"]
    with api.context.database.session_factory() as session:
        active_admins = session.scalars(
            select(User.email).where(User.role == "admin", User.active)
        ).all()
    assert len(active_admins) == 1


# ---------------------------------------------- sign-ins end, roles apply ----


def test_a_deactivated_users_sign_ins_stop_working_at_once(api: Api) -> None:
    nurse_id = _user_id(api, ROLE_EMAILS["nurse"])
    browser, _ = _cookie_client(api, ROLE_EMAILS["nurse"])
    bearer = api.as_role("nurse")
    assert api.client.get("/api/v1/auth/me", headers=bearer).status_code == 200
    assert browser.get("/patients", follow_redirects=False).status_code == 200
    answer = api.client.post(f"/api/v1/staff/{nurse_id}/deactivate", headers=api.as_role("admin"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is False
    assert answer.json()["open_sign_ins"] == 0
    assert api.client.get("/api/v1/auth/me", headers=bearer).status_code == 401
    assert browser.get("/patients", follow_redirects=False).status_code == 303  # to sign in
    again = api.client.post(
        "/api/v1/auth/token", json={"email": ROLE_EMAILS["nurse"], "password": PASSWORD}
    )
    assert again.status_code == 401
    (event,) = _events(api, "user.deactivate")
    assert event.details == {"role": "nurse", "sign_ins_ended": 2}
    # Reactivated, the password signs in again; the old sign-ins stay ended.
    back = api.client.post(f"/api/v1/staff/{nurse_id}/reactivate", headers=api.as_role("admin"))
    assert back.status_code == 200
    assert back.json()["active"] is True
    assert api.client.get("/api/v1/auth/me", headers=bearer).status_code == 401
    assert api.client.get("/api/v1/auth/me", headers=_bearer(api, "nurse@bay.example")).json()[
        "role"
    ] == ("nurse")


def test_a_role_change_applies_to_the_next_request_of_an_existing_sign_in(api: Api) -> None:
    nurse_id = _user_id(api, ROLE_EMAILS["nurse"])
    nurse = api.as_role("nurse")
    assert api.client.get("/api/v1/staff", headers=nurse).status_code == 403
    answer = api.client.post(
        f"/api/v1/staff/{nurse_id}/role", json={"role": "admin"}, headers=api.as_role("admin")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["role"] == "admin"
    assert api.client.get("/api/v1/staff", headers=nurse).status_code == 200  # same token
    api.client.post(
        f"/api/v1/staff/{nurse_id}/role", json={"role": "front_desk"}, headers=api.as_role("admin")
    )
    assert api.client.get("/api/v1/patients/1/screenings", headers=nurse).status_code == 403
    assert api.client.get("/api/v1/auth/me", headers=nurse).json()["role"] == "front_desk"


def test_a_password_reset_ends_sign_ins_and_the_new_password_signs_in(api: Api) -> None:
    nurse_id = _user_id(api, ROLE_EMAILS["nurse"])
    answer = api.client.post(
        f"/api/v1/staff/{nurse_id}/password",
        json={"password": NEW_PASSWORD},
        headers=api.as_role("admin"),
    )
    assert answer.status_code == 204, answer.text
    assert api.client.get("/api/v1/auth/me", headers=api.as_role("nurse")).status_code == 401
    assert _bearer(api, ROLE_EMAILS["nurse"], NEW_PASSWORD)
    (event,) = _events(api, "user.set_password")
    assert event.details == {}
    assert NEW_PASSWORD not in _all_audit_text(api)


# --------------------------------------------------------------------- API ----


def test_the_api_lists_the_staff_for_admins_only(api: Api) -> None:
    listed = api.client.get("/api/v1/staff", headers=api.as_role("admin"))
    assert listed.status_code == 200
    assert {m["email"] for m in listed.json()["items"]} == set(ROLE_EMAILS.values())
    assert listed.json()["total_count"] == len(ROLE_EMAILS)
    assert all(
        "password" not in key for m in listed.json()["items"] for key in m if key != "has_password"
    )
    for role in ("prescriber", "nurse", "front_desk"):
        refused = api.client.get("/api/v1/staff", headers=api.as_role(role))
        assert refused.status_code == 403
        assert refused.json()["code"] == "permission.role_not_allowed"


# fmt: off
API_REFUSALS = [
    # (case, acting role or "other" clinic's admin, action, target, body, status, code)
    ("nurse deactivates", "nurse", "/deactivate", "{prescriber}", None, 403, "permission.role_not_allowed"),
    ("prescriber sets a role", "prescriber", "/role", "{nurse}", {"role": "admin"}, 403, "permission.role_not_allowed"),
    ("front desk resets a password", "front_desk", "/password", "{nurse}", {"password": NEW_PASSWORD}, 403, "permission.role_not_allowed"),
    ("other clinic deactivates", "other", "/deactivate", "{nurse}", None, 404, "not_found.user"),
    ("other clinic sets a role", "other", "/role", "{nurse}", {"role": "nurse"}, 404, "not_found.user"),
    ("other clinic resets a password", "other", "/password", "{nurse}", {"password": NEW_PASSWORD}, 404, "not_found.user"),
    ("last admin deactivates themselves", "admin", "/deactivate", "{admin}", None, 409, "conflict.last_admin"),
    ("last admin demotes themselves", "admin", "/role", "{admin}", {"role": "prescriber"}, 409, "conflict.last_admin"),
    ("a role that is not one", "admin", "/role", "{nurse}", {"role": "doctor"}, 422, "input.invalid_choice"),
    ("a role missing", "admin", "/role", "{nurse}", {}, 422, "input.invalid_request"),
    ("a password too short", "admin", "/password", "{nurse}", {"password": "short"}, 422, "input.weak_password"),
    ("an id past 32 bits", "admin", "/deactivate", "2147483648", None, 422, "input.invalid_request"),
    ("an id that is no one", "admin", "/deactivate", "2147483647", None, 404, "not_found.user"),
]
# fmt: on


def test_refused_api_requests_change_nothing(api: Api, subtests: pytest.Subtests) -> None:
    """Every refusal of the table, one after the other against one database with the other
    clinic in it: each changes nothing (checked), so each meets the database as the first did."""
    other = _other_clinic(api)
    ids = {f"{{{role}}}": str(_user_id(api, email)) for role, email in ROLE_EMAILS.items()}
    for case, acting, action, target, body, status, code in API_REFUSALS:
        with subtests.test(case):
            headers = _bearer(api, other.email) if acting == "other" else api.as_role(acting)
            before = _staff_state(api)
            answer = api.client.post(
                f"/api/v1/staff/{ids.get(target, target)}{action}", json=body, headers=headers
            )
            assert answer.status_code == status, answer.text
            assert answer.json()["code"] == code
            assert _staff_state(api) == before


# -------------------------------------------------------------------- CLI ----


@pytest.fixture
def cli(
    api: Api,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., tuple[int, str, str]]:
    """``ketaplan ARGS`` against the test database: (exit code, stdout, stderr)."""
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_the_cli_lists_changes_roles_resets_deactivates_and_reactivates(
    api: Api, cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = cli("user", "list", "--json")
    assert code == 0, err
    staff = {m["email"]: m for m in json.loads(out)["staff"]}
    assert staff["nurse@bay.example"]["role"] == "nurse"
    assert staff["nurse@bay.example"]["active"] is True

    code, out, err = cli("user", "role", "--email", "Nurse@Bay.example", "--role", "prescriber")
    assert (code, err) == (0, "")
    assert "nurse@bay.example is now prescriber" in out

    code, out, err = cli("user", "deactivate", "--email", "nurse@bay.example")
    assert (code, err) == (0, "")
    assert "their sign-ins ended" in out
    assert api.client.get("/api/v1/auth/me", headers=api.as_role("nurse")).status_code == 401

    code, out, err = cli(
        "user",
        "password",
        "--email",
        "nurse@bay.example",
        "--password-stdin",
        stdin=NEW_PASSWORD + "\n",
    )
    assert (code, err) == (0, "")  # an inactive account's password can be reset too

    code, out, err = cli("user", "reactivate", "--email", "nurse@bay.example", "--json")
    assert code == 0, err
    assert json.loads(out)["active"] is True
    assert _bearer(api, "nurse@bay.example", NEW_PASSWORD)

    code, out, _ = cli("user", "list")
    assert re.search(r"nurse@bay\.example  prescriber  active, 1 open sign-in\b", out)

    origins = {
        e.origin
        for a in ("user.change_role", "user.deactivate", "user.set_password", "user.reactivate")
        for e in _events(api, a)
    }
    assert origins == {"cli"}
    assert NEW_PASSWORD not in _all_audit_text(api)


# fmt: off
CLI_REFUSALS = [
    # (case, arguments, exit code, words in the message)
    ("a role that is not one", ("user", "role", "--email", "nurse@bay.example", "--role", "superuser"), 2, "is not one of admin, prescriber, nurse, front_desk"),
    ("an e-mail that is no one's", ("user", "deactivate", "--email", "nobody@bay.example"), 4, "no member of staff with e-mail 'nobody@bay.example'"),
    ("another clinic's member", ("user", "deactivate", "--email", OTHER_ADMIN), 4, "no member of staff with e-mail"),
    ("the last admin", ("user", "deactivate", "--email", "admin@bay.example"), 5, "last active admin"),
    ("the last admin demoted", ("user", "role", "--email", "admin@bay.example", "--role", "nurse"), 5, "last active admin"),
    ("a nurse acting", ("user", "list", "--as", "nurse@bay.example"), 6, "managing accounts needs an admin"),
    ("the same role", ("user", "role", "--email", "nurse@bay.example", "--role", "nurse"), 5, "already nurse"),
    ("reactivating an active account", ("user", "reactivate", "--email", "nurse@bay.example"), 5, "already active"),
    ("a password on the command line", ("user", "password", "--email", "nurse@bay.example"), 2, "--password-stdin"),
    ("no e-mail", ("user", "deactivate"), 2, "--email"),
]
# fmt: on


def test_the_cli_adds_a_member_with_their_name_and_refuses_a_name_it_cannot_keep(
    cli: Callable[..., tuple[int, str, str]],
) -> None:
    add = ("user", "add", "--email", "sam@bay.example", "--role", "nurse", "--password-stdin")
    code, _out, err = cli(*add, "--name", "x" * 201, stdin=NEW_PASSWORD + "\n")
    assert code == 2
    assert "a name is at most 200 characters" in err
    code, _out, err = cli(*add, "--name", " Sam Lee ", stdin=NEW_PASSWORD + "\n")
    assert (code, err) == (0, "")
    code, out, err = cli("user", "list", "--json")
    staff = {m["email"]: m for m in json.loads(out)["staff"]}
    assert staff["sam@bay.example"]["full_name"] == "Sam Lee"
    assert staff["nurse@bay.example"]["full_name"] == ""


def test_refused_cli_commands_say_why_and_change_nothing(
    api: Api, cli: Callable[..., tuple[int, str, str]], subtests: pytest.Subtests
) -> None:
    """Every refusal of the table, one after the other against one database with the other
    clinic in it: each changes nothing (checked), so each meets the database as the first did."""
    _other_clinic(api)
    for case, arguments, exit_code, words in CLI_REFUSALS:
        with subtests.test(case):
            if "--as" not in arguments and arguments[1] != "password":
                arguments = (*arguments, "--as", "admin@bay.example")  # two clinics: who acts
            before = _staff_state(api)
            code, _, err = cli(*arguments)
            assert code == exit_code, err
            assert words in err
            assert "Traceback" not in err
            assert _staff_state(api) == before


# ------------------------------------------------------------------- page ----


def _csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert found
    return found.group(1)


def test_the_staff_page_changes_a_role_resets_a_password_deactivates_and_reactivates(
    api: Api,
) -> None:
    browser, csrf = _cookie_client(api, ROLE_EMAILS["admin"])
    nurse_id = _user_id(api, ROLE_EMAILS["nurse"])
    page = browser.get("/staff")
    assert page.status_code == 200
    assert f'id="user-{nurse_id}"' in page.text
    assert "<script>" not in page.text  # CSP: nothing inline
    assert "style=" not in page.text
    assert _csrf_of(page.text) == csrf

    steps = [
        ("role", {"role": "prescriber"}, "nurse@bay.example is now prescriber"),
        ("password", {"password": NEW_PASSWORD}, "has a new password"),
        ("deactivate", {}, "is deactivated"),
        ("reactivate", {}, "can sign in again"),
    ]
    for action, fields, said in steps:
        done = browser.post(
            f"/staff/{nurse_id}/{action}",
            data={**fields, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert done.status_code == 303, (action, done.text)
        shown = browser.get(done.headers["location"])
        assert said in shown.text, action
        assert NEW_PASSWORD not in shown.text
    with api.context.database.session_factory() as session:
        nurse = session.get(User, nurse_id)
        assert nurse is not None
        assert (nurse.role, nurse.active) == ("prescriber", True)
    assert _bearer(api, ROLE_EMAILS["nurse"], NEW_PASSWORD)
    actions = [
        e.action
        for e in _events(api, "user.change_role")
        + _events(api, "user.deactivate")
        + _events(api, "user.reactivate")
        + _events(api, "user.set_password")
    ]
    assert sorted(actions) == [
        "user.change_role",
        "user.deactivate",
        "user.reactivate",
        "user.set_password",
    ]


# fmt: off
PAGE_REFUSALS = [
    # (case, acting role, action, target, fields, status, words on the page)
    ("no CSRF token", "admin", "deactivate", "nurse", {}, 403, "CSRF token"),
    ("a nurse", "nurse", "deactivate", "prescriber", {"csrf": True}, 403, "this needs the role admin"),
    ("the last admin", "admin", "deactivate", "admin", {"csrf": True}, 409, "last active admin"),
    ("a role that is not one", "admin", "role", "nurse", {"csrf": True, "role": "root"}, 422, "is not one of"),
    ("a short password", "admin", "password", "nurse", {"csrf": True, "password": "tiny pw"}, 422, "12 to 1024 characters"),
]
# fmt: on


def test_refused_page_forms_say_why_and_change_nothing(api: Api, subtests: pytest.Subtests) -> None:
    """Every refusal of the table, one after the other against one database, each from a
    browser of its own: each changes nothing (checked), so each meets the database as the
    first did."""
    for case, acting, action, target, fields, status, words in PAGE_REFUSALS:
        with subtests.test(case):
            browser, csrf = _cookie_client(api, ROLE_EMAILS[acting])
            target_id = _user_id(api, ROLE_EMAILS[target])
            data = {k: v for k, v in fields.items() if k != "csrf"}
            if fields.get("csrf"):
                data["csrf_token"] = csrf
            before = _staff_state(api)
            answer = browser.post(f"/staff/{target_id}/{action}", data=data, follow_redirects=False)
            assert answer.status_code == status, answer.text
            assert words in answer.text
            assert "tiny pw" not in answer.text  # a typed password is never shown back
            assert _staff_state(api) == before


def test_the_staff_page_and_its_link_are_for_admins(api: Api) -> None:
    admin, _ = _cookie_client(api, ROLE_EMAILS["admin"])
    assert 'href="/staff"' in admin.get("/dashboard").text
    nurse, _ = _cookie_client(api, ROLE_EMAILS["nurse"])
    assert 'href="/staff"' not in nurse.get("/dashboard").text
    assert nurse.get("/staff").status_code == 403


# ------------------------------------------- refused requests, audited ----


def _refusals(api: Api) -> list[AuditEvent]:
    return _events(api, "access.refused")


def test_a_request_without_a_valid_sign_in_is_recorded_without_secrets(api: Api) -> None:
    forged = "forged-token-" + "x" * 30
    api.client.get(
        "/api/v1/patients?q=Secret%20Name", headers={"Authorization": f"Bearer {forged}"}
    )
    api.client.get("/api/v1/patients/7")
    browser = TestClient(api.client.app)
    browser.cookies.set(SIGN_IN_COOKIE, "stale-cookie-value")
    browser.get("/staff?user=1", follow_redirects=False)
    first, second, page = _refusals(api)
    assert (first.entity_id, first.origin, first.actor_user_id) == (
        "search_patients",
        "testclient",
        None,
    )
    assert first.details == {
        "status": 401,
        "code": "auth.not_signed_in",
        "method": "GET",
        "path": "/api/v1/patients",
        "credential": "bearer",
    }
    assert second.details["path"] == "/api/v1/patients/{patient_id}"  # the template, no id
    assert second.details["credential"] == "none"
    assert (page.entity_id, page.details["status"], page.details["credential"]) == (
        "web_staff",
        401,
        "cookie",
    )
    everything = _all_audit_text(api)
    for secret in (forged, "Secret", "stale-cookie-value", "user=1"):
        assert secret not in everything


def test_a_wrong_role_is_recorded_with_who_it_was(api: Api) -> None:
    nurse_id = _user_id(api, ROLE_EMAILS["nurse"])
    api.client.get("/api/v1/staff", headers=api.as_role("nurse"))
    browser, _ = _cookie_client(api, ROLE_EMAILS["front_desk"])
    browser.get("/settings")
    cookie_admin, _ = _cookie_client(api, ROLE_EMAILS["admin"])
    cookie_admin.post(f"/staff/{nurse_id}/deactivate")  # no CSRF token
    role, page, csrf = _refusals(api)
    assert (role.actor_user_id, role.actor_role, role.entity_id) == (
        nurse_id,
        "nurse",
        "list_staff",
    )
    assert role.details["code"] == "permission.role_not_allowed"
    assert (page.actor_role, page.entity_id, page.details["status"]) == (
        "front_desk",
        "web_clinic_settings",
        403,
    )
    assert (csrf.actor_role, csrf.details["code"]) == ("admin", "permission.csrf_token_missing")


def test_a_sign_in_refusal_is_audited_once_by_the_sign_in_itself(api: Api) -> None:
    typed = "my secret password typed as e-mail"
    api.client.post("/api/v1/auth/token", json={"email": typed, "password": "whatever it is"})
    assert _refusals(api) == []
    assert len(_events(api, "auth.sign_in_failed")) == 1


@pytest.fixture
def throttled_app(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app with one more route that is rate-limited (429) whoever calls it: any 429, not
    only the sign-in throttle's, is a refusal the trail records."""
    app = create_app(api.context)
    monkeypatch.setitem(RULES, "throttled_route", STAFF)

    @app.get("/api/v1/throttled", name="throttled_route")
    def throttled() -> None:
        raise TooManyAttempts("slow down", fields={"retry_after_s": 30})

    with TestClient(app) as client:
        yield client


def test_a_rate_limited_request_is_recorded(api: Api, throttled_app: TestClient) -> None:
    answer = throttled_app.get("/api/v1/throttled", headers=api.as_role("nurse"))
    assert answer.status_code == 429
    (refused,) = _refusals(api)
    assert (refused.entity_id, refused.actor_role) == ("throttled_route", "nurse")
    assert refused.details["status"] == 429
    assert refused.details["code"] == "auth.too_many_attempts"


def _recorder(client: TestClient) -> RefusalRecorder:
    app = client.app
    assert isinstance(app, FastAPI)
    recorder: RefusalRecorder = app.state.refusals
    return recorder


def test_a_flood_of_refusals_is_itemised_up_to_a_limit_and_counted_past_it(api: Api) -> None:
    flood = 3 * RECORDED_PER_ORIGIN
    recorder = _recorder(api.client)
    now = utc_now()
    recorder.clock = lambda: now
    for _ in range(flood):
        assert api.client.get("/api/v1/auth/me").status_code == 401
    assert len(_refusals(api)) == RECORDED_PER_ORIGIN
    assert _events(api, "access.refused_count") == []
    later = now + WINDOW
    recorder.clock = lambda: later
    api.client.get("/api/v1/health")  # any request after the window writes the count
    (counted,) = _events(api, "access.refused_count")
    assert counted.origin == "testclient"
    assert counted.details["count"] == flood - RECORDED_PER_ORIGIN
    assert counted.details["by_status"] == {"401": flood - RECORDED_PER_ORIGIN}
    assert datetime.fromisoformat(counted.details["first_at"]) == now


def test_refusals_from_many_addresses_share_a_ceiling(api: Api) -> None:
    recorder = _recorder(api.client)
    now = utc_now()
    recorder.clock = lambda: now
    addresses = [f"198.51.100.{i}" for i in range(1, 201)]
    for address in addresses[: RECORDED_IN_ALL + 10]:
        TestClient(api.client.app, client=(address, 5000)).get("/api/v1/auth/me")
    assert len(_refusals(api)) == RECORDED_IN_ALL
    counted = recorder.take_all()  # what shutdown writes
    assert sum(tally.details()["count"] for tally in counted) == 10
    assert recorder.take_all() == []  # handed over once


def test_the_counts_still_due_are_written_at_shutdown(api: Api) -> None:
    with TestClient(create_app(api.context)) as client:
        for _ in range(RECORDED_PER_ORIGIN + 5):
            client.get("/api/v1/auth/me")
        assert _events(api, "access.refused_count") == []  # its minute has not passed
    (counted,) = _events(api, "access.refused_count")
    assert counted.details["count"] == 5


def test_a_refusal_that_cannot_be_written_is_still_a_401_and_is_counted_later(
    api: Api, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write turn; PostgreSQL writers wait on row locks")
    from sqlalchemy import text

    engine = api.context.database.engine
    writer_gate(engine).timeout_s = 0.2
    with engine.begin() as other_writer:  # another transaction holds the write turn
        other_writer.execute(text("SELECT 1"))
        answer = api.client.get("/api/v1/auth/me")
    assert answer.status_code == 401  # not a 503: the request's answer does not wait on its record
    assert _refusals(api) == []
    api.client.get("/api/v1/health")
    assert _events(api, "access.refused_count") == []  # the next write waits a window
    recorder = _recorder(api.client)
    later = utc_now() + WINDOW
    recorder.clock = lambda: later
    api.client.get("/api/v1/health")
    (counted,) = _events(api, "access.refused_count")
    assert counted.details["by_status"] == {"401": 1}


def test_a_cookie_request_without_csrf_is_refused_and_recorded_once(api: Api) -> None:
    browser, _ = _cookie_client(api, ROLE_EMAILS["nurse"])
    answer = browser.post("/api/v1/auth/sign-out", headers={CSRF_HEADER: FORGED_CSRF})
    assert answer.status_code == 403
    (refused,) = _refusals(api)
    assert refused.details["credential"] == "cookie"
    assert FORGED_CSRF not in _all_audit_text(api)


def test_one_refusal_write_is_in_flight_at_a_time(api: Api) -> None:
    recorder = _recorder(api.client)
    now = utc_now()
    recorder.clock = lambda: now
    refusal = Refusal(
        401, "auth.not_signed_in", "GET", "who_am_i", "/api/v1/auth/me", "none", "203.0.113.9"
    )
    first = recorder.take(refusal)
    assert first == ([refusal], [])
    assert recorder.take(refusal) is None  # counted while the first is being written
    recorder.write(*first)
    later = now + WINDOW
    recorder.clock = lambda: later
    batch = recorder.take(None)
    assert batch is not None
    (counted,) = batch[1]
    assert (counted.origin, counted.details()["count"]) == ("203.0.113.9", 1)
