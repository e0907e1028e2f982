"""One hold-back queue: parked events (the router's) and delivery retries (the outbound
connectors') become rows of one table, in lanes per client and partner, and a dead
letter can stop its lane.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_PARKED = (
    "INSERT INTO held_item (consumer, subject, partner, item_id, topic, partition, "
    '"offset", headers, value, reason, attempts, errors, held_at, next_attempt_at) '
    "SELECT 'hub-router', subject, '', event_id, topic, NULL, NULL, headers, value, "
    "reason, attempts, '[]', parked_at, next_attempt_at FROM parked_event ORDER BY seq"
)
_RETRIES = (
    "INSERT INTO held_item (consumer, subject, partner, item_id, topic, partition, "
    '"offset", headers, value, reason, attempts, errors, held_at, next_attempt_at) '
    'SELECT connector, subject, recipient, event_id, topic, partition, "offset", '
    "headers, value, '', attempts, errors, first_failed_at, next_attempt_at "
    "FROM delivery_retry ORDER BY seq"
)


def upgrade() -> None:
    op.create_table(
        "held_item",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("partner", sa.String(60), nullable=False),
        sa.Column("item_id", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=True),
        sa.Column("offset", sa.BigInteger(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dead_letter_id", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_held_item"),
        sa.UniqueConstraint("consumer", "item_id", name="uq_held_item_consumer"),
    )
    op.create_index("ix_held_item_consumer", "held_item", ["consumer"])
    op.create_index("ix_held_item_subject", "held_item", ["subject"])
    op.create_index("ix_held_item_next_attempt_at", "held_item", ["next_attempt_at"])
    op.create_index("ix_held_item_dead_letter_id", "held_item", ["dead_letter_id"])
    op.execute(_PARKED)
    op.execute(_RETRIES)
    op.drop_table("parked_event")
    op.drop_table("delivery_retry")


def downgrade() -> None:
    raise NotImplementedError("the hold-back queue cannot be split back into two tables")
