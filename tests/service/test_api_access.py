"""Access to the API: every route has a rule, sign-in is required, roles and CSRF are enforced.

The route walk is what keeps the role matrix honest: a route added without a rule in
``ketaplan.http.permissions`` fails here, and so does a rule for a route that no longer exists.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from ketaplan.app import create_app
from ketaplan.cli import main
from ketaplan.http.permissions import PUBLIC, RULES
from ketaplan.http.security import CSRF_HEADER, SIGN_IN_COOKIE
from ketaplan.services import ROLES, UnitOfWork, utc_now
from ketaplan.services.accounts import sign_in
from ketaplan.services.throttle import ACCOUNT_AT_ORIGIN, ORIGIN
from ketaplan.store.models import AuditEvent, SignInThrottle

from .conftest import PASSWORD, ROLE_EMAILS, Api, probing_write_lock, writer_gate


def _concrete(path: str) -> str:
    """A path with every parameter filled in with a plausible id."""
    return re.sub(r"\{[^}]+\}", "1", path)


def _all_routes(api: Api) -> list[RouteContext]:
    """Every route of the app, those of included routers too, with its full path."""
    app = api.client.app
    assert isinstance(app, FastAPI)
    return list(iter_route_contexts(app.routes))


def _api_routes(api: Api) -> list[tuple[str, str, str]]:
    return [
        (str(route.name), method, _concrete(str(route.path)))
        for route in _all_routes(api)
        if isinstance(route.original_route, APIRoute) and str(route.path).startswith("/api/")
        for method in sorted(route.methods or ())
    ]


def test_every_route_of_the_app_has_exactly_one_rule(api: Api) -> None:
    routes = _all_routes(api)
    names = [str(route.name) for route in routes]
    assert len(names) == len(set(names)), "route names must be unique: rules are keyed by them"
    missing = [name for name in names if name not in RULES]
    assert missing == [], f"routes without an access rule in ketaplan.http.permissions: {missing}"
    stale = sorted(set(RULES) - set(names))
    assert stale == [], f"rules for routes that do not exist: {stale}"
    for route in routes:
        if not isinstance(route.original_route, APIRoute):
            # Only API routes pass through `authorize`; anything else must be public.
            assert RULES[str(route.name)] == PUBLIC, route.name


def test_every_non_public_route_refuses_a_request_without_sign_in(api: Api) -> None:
    for name, method, path in _api_routes(api):
        if RULES[name] == PUBLIC:
            continue
        answer = api.client.request(method, path, json={})
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["code"] == "auth.not_signed_in"
        assert answer.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("role", ROLES)
def test_the_role_matrix_is_enforced_on_every_route(api: Api, role: str) -> None:
    for name, method, path in _api_routes(api):
        rule = RULES[name]
        if rule == PUBLIC or name == "sign_out":
            continue
        answer = api.client.request(method, path, json={}, headers=api.as_role(role))
        refused = answer.status_code == 403 and (
            answer.json()["code"] == "permission.role_not_allowed"
        )
        assert refused == (role not in rule), (role, method, path, answer.text)
        assert answer.status_code < 500, (role, method, path, answer.text)


def test_a_wrong_or_forged_token_is_refused(api: Api) -> None:
    for token in ("forged", "", "x" * 5000):
        answer = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401


def test_signing_in_and_out(api: Api) -> None:
    me = api.client.get("/api/v1/auth/me", headers=api.as_role("nurse"))
    assert me.json() == {
        "user_id": me.json()["user_id"],
        "clinic_id": me.json()["clinic_id"],
        "email": "nurse@bay.example",
        "role": "nurse",
    }
    assert api.client.post("/api/v1/auth/sign-out", headers=api.as_role("nurse")).status_code == 204
    again = api.client.get("/api/v1/auth/me", headers=api.as_role("nurse"))
    assert again.status_code == 401


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(api: Api) -> None:
    wrong = api.client.post(
        "/api/v1/auth/token", json={"email": "nurse@bay.example", "password": "not the password"}
    )
    nobody = api.client.post(
        "/api/v1/auth/token", json={"email": "nobody@bay.example", "password": PASSWORD}
    )
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json()["message"] == nobody.json()["message"]


def test_repeated_failures_make_the_next_try_wait_and_say_how_long(api: Api) -> None:
    for _ in range(ACCOUNT_AT_ORIGIN.free_failures):
        answer = api.client.post(
            "/api/v1/auth/token", json={"email": "nurse@bay.example", "password": "guess guess!"}
        )
        assert answer.status_code == 401
    waiting = api.client.post(
        "/api/v1/auth/token", json={"email": "nurse@bay.example", "password": PASSWORD}
    )
    assert waiting.status_code == 429
    assert waiting.json()["code"] == "auth.too_many_attempts"
    assert waiting.headers["Retry-After"] == str(waiting.json()["retry_after_s"])
    assert "try again in 1 second" in waiting.json()["message"]
    other = api.client.post(
        "/api/v1/auth/token", json={"email": "prescriber@bay.example", "password": PASSWORD}
    )
    assert other.status_code == 200


FORWARDED_FOR = "203.0.113.7"


def _proxy_settings_of_serve(
    monkeypatch: pytest.MonkeyPatch, database_url: str, *args: str
) -> dict[str, object]:
    """The proxy settings ``ketaplan serve ARGS`` hands uvicorn (which is not started)."""
    handed: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: handed.update(options))
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)  # serve sets both; restored after
    monkeypatch.setenv("KETAPLAN_SECURE_COOKIES", "")
    monkeypatch.setenv("KETAPLAN_PUBLIC_URL", "")
    assert main(["serve", "--port", "8123", *args]) == 0
    return {k: v for k, v in handed.items() if k in {"proxy_headers", "forwarded_allow_ips"}}


@pytest.mark.parametrize(
    ("args", "peer", "origin"),
    [
        ([], "127.0.0.1", "127.0.0.1"),  # default: the peer, even a local one, whatever it claims
        (["--forwarded-allow-ips", "127.0.0.1"], "127.0.0.1", FORWARDED_FOR),
        (["--forwarded-allow-ips", "10.0.0.0/8"], "127.0.0.1", "127.0.0.1"),  # not the proxy
        (["--forwarded-allow-ips", "10.0.0.0/8, ::1"], "10.1.2.3", FORWARDED_FOR),
    ],
)
def test_the_sign_in_rate_limit_counts_by_the_socket_peer_unless_its_proxy_is_trusted(
    api: Api,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    peer: str,
    origin: str,
) -> None:
    config = uvicorn.Config(
        api.client.app,
        log_config=None,
        **_proxy_settings_of_serve(monkeypatch, database_url, *args),
    )
    config.load()  # wraps the app as uvicorn will serve it
    client = TestClient(config.loaded_app, client=(peer, 50000))
    answer = client.post(
        "/api/v1/auth/token",
        json={"email": ROLE_EMAILS["nurse"], "password": "a wrong guess"},
        headers={"X-Forwarded-For": FORWARDED_FOR},
    )
    assert answer.status_code == 401
    with api.context.database.session_factory() as session:
        counted = session.scalars(
            select(SignInThrottle.key).where(
                SignInThrottle.scope == ORIGIN.scope, SignInThrottle.failures > 0
            )
        ).all()
    assert counted == [origin]  # the address the per-address ceiling counts


def test_serve_refuses_a_proxy_that_is_not_an_address_before_opening_the_database(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--forwarded-allow-ips", "127.0.0.1,proxy.example"]) == 2
    err = capsys.readouterr().err
    assert "'proxy.example' is not an IP address or network" in err
    assert "comma-separated" in err


def _cookie_sign_in(api: Api, *, clock_offset: timedelta = timedelta()) -> tuple[str, str]:
    uow = UnitOfWork(api.context.database.session_factory, clock=lambda: utc_now() + clock_offset)
    done = sign_in(uow, ROLE_EMAILS["nurse"], PASSWORD, kind="cookie", origin="testclient")
    return done.token, done.csrf_token


def test_cookie_writes_need_the_csrf_token_and_reads_do_not(api: Api) -> None:
    token, csrf = _cookie_sign_in(api)
    api.client.cookies.set(SIGN_IN_COOKIE, token)
    assert api.client.get("/api/v1/auth/me").status_code == 200
    refused = api.client.post("/api/v1/auth/sign-out")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission.csrf_token_missing"
    forged = api.client.post("/api/v1/auth/sign-out", headers={CSRF_HEADER: "0" * 64})
    assert forged.status_code == 403
    assert api.client.post("/api/v1/auth/sign-out", headers={CSRF_HEADER: csrf}).status_code == 204


def test_an_expired_sign_in_is_refused(api: Api) -> None:
    token, _ = _cookie_sign_in(api, clock_offset=-timedelta(hours=13))
    api.client.cookies.set(SIGN_IN_COOKIE, token)
    assert api.client.get("/api/v1/auth/me").status_code == 401


def test_a_bearer_token_is_not_accepted_as_a_cookie(api: Api) -> None:
    bearer = api.as_role("nurse")["Authorization"].removeprefix("Bearer ")
    api.client.cookies.set(SIGN_IN_COOKIE, bearer)
    assert api.client.get("/api/v1/auth/me").status_code == 401


def test_health_needs_no_sign_in_and_the_schema_does(api: Api) -> None:
    assert api.client.get("/api/v1/health").json() == {"status": "ok", "database": "ok"}
    assert api.client.get("/api/v1/openapi.json").status_code == 401
    schema = api.client.get("/api/v1/openapi.json", headers=api.as_role("front_desk")).json()
    assert "/api/v1/patients" in schema["paths"]


def test_sign_ins_are_in_the_audit_trail_with_their_origin(api: Api) -> None:
    api.client.post("/api/v1/auth/token", json={"email": "nurse@bay.example", "password": "nope"})
    with api.context.database.session_factory() as session:
        rows = session.query(AuditEvent).order_by(AuditEvent.seq).all()
    actions = [(row.action, row.origin) for row in rows]
    assert ("auth.sign_in", "testclient") in actions
    assert ("auth.sign_in_failed", "testclient") in actions


def test_an_app_route_without_a_rule_is_closed(api: Api) -> None:
    app = create_app(api.context)

    @app.get("/api/v1/forgotten", name="forgotten_route")
    def forgotten() -> dict[str, str]:  # pragma: no cover - never reached
        return {}

    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        answer = client.get("/api/v1/forgotten", headers=api.as_role("admin"))
    assert answer.status_code == 403
    assert answer.json()["code"] == "permission.no_rule"


def test_the_token_check_does_not_wait_for_a_writer_on_sqlite(api: Api) -> None:
    """Every request checks its token; on SQLite that read must not queue behind writes."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import text

    from ketaplan.services.accounts import actor_for_token

    database = api.context.database
    if database.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL readers never wait for writers")
    token = api.as_role("nurse")["Authorization"].removeprefix("Bearer ")
    lookups = database.lookup_engine
    with database.session_factory() as writer, ThreadPoolExecutor(1) as pool:
        writer.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is now held
        checked = pool.submit(actor_for_token, lookups, token, kind="bearer", origin="test")
        assert checked.result(timeout=5).role == "nurse"  # a writer's lock would hold it 30 s


