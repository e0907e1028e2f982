"""A case keeps the date its exclusion takes effect, so an exclusion dated ahead keeps
the case open (and its team) until that day.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_state") as table:
        table.add_column(sa.Column("excluded_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("case_state") as table:
        table.drop_column("excluded_on")
