"""Security: per-client data keys, wrapped by the master key, for the sealed fields on
the bus and their crypto-shredding.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_key",
        sa.Column("key_id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("master_key_id", sa.String(16), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erase_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_data_key"),
    )
    op.create_index("ix_data_key_subject", "data_key", ["subject"])


def downgrade() -> None:
    op.drop_table("data_key")
