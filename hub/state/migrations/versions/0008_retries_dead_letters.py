"""Reliability: the per-subject delivery retry queue and the dead-letter store; the trace
id on a delivery receipt.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_retry",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("connector", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(60), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_delivery_retry"),
        sa.UniqueConstraint("connector", "event_id", name="uq_delivery_retry_connector"),
    )
    for column in ("connector", "subject", "next_attempt_at"):
        op.create_index(f"ix_delivery_retry_{column}", "delivery_retry", [column])
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("consumer", sa.String(120), nullable=False),
        sa.Column("recipient", sa.String(60), nullable=True),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("event_type", sa.String(120), nullable=True),
        sa.Column("correlation_id", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(60), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_by", sa.String(100), nullable=True),
        sa.Column("settlement", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letter"),
    )
    for column in ("consumer", "recipient", "subject", "state", "failed_at"):
        op.create_index(f"ix_dead_letter_{column}", "dead_letter", [column])
    with op.batch_alter_table("delivery_receipt") as batch:
        batch.add_column(sa.Column("trace_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery_receipt") as batch:
        batch.drop_column("trace_id")
    op.drop_table("dead_letter")
    op.drop_table("delivery_retry")
