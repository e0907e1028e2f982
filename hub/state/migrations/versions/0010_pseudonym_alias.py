"""Security: the pseudonyms clients had before a pseudonym-key rotation, and the ones
their state moved to.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pseudonym_alias",
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("current", sa.String(64), nullable=False),
        sa.Column("rekeyed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_pseudonym_alias"),
    )
    op.create_index("ix_pseudonym_alias_current", "pseudonym_alias", ["current"])


def downgrade() -> None:
    op.drop_table("pseudonym_alias")
