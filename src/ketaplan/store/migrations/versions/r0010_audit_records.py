"""Audit events name the record versions they wrote: ``audit_event.records`` (store.audit_records).

Events written before have none (NULL, left out of their hash, so the chain verifies as it
did). A database that already holds records gets one audit event, ``audit.records_covered``,
naming each covered table's highest id now: ``ketaplan audit verify`` does not report those
older rows as inserted outside ketaplan (no event named them); every row written from here on
is accounted for. A new, empty database gets no such event.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from ketaplan.store.audit import chain_hash
from ketaplan.store.audit_records import COVERED_ACTION, TABLES

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("records", sa.JSON(), nullable=True))
    connection = op.get_bind()
    existing = set(sa.inspect(connection).get_table_names())  # later revisions add tables
    highest = {
        name: connection.scalar(sa.text(f"SELECT COALESCE(MAX(id), 0) FROM {name}")) or 0
        for name in sorted(TABLES)
        if name in existing
    }
    if any(highest.values()):
        _append_covered_event(connection, highest)


def _append_covered_event(connection: sa.Connection, highest: dict[str, int]) -> None:
    """The chain's next event, written here as store.audit.append_audit_events writes one."""
    last_seq, last_hash = connection.execute(
        sa.text("SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1")
    ).one()
    occurred_at = datetime.now(UTC).replace(microsecond=0)
    fields: dict[str, object] = {
        "seq": last_seq + 1,
        "occurred_at": occurred_at.isoformat(),
        "actor_user_id": None,
        "actor_role": None,
        "origin": "migration",
        "action": COVERED_ACTION,
        "entity_type": "database",
        "entity_id": revision,
        "patient_id": None,
        "details": {"legacy_max_id": highest},
    }
    new_hash = chain_hash(last_hash, fields)
    stored_time = (
        occurred_at.replace(tzinfo=None) if connection.dialect.name == "sqlite" else occurred_at
    )
    events = sa.table(
        "audit_event",
        *(sa.column(name) for name in fields if name not in ("occurred_at", "details")),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("details", sa.JSON()),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    connection.execute(
        sa.insert(events).values(
            {**fields, "occurred_at": stored_time, "prev_hash": last_hash, "hash": new_hash}
        )
    )
    connection.execute(
        sa.text("UPDATE audit_chain_head SET last_seq = :seq, last_hash = :hash WHERE id = 1"),
        {"seq": last_seq + 1, "hash": new_hash},
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("records")
