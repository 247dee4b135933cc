"""Initial schema: clinic, users, patients and their versions, plans, courses, sessions and
their events, questionnaire responses, titration, the audit trail and its chain head.

Also: the chain head's genesis row, and triggers refusing UPDATE and DELETE on the append-only
tables (``APPEND_ONLY_TABLES`` in ``ketaplan.store.models``), on SQLite and on PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


# A copy, not an import: a migration is a snapshot and must not change when models do.
APPEND_ONLY_TABLES = (
    "patient_version",
    "session_event",
    "questionnaire_response",
    "titration_recommendation",
    "titration_decision",
    "audit_event",
)
GENESIS_HASH = "0" * 64


def _refuse_changes_to_append_only_tables() -> None:
    """Triggers that make UPDATE and DELETE fail on the append-only tables."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION ketaplan_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: rows are never updated or deleted',
                    TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
            END
            $$
            """
        )
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ketaplan_refuse_change()"
            )
        return
    for table in APPEND_ONLY_TABLES:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows are never updated "
                "or deleted'); END"
            )


def upgrade() -> None:
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=True),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_event_hash")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_event_seq")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_patient_id", ["patient_id"], unique=False)

    op.create_table(
        "clinic",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic")),
    )
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'prescriber', 'nurse', 'front_desk')", name=op.f("ck_app_user_role")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_app_user_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("email", name=op.f("uq_app_user_email")),
    )
    op.create_table(
        "patient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_patient_version_positive")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_patient_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["app_user.id"], name=op.f("fk_patient_created_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient")),
    )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_clinic_id"), ["clinic_id"], unique=False)

    op.create_table(
        "infusion_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("patient_version", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(length=64), nullable=False),
        sa.Column("catalog_version", sa.String(length=64), nullable=False),
        sa.Column("eligibility_status", sa.String(length=32), nullable=False),
        sa.Column("mg_per_kg", sa.Float(precision=53), nullable=False),
        sa.Column("total_mg", sa.Float(precision=53), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("override", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["app_user.id"], name=op.f("fk_infusion_plan_created_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_infusion_plan_patient_id_patient")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_infusion_plan")),
    )
    with op.batch_alter_table("infusion_plan", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_infusion_plan_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "patient_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_patient_version_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["app_user.id"], name=op.f("fk_patient_version_recorded_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_version")),
        sa.UniqueConstraint(
            "patient_id", "version", name=op.f("uq_patient_version_patient_id_version")
        ),
    )
    op.create_table(
        "treatment_course",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("protocol_key", sa.String(length=64), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["app_user.id"], name=op.f("fk_treatment_course_created_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_treatment_course_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["infusion_plan.id"],
            name=op.f("fk_treatment_course_plan_id_infusion_plan"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatment_course")),
    )
    with op.batch_alter_table("treatment_course", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_treatment_course_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "infusion_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("protocol_key", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("weight_kg", sa.Float(precision=53), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["treatment_course.id"],
            name=op.f("fk_infusion_session_course_id_treatment_course"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["app_user.id"], name=op.f("fk_infusion_session_created_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_infusion_session_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["infusion_plan.id"],
            name=op.f("fk_infusion_session_plan_id_infusion_plan"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_infusion_session")),
    )
    with op.batch_alter_table("infusion_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_infusion_session_course_id"), ["course_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_infusion_session_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "titration_recommendation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("recommended_mg_per_kg", sa.Float(precision=53), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("recommendation", sa.JSON(), nullable=False),
        sa.Column("basis", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["treatment_course.id"],
            name=op.f("fk_titration_recommendation_course_id_treatment_course"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["app_user.id"],
            name=op.f("fk_titration_recommendation_created_by_app_user"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_titration_recommendation_patient_id_patient"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_titration_recommendation")),
    )
    with op.batch_alter_table("titration_recommendation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_titration_recommendation_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "questionnaire_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("scale", sa.String(length=32), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(length=32), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["treatment_course.id"],
            name=op.f("fk_questionnaire_response_course_id_treatment_course"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_questionnaire_response_patient_id_patient"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["app_user.id"],
            name=op.f("fk_questionnaire_response_recorded_by_app_user"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_session.id"],
            name=op.f("fk_questionnaire_response_session_id_infusion_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_response")),
    )
    with op.batch_alter_table("questionnaire_response", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_questionnaire_response_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "session_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_session_event_seq_positive")),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["app_user.id"], name=op.f("fk_session_event_recorded_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_session.id"],
            name=op.f("fk_session_event_session_id_infusion_session"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_event")),
        sa.UniqueConstraint("session_id", "seq", name=op.f("uq_session_event_session_id_seq")),
    )
    op.create_table(
        "titration_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("mg_per_kg", sa.Float(precision=53), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "decision IN ('accepted', 'overridden')", name=op.f("ck_titration_decision_decision")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["app_user.id"], name=op.f("fk_titration_decision_decided_by_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["titration_recommendation.id"],
            name=op.f("fk_titration_decision_recommendation_id_titration_recommendation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_titration_decision")),
        sa.UniqueConstraint(
            "recommendation_id", name=op.f("uq_titration_decision_recommendation_id")
        ),
    )

    op.bulk_insert(
        sa.table(
            "audit_chain_head",
            sa.column("id", sa.Integer),
            sa.column("last_seq", sa.Integer),
            sa.column("last_hash", sa.String),
        ),
        [{"id": 1, "last_seq": 0, "last_hash": GENESIS_HASH}],
    )
    _refuse_changes_to_append_only_tables()


def downgrade() -> None:
    op.drop_table("titration_decision")
    op.drop_table("session_event")
    with op.batch_alter_table("questionnaire_response", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_questionnaire_response_patient_id"))

    op.drop_table("questionnaire_response")
    with op.batch_alter_table("titration_recommendation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_titration_recommendation_patient_id"))

    op.drop_table("titration_recommendation")
    with op.batch_alter_table("infusion_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_infusion_session_patient_id"))
        batch_op.drop_index(batch_op.f("ix_infusion_session_course_id"))

    op.drop_table("infusion_session")
    with op.batch_alter_table("treatment_course", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_treatment_course_patient_id"))

    op.drop_table("treatment_course")
    op.drop_table("patient_version")
    with op.batch_alter_table("infusion_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_infusion_plan_patient_id"))

    op.drop_table("infusion_plan")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_clinic_id"))

    op.drop_table("patient")
    op.drop_table("app_user")
    op.drop_table("clinic")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_patient_id")

    op.drop_table("audit_event")
    op.drop_table("audit_chain_head")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION ketaplan_refuse_change()")
