"""The schema: migrations from empty, refusal of an un-migrated database, append-only tables,
and the audit chain at the storage level."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError

from ketaplan.errors import DatabaseNotReady
from ketaplan.store import (
    AuditEntry,
    Database,
    append_audit_events,
    current_revision,
    head_revision,
    migrate,
    open_database,
    verify_audit_chain,
)
from ketaplan.store.audit import canonical_json, chain_hash
from ketaplan.store.engine import make_engine
from ketaplan.store.models import AuditChainHead, AuditEvent, Base

from .conftest import writer_gate

NOW = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)


def _entry(n: int) -> AuditEntry:
    return AuditEntry(
        action="patient.read",
        entity_type="patient",
        entity_id=str(n),
        actor_user_id=1,
        actor_role="nurse",
        origin="127.0.0.1",
        patient_id=n,
        details={"n": n, "dose_mg_per_kg": 0.5, "names": ("a", "é")},
    )


def _append(database: Database, count: int) -> None:
    with database.session_factory() as session:
        append_audit_events(session, [_entry(n) for n in range(count)], NOW)
        session.commit()


def test_migrations_run_from_an_empty_database_to_the_head(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        done = migrate(engine)
        assert (done.from_revision, done.to_revision, done.changed) == (None, head_revision(), True)
        assert current_revision(engine) == head_revision()
        assert not migrate(engine).changed
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_an_unmigrated_database_is_refused_with_the_command_that_migrates_it(
    database_url: str,
) -> None:
    with pytest.raises(DatabaseNotReady, match="run `ketaplan db migrate`") as caught:
        open_database(database_url)
    assert caught.value.code == "database.not_migrated"
    assert caught.value.fields["revision"] is None


def test_a_database_from_a_newer_ketaplan_is_refused(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(DatabaseNotReady, match="newer ketaplan"):
        open_database(database.engine.url.render_as_string(hide_password=False))


def test_the_audit_chain_starts_empty_and_verifies(database: Database) -> None:
    with database.session_factory() as session:
        result = verify_audit_chain(session)
    assert result.ok
    assert result.checked == 0


def test_appended_audit_events_form_a_chain_that_verifies(database: Database) -> None:
    _append(database, 3)
    _append(database, 2)
    with database.session_factory() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
        assert events[0].details == {"dose_mg_per_kg": 0.5, "n": 0, "names": ["a", "é"]}
        assert events[0].occurred_at == NOW
        result = verify_audit_chain(session, batch_size=2)
        head = session.get(AuditChainHead, 1)
    assert result.ok
    assert result.checked == 5
    assert head is not None
    assert (head.last_seq, head.last_hash) == (5, events[-1].hash)


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_event SET action = 'nothing'", "DELETE FROM audit_event"]
)
def test_the_database_refuses_to_update_or_delete_an_audit_event(
    database: Database, statement: str
) -> None:
    _append(database, 1)
    with database.engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text(statement))
    with database.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def _without_append_only_triggers(database: Database, statement: str) -> None:
    """Tamper the way someone with the database's owner rights could: triggers off, then SQL."""
    with database.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            connection.execute(text(statement))
            connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_event_no_update"))
            connection.execute(text("DROP TRIGGER audit_event_no_delete"))
            connection.execute(text(statement))


@pytest.mark.parametrize(
    ("statement", "broken_seq", "reason"),
    [
        ("UPDATE audit_event SET details = '{\"n\": 9}' WHERE seq = 2", 2, "was changed"),
        ("UPDATE audit_event SET origin = 'cli' WHERE seq = 3", 3, "was changed"),
        ("UPDATE audit_event SET actor_role = NULL WHERE seq = 2", 2, "was changed"),
        ("UPDATE audit_event SET seq = 9 WHERE seq = 3", 3, "is missing"),
        ("DELETE FROM audit_event WHERE seq = 2", 2, "is missing"),
        ("DELETE FROM audit_event WHERE seq = 4", 4, "removed from the end"),
        (
            "UPDATE audit_event SET prev_hash = hash WHERE seq = 3",
            3,
            "does not link",
        ),
        (
            "INSERT INTO audit_event (seq, occurred_at, origin, action, entity_type, entity_id,"
            " details, prev_hash, hash) SELECT 5, occurred_at, origin, action, entity_type,"
            " entity_id, details, hash, 'forged' FROM audit_event WHERE seq = 4",
            5,
            "past the chain head",
        ),
        ("UPDATE audit_chain_head SET last_seq = 3", 4, "past the chain head"),
    ],
)
def test_tampering_with_the_audit_trail_is_detected(
    database: Database, statement: str, broken_seq: int, reason: str
) -> None:
    _append(database, 4)
    _without_append_only_triggers(database, statement)
    with database.session_factory() as session:
        result = verify_audit_chain(session)
    assert not result.ok
    assert result.broken is not None
    assert result.broken.seq == broken_seq
    assert reason in result.broken.reason


