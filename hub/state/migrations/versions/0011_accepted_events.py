"""Reliability: every accepted event kept in the state store until the router has it;
a delivery kept after it was sent until its connector has it; the broker's cluster id
and offsets, that tell a new, empty broker.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accepted_event",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_accepted_event"),
        sa.UniqueConstraint("event_id", name="uq_accepted_event_event_id"),
    )
    op.create_index("ix_accepted_event_published_at", "accepted_event", ["published_at"])
    with op.batch_alter_table("delivery_outbox") as table:
        table.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "broker_mark",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("cluster_id", sa.String(200), nullable=False),
        sa.Column("offsets", sa.Text(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_broker_mark"),
    )


def downgrade() -> None:
    op.drop_table("broker_mark")
    with op.batch_alter_table("delivery_outbox") as table:
        table.drop_column("sent_at")
    op.drop_table("accepted_event")
