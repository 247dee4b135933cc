"""Indexes for two lookups that scanned their whole table as a clinic's records grew: a
course's titration recommendations (the course page of a course under way) and the recent
sign-in failures from one address (every sign-in).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("titration_recommendation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_titration_recommendation_course_id"), ["course_id"], unique=False
        )
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempt_origin_at", ["origin", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempt_origin_at")
    with op.batch_alter_table("titration_recommendation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_titration_recommendation_course_id"))
