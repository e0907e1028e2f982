"""Foundation: processed event ids and case state.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_processed_events"),
    )
    op.create_table(
        "case_state",
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("zvh", sa.String(60), nullable=False),
        sa.Column("municipality", sa.String(10), nullable=True),
        sa.Column("included_since", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_id", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_case_state"),
    )
    op.create_table(
        "team_membership",
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("partner", sa.String(60), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "partner", "role", name="pk_team_membership"),
    )


def downgrade() -> None:
    op.drop_table("team_membership")
    op.drop_table("case_state")
    op.drop_table("processed_events")
