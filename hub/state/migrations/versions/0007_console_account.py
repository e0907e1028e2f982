"""Console: local accounts with argon2 password hashes and a role; delivery receipts.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_account",
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("partner", sa.String(60), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name="pk_console_account"),
    )
    op.create_table(
        "delivery_receipt",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("correlation_id", sa.String(200), nullable=False),
        sa.Column("connector", sa.String(100), nullable=False),
        sa.Column("recipient", sa.String(60), nullable=False),
        sa.Column("flow", sa.String(2), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_delivery_receipt"),
    )
    for column in ("delivery_id", "correlation_id", "recipient", "finished_at"):
        op.create_index(f"ix_delivery_receipt_{column}", "delivery_receipt", [column])


def downgrade() -> None:
    op.drop_table("delivery_receipt")
    op.drop_table("console_account")
