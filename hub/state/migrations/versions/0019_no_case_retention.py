"""Retention for people in no case: when the router last had an event about a subject,
so the hub can erase a person who never got a case a short while after it (issue 23).
No backfill: the housekeeping starts the clock of a subject it finds without one.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subject_activity",
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_subject_activity"),
    )
    op.create_index("ix_subject_activity_last_event_at", "subject_activity", ["last_event_at"])


def downgrade() -> None:
    op.drop_table("subject_activity")