def test_the_json_of_an_event_is_stored_as_the_canonical_text_it_was_hashed_as(
    database: Database,
) -> None:
    """A walk hashes the stored text as it is instead of parsing and re-encoding it
    (issue 19); that holds only if it is stored exactly as hashed."""
    _append(database, 1)
    with database.engine.connect() as connection:
        details, records = connection.execute(
            text("SELECT CAST(details AS TEXT), CAST(records AS TEXT) FROM audit_event")
        ).one()
    assert details == '{"dose_mg_per_kg":0.5,"n":0,"names":["a","é"]}'
    assert records is None


def test_events_stored_before_the_json_was_canonical_still_verify_and_tampering_shows(
    database: Database,
) -> None:
    """Trails written before (``json.dumps`` text: spaces, ``\\u00e9``) keep their hashes:
    the walk parses what is not canonical. Old and new rows mixed, then one old row changed."""
    _append(database, 2)
    with database.engine.begin() as connection:  # two more, stored as ketaplan stored them
        seq, last_hash = connection.execute(
            text("SELECT last_seq, last_hash FROM audit_chain_head")
        ).one()
        for n in (1, 2):
            entry = _entry(10 + n)
            details = json.loads(json.dumps(dict(entry.details)))
            records = [{"table": "patient", "id": 10 + n, "hash": None}]
            fields = {
                "seq": seq + n,
                "occurred_at": NOW.isoformat(),
                "actor_user_id": entry.actor_user_id,
                "actor_role": entry.actor_role,
                "origin": entry.origin,
                "action": entry.action,
                "entity_type": entry.entity_type,
                "entity_id": entry.entity_id,
                "patient_id": entry.patient_id,
                "details": details,
                "records": records,
            }
            new_hash = chain_hash(last_hash, fields)
            connection.execute(
                insert(AuditEvent.__table__),
                {**fields, "occurred_at": NOW, "prev_hash": last_hash, "hash": new_hash},
            )
            last_hash = new_hash
        connection.execute(
            text("UPDATE audit_chain_head SET last_seq = :seq, last_hash = :hash"),
            {"seq": seq + 2, "hash": last_hash},
        )
        stored = connection.execute(
            text("SELECT CAST(details AS TEXT) FROM audit_event WHERE seq = 3")
        ).scalar_one()
    assert stored != canonical_json(json.loads(stored))  # the old form
    _append(database, 2)
    with database.session_factory() as session:
        result = verify_audit_chain(session)
    assert result.broken is None
    assert result.checked == 6
    _without_append_only_triggers(
        database,
        'UPDATE audit_event SET details = \'{"dose_mg_per_kg": 0.5, "n": 12,'
        ' "names": ["a", "e"]}\' WHERE seq = 4',
    )
    with database.session_factory() as session:
        result = verify_audit_chain(session)
    assert result.broken is not None
    assert result.broken.seq == 4
    assert "was changed" in result.broken.reason


def test_lookups_read_without_a_write_transaction(database: Database, database_url: str) -> None:
    """The sign-in check's engine: a deferred BEGIN on SQLite (no write turn), autocommit on
    PostgreSQL (no BEGIN/ROLLBACK round trips); either way it sees what was committed."""
    _append(database, 1)
    with database.lookup_engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(AuditEvent)) == 1
        if database_url.startswith("postgresql"):
            dbapi = connection.connection.dbapi_connection
            assert dbapi.autocommit is True  # type: ignore[union-attr]
        else:
            assert not writer_gate(database.engine)._threads.locked()
