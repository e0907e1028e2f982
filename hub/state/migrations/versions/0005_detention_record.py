"""Router: where an included client is held, with its erasure date after release.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detention_record",
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("facility_code", sa.String(20), nullable=False),
        sa.Column("facility_name", sa.String(200), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("released_on", sa.Date(), nullable=True),
        sa.Column("erase_after", sa.Date(), nullable=True),
        sa.Column("last_event_id", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_detention_record"),
    )
    op.create_index("ix_detention_record_erase_after", "detention_record", ["erase_after"])


def downgrade() -> None:
    op.drop_table("detention_record")
