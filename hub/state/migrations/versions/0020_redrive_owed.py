"""A re-drive the relay owes a new broker is kept in the store until it completes: the
broker's end offsets soon pass the mark of the one it replaced, so a re-drive that failed
once was never tried again (issue 21's broker restart, CI).

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broker_mark") as batch:
        batch.add_column(sa.Column("redrive_owed_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broker_mark") as batch:
        batch.drop_column("redrive_owed_since")
