"""Chairs (issue 18): each booking holds a chair and its end (infusion and recovery), boosters
are bookings of their own, a course can be cancelled, and every change to the bookings is a
``booking_event`` row (append-only, with who and why).

Existing bookings keep NULL in every new column: no end, no chair (they were made before the
clinic counted chairs, so they hold none), not a booster. Filling a column of existing rows
would change their audit hashes (store.audit_records), which only an audit event could vouch
for.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def _refuse_changes() -> None:
    """The same append-only triggers as revision 0001's history tables."""
    table = "booking_event"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ketaplan_refuse_change()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows are never updated "
            "or deleted'); END"
        )


def upgrade() -> None:
    op.add_column("course_booking", sa.Column("end_at", sa.DateTime(timezone=True)))
    op.add_column("course_booking", sa.Column("chair", sa.Integer()))
    op.add_column("course_booking", sa.Column("booster", sa.Boolean()))
    op.add_column("treatment_course", sa.Column("cancelled_at", sa.DateTime(timezone=True)))
    op.create_table(
        "booking_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("from_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("to_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chair", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_booking_event_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["treatment_course.id"],
            name=op.f("fk_booking_event_course_id_treatment_course"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_booking_event_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["app_user.id"], name=op.f("fk_booking_event_recorded_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_event")),
    )
    op.create_index("ix_booking_event_course_id", "booking_event", ["course_id"])
    _refuse_changes()


def downgrade() -> None:
    op.drop_index("ix_booking_event_course_id", table_name="booking_event")
    op.drop_table("booking_event")  # its triggers go with it
    for table, column in (
        ("treatment_course", "cancelled_at"),
        ("course_booking", "booster"),
        ("course_booking", "chair"),
        ("course_booking", "end_at"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")  # SQLite 3.35+, no rebuild
