"""Router: one business key per detention stay, and the START partners last had of it,
so a second START of the same stay is a repeat or a correction, not a second start.

A record kept before this revision takes its last event's id as its stay key. Whether
partners had a START of it is not known; it is taken that they did (start_event_id set,
digest unknown), so the next START of that stay goes as a correction, never as a
second start notice.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("detention_record") as table:
        table.add_column(sa.Column("stay_key", sa.String(200), nullable=True))
        table.add_column(sa.Column("start_event_id", sa.String(200), nullable=True))
        table.add_column(sa.Column("start_digest", sa.String(64), nullable=True))
    op.execute(
        "UPDATE detention_record SET stay_key = last_event_id, start_event_id = last_event_id"
    )
    with op.batch_alter_table("detention_record") as table:
        table.alter_column("stay_key", existing_type=sa.String(200), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("detention_record") as table:
        table.drop_column("start_digest")
        table.drop_column("start_event_id")
        table.drop_column("stay_key")
