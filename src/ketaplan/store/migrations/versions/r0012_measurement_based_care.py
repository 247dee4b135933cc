"""Measurement-based care (issue 18 item 6): ``outbox_message`` (e-mails to patients, written
with what caused them and sent by ``ketaplan outbox send``) and ``item9_review`` (a
clinician's review of a PHQ-9 item 9 answer, append-only like the other history tables).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

APPEND_ONLY = "item9_review"


def _refuse_changes() -> None:
    """The same append-only triggers as revision 0001's history tables."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {APPEND_ONLY}_append_only BEFORE UPDATE OR DELETE ON {APPEND_ONLY} "
            "FOR EACH ROW EXECUTE FUNCTION ketaplan_refuse_change()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {APPEND_ONLY}_no_{verb.lower()} BEFORE {verb} ON {APPEND_ONLY} "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY} is append-only: rows are never updated "
            "or deleted'); END"
        )


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link_url", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('questionnaire_link', 'appointment_reminder')",
            name=op.f("ck_outbox_message_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'failed')", name=op.f("ck_outbox_message_status")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_outbox_message_attempts_not_negative")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_outbox_message_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_outbox_message_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["app_user.id"], name=op.f("fk_outbox_message_created_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_message_dedupe_key")),
    )
    op.create_index(
        op.f("ix_outbox_message_patient_id"), "outbox_message", ["patient_id"], unique=False
    )
    op.create_index(
        "ix_outbox_message_status_next_attempt_at",
        "outbox_message",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "item9_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["questionnaire_response.id"],
            name=op.f("fk_item9_review_response_id_questionnaire_response"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_item9_review_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["app_user.id"], name=op.f("fk_item9_review_reviewed_by_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item9_review")),
        sa.UniqueConstraint("response_id", name=op.f("uq_item9_review_response_id")),
    )
    op.create_index(
        op.f("ix_item9_review_patient_id"), "item9_review", ["patient_id"], unique=False
    )
    _refuse_changes()


def downgrade() -> None:
    op.drop_table("item9_review")
    op.drop_table("outbox_message")
