"""A delivery's dead letter knows the delivery's idempotency key, so a later re-send of
the same delivery that succeeds resolves it by itself.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dead_letter") as table:
        table.add_column(sa.Column("delivery_id", sa.String(64), nullable=True))
    op.create_index("ix_dead_letter_delivery_id", "dead_letter", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_dead_letter_delivery_id", "dead_letter")
    with op.batch_alter_table("dead_letter") as table:
        table.drop_column("delivery_id")
