"""A member of staff's name, and the indexes the audit-trail viewer pages through.

``app_user.full_name``: the name an admin gives when adding a member of staff (nullable: the
accounts created before had none, and a row's record hash leaves NULLs out, so existing rows
keep their hashes).

The viewer shows the trail newest first, a page at a time, keyed on the sequence number
(``seq < the last one shown``), filtered by who acted, which patient or which action. An index
on each of those columns *followed by* ``seq`` gives the rows already in order, so a page reads
about as many index entries as it shows however long the trail is: ``(actor_user_id, seq)``,
``(action, seq)``, and ``(patient_id, seq)``, which replaces the index on ``patient_id`` alone
(every query that used that one can use this one).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("app_user", sa.Column("full_name", sa.String(length=200), nullable=True))
    op.drop_index("ix_audit_event_patient_id", table_name="audit_event")
    op.create_index("ix_audit_event_patient_seq", "audit_event", ["patient_id", "seq"])
    op.create_index("ix_audit_event_actor_seq", "audit_event", ["actor_user_id", "seq"])
    op.create_index("ix_audit_event_action_seq", "audit_event", ["action", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_event_action_seq", table_name="audit_event")
    op.drop_index("ix_audit_event_actor_seq", table_name="audit_event")
    op.drop_index("ix_audit_event_patient_seq", table_name="audit_event")
    op.create_index("ix_audit_event_patient_id", "audit_event", ["patient_id"])
    op.drop_column("app_user", "full_name")  # SQLite 3.35+, no rebuild
