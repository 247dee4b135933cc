"""Orders: a plan becomes an order with a lifecycle, kept as append-only ``order_event`` rows
(proposed, signed by a prescriber with the signature's name, time and meaning, superseded or
cancelled); the same append-only triggers as the other history tables.

Plans saved before this revision have no event: they read as *proposed* and need a
prescriber's signature before a course or a session uses them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def _refuse_changes_to_order_events() -> None:
    """The same append-only triggers as revision 0001's history tables."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER order_event_append_only BEFORE UPDATE OR DELETE ON order_event "
            "FOR EACH ROW EXECUTE FUNCTION ketaplan_refuse_change()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER order_event_no_{verb.lower()} BEFORE {verb} ON order_event "
            "BEGIN SELECT RAISE(ABORT, 'order_event is append-only: rows are never updated "
            "or deleted'); END"
        )


def upgrade() -> None:
    op.create_table(
        "order_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.Integer(), nullable=False),
        sa.Column("signer_email", sa.String(length=320), nullable=True),
        sa.Column("signer_name", sa.String(length=200), nullable=True),
        sa.Column("meaning", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("override", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "status IN ('proposed', 'signed', 'superseded', 'cancelled')",
            name=op.f("ck_order_event_status"),
        ),
        sa.ForeignKeyConstraint(["by"], ["app_user.id"], name=op.f("fk_order_event_by_app_user")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["infusion_plan.id"], name=op.f("fk_order_event_plan_id_infusion_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_event")),
        sa.UniqueConstraint("plan_id", "status", name=op.f("uq_order_event_plan_id_status")),
    )
    _refuse_changes_to_order_events()


def downgrade() -> None:
    op.drop_table("order_event")
