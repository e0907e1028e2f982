"""A consent, title or conflict-of-duties decision is one client's: its key is the client
and its id, so two ZVHs that happen to pick the same id never collide (before, the second
was refused, or could have replaced the first).

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

KEYS = {"consent": "consent_id", "legal_title": "title_id", "conflict_decision": "decision_id"}


def upgrade() -> None:
    for table, key in KEYS.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", ["subject", key])


def downgrade() -> None:
    for table, key in KEYS.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", [key])
