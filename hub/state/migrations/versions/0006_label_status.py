"""Labels: where the Levensloopaanpak label stands at each label partner, per client.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_status",
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("partner", sa.String(60), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("delivery_id", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("resends", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.String(100), nullable=True),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("subject", "partner", name="pk_label_status"),
    )
    op.create_index("ix_label_status_state", "label_status", ["state"])
    op.create_index("ix_label_status_reference", "label_status", ["reference"])


def downgrade() -> None:
    op.drop_table("label_status")
