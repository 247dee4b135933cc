"""The controlled-substance ledger (issue 16): ``ledger_container`` (each vial's identity) and
``ledger_entry`` (receipts, draws, administrations, wastes, returns, destructions, counts,
resolutions, corrections, inventories, loss cases), both append-only like the other history
tables (the same triggers): an entry is never updated or deleted; a correction is a new entry.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

# A copy, not an import: a migration is a snapshot and must not change when models do.
KINDS = (
    "receive",
    "draw",
    "administer",
    "waste",
    "return",
    "destroy",
    "count",
    "resolve",
    "correct",
    "inventory",
    "loss_open",
    "loss_notice",
    "loss_form_106",
    "loss_note",
    "loss_resolve",
)
TABLES = ("ledger_container", "ledger_entry")


def _refuse_changes() -> None:
    """The same append-only triggers as revision 0001's history tables."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ketaplan_refuse_change()"
            )
            continue
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: rows are never updated "
                "or deleted'); END"
            )


def upgrade() -> None:
    op.create_table(
        "ledger_container",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("drug", sa.String(length=120), nullable=False),
        sa.Column("form", sa.String(length=60), nullable=False),
        sa.Column("ndc", sa.String(length=20), nullable=False),
        sa.Column("lot", sa.String(length=40), nullable=False),
        sa.Column("expiry", sa.Date(), nullable=False),
        sa.Column("mg_per_ml", sa.Float(precision=53), nullable=False),
        sa.Column("volume_cml", sa.Integer(), nullable=False),
        sa.Column("schedule", sa.String(length=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_ledger_container_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_container")),
        sa.UniqueConstraint(
            "clinic_id", "number", name=op.f("uq_ledger_container_clinic_id_number")
        ),
    )
    user_fk = "app_user.id"
    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("container_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.Integer(), nullable=False),
        sa.Column("volume_cml", sa.Integer(), nullable=True),
        sa.Column("mg", sa.Float(precision=53), nullable=True),
        sa.Column("draw_id", sa.Integer(), nullable=True),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("witness_id", sa.Integer(), nullable=True),
        sa.Column("second_witness_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")",
            name=op.f("ck_ledger_entry_kind"),
        ),
        sa.ForeignKeyConstraint(["by"], [user_fk], name=op.f("fk_ledger_entry_by_app_user")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_ledger_entry_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["container_id"],
            ["ledger_container.id"],
            name=op.f("fk_ledger_entry_container_id_ledger_container"),
        ),
        sa.ForeignKeyConstraint(
            ["corrects_id"],
            ["ledger_entry.id"],
            name=op.f("fk_ledger_entry_corrects_id_ledger_entry"),
        ),
        sa.ForeignKeyConstraint(
            ["draw_id"], ["ledger_entry.id"], name=op.f("fk_ledger_entry_draw_id_ledger_entry")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_ledger_entry_patient_id_patient")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["infusion_plan.id"], name=op.f("fk_ledger_entry_plan_id_infusion_plan")
        ),
        sa.ForeignKeyConstraint(
            ["second_witness_id"],
            [user_fk],
            name=op.f("fk_ledger_entry_second_witness_id_app_user"),
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["infusion_session.id"],
            name=op.f("fk_ledger_entry_session_id_infusion_session"),
        ),
        sa.ForeignKeyConstraint(
            ["witness_id"], [user_fk], name=op.f("fk_ledger_entry_witness_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
        sa.UniqueConstraint("clinic_id", "seq", name=op.f("uq_ledger_entry_clinic_id_seq")),
    )
    op.create_index("ix_ledger_entry_container_id", "ledger_entry", ["container_id"])
    op.create_index("ix_ledger_entry_patient_id", "ledger_entry", ["patient_id"])
    op.create_index("ix_ledger_entry_session_id", "ledger_entry", ["session_id"])
    _refuse_changes()


def downgrade() -> None:
    op.drop_table("ledger_entry")
    op.drop_table("ledger_container")
