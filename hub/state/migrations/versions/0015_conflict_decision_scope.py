"""A conflict-of-duties decision names what it releases and why.

A decision recorded before this revision named only its recipient. It is kept with an
empty release (``[]``), so it releases nothing: the hub does not guess which fields a
professional meant; the ZVH records the decision again with its fields.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conflict_decision") as table:
        table.add_column(sa.Column("releases", sa.Text(), nullable=False, server_default="[]"))
        table.add_column(sa.Column("reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conflict_decision") as table:
        table.drop_column("reason")
        table.drop_column("releases")