def test_a_database_busy_past_the_lock_timeout_is_a_503_and_saves_nothing(
    api: Api, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's writer gate; PostgreSQL writers wait on row locks")
    from sqlalchemy import func, text

    from ketaplan.store.models import Patient

    engine = api.context.database.engine
    writer_gate(engine).timeout_s = 0.2
    patient = {"full_name": "Busy Day", "weight": "70 kg", "height": "170 cm", "age_years": 40}
    with engine.begin() as other_writer:  # another transaction holds the write turn
        other_writer.execute(text("SELECT 1"))
        answer = api.client.post("/api/v1/patients", json=patient, headers=api.as_role("nurse"))
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "database.busy"
    assert "nothing was saved" in answer.json()["message"]
    assert answer.headers["Retry-After"] == "5"
    with api.context.database.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0


def test_an_unreachable_database_is_a_503(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    import ketaplan.http.security as security

    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("SELECT", None, Exception("connection refused"))

    monkeypatch.setattr(security, "signed_in_actor", unreachable)
    answer = api.client.get("/api/v1/auth/me", headers=api.as_role("nurse"))
    assert answer.status_code == 503
    assert answer.json()["code"] == "database.unavailable"


@pytest.mark.parametrize("password", [PASSWORD, "a wrong guess, typed twice"])
def test_the_sign_in_password_is_checked_while_another_writer_can_take_the_write_lock(
    api: Api, database_url: str, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argon2 is slow on purpose: while it runs, a nurse's chart entry must not wait behind it
    (issue 14: a dozen wrong passwords once delayed a save by seconds on SQLite)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single write lock; PostgreSQL locks rows")
    from ketaplan.services import accounts

    seen: list[str] = []
    probed = probing_write_lock(database_url, accounts.password_matches, seen)
    monkeypatch.setattr(accounts, "password_matches", probed)
    answer = api.client.post(
        "/api/v1/auth/token", json={"email": "nurse@bay.example", "password": password}
    )
    assert answer.status_code == (200 if password == PASSWORD else 401)
    assert seen == ["free"]
    with api.context.database.session_factory() as session:
        last = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()[-1]
    assert last == ("auth.sign_in" if password == PASSWORD else "auth.sign_in_failed")


def test_a_password_changed_while_the_old_one_was_checked_does_not_sign_in(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account is read again after the slow check: the old password no longer opens it."""
    from ketaplan.services import accounts
    from ketaplan.services.accounts import set_password
    from ketaplan.services.clinics import load_actor

    real = accounts.password_matches
    uow = UnitOfWork(api.context.database.session_factory)
    admin = load_actor(uow, ROLE_EMAILS["admin"], origin="test")
    nurse = load_actor(uow, ROLE_EMAILS["nurse"], origin="test")

    def changed_meanwhile(stored: str | None, typed: str) -> bool:
        matched = real(stored, typed)
        set_password(uow, nurse.user_id, "a brand new passphrase", actor=admin)
        return matched

    monkeypatch.setattr(accounts, "password_matches", changed_meanwhile)
    answer = api.client.post(
        "/api/v1/auth/token", json={"email": ROLE_EMAILS["nurse"], "password": PASSWORD}
    )
    assert answer.status_code == 401
