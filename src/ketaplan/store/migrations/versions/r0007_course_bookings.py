"""A course's booked sessions as rows and its last day as a column, and an index on recent
PHQ-9 answers: the dashboard reads today's chairs, recently ended series and item 9 flags by
index instead of loading every course's schedule of the clinic (issue 19).

Existing courses are filled in from their stored schedules.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    booking = op.create_table(
        "course_booking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_course_booking_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["treatment_course.id"],
            name=op.f("fk_course_booking_course_id_treatment_course"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_course_booking_patient_id_patient")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_booking")),
        sa.UniqueConstraint("course_id", "number", name=op.f("uq_course_booking_course_id_number")),
    )
    op.create_index("ix_course_booking_clinic_start", "course_booking", ["clinic_id", "start_at"])
    # Nullable in the schema, filled for every course (below, and by the services): making it
    # NOT NULL on SQLite means rebuilding treatment_course, which the tables referencing it
    # forbid inside the migration's one transaction.
    op.add_column("treatment_course", sa.Column("last_day", sa.Date(), nullable=True))

    connection = op.get_bind()
    naive_utc = connection.dialect.name == "sqlite"  # as ketaplan.store.types.UTCDateTime stores

    def stored_time(iso: str) -> datetime:
        in_utc = datetime.fromisoformat(iso).astimezone(UTC)
        return in_utc.replace(tzinfo=None) if naive_utc else in_utc

    courses = connection.execute(
        sa.text(
            "SELECT treatment_course.id, treatment_course.patient_id, patient.clinic_id,"
            " treatment_course.schedule FROM treatment_course"
            " JOIN patient ON patient.id = treatment_course.patient_id"
        )
    ).all()
    last_days = []
    rows: list[dict[str, object]] = []
    for course_id, patient_id, clinic_id, schedule in courses:
        stored = json.loads(schedule) if isinstance(schedule, str) else schedule
        sessions = stored["sessions"]
        last_days.append({"id": course_id, "last_day": date.fromisoformat(sessions[-1]["date"])})
        rows.extend(
            {
                "clinic_id": clinic_id,
                "patient_id": patient_id,
                "course_id": course_id,
                "number": booked["number"],
                "start_at": stored_time(booked["start"]),
            }
            for booked in sessions
        )
    if last_days:
        connection.execute(
            sa.text("UPDATE treatment_course SET last_day = :last_day WHERE id = :id"), last_days
        )
    if rows:
        op.bulk_insert(booking, rows)

    op.create_index(op.f("ix_treatment_course_last_day"), "treatment_course", ["last_day"])
    with op.batch_alter_table("questionnaire_response", schema=None) as batch_op:
        batch_op.create_index(
            "ix_questionnaire_response_scale_answered", ["scale", "answered_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("questionnaire_response", schema=None) as batch_op:
        batch_op.drop_index("ix_questionnaire_response_scale_answered")
    op.drop_index(op.f("ix_treatment_course_last_day"), table_name="treatment_course")
    op.execute("ALTER TABLE treatment_course DROP COLUMN last_day")  # SQLite 3.35+, no rebuild
    op.drop_index("ix_course_booking_clinic_start", table_name="course_booking")
    op.drop_table("course_booking")
