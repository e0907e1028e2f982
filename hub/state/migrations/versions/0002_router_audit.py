"""Router state: case contacts, consents, legal titles, conflict-of-duties decisions,
the audit chain and the delivery outbox.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("case_state") as batch:
        batch.add_column(sa.Column("contacts", sa.Text(), nullable=True))
    op.create_table(
        "consent",
        sa.Column("consent_id", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("consent_id", name="pk_consent"),
    )
    op.create_index("ix_consent_subject", "consent", ["subject"])
    op.create_table(
        "legal_title",
        sa.Column("title_id", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("issued_by", sa.String(20), nullable=False),
        sa.Column("includes_levensloopaanpak", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("title_id", name="pk_legal_title"),
    )
    op.create_index("ix_legal_title_subject", "legal_title", ["subject"])
    op.create_table(
        "conflict_decision",
        sa.Column("decision_id", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("recipient", sa.String(60), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name="pk_conflict_decision"),
    )
    op.create_index("ix_conflict_decision_subject", "conflict_decision", ["subject"])
    op.create_table(
        "audit_record",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(120), nullable=False),
        sa.Column("event_time", sa.String(32), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("sender", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("object", sa.Text(), nullable=False),
        sa.Column("recipient", sa.String(60), nullable=True),
        sa.Column("recipient_role", sa.String(40), nullable=True),
        sa.Column("flow", sa.String(2), nullable=True),
        sa.Column("purpose", sa.String(40), nullable=True),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("legal_bases", sa.Text(), nullable=False),
        sa.Column("rule_ids", sa.Text(), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=True),
        sa.Column("consent_id", sa.String(200), nullable=True),
        sa.Column("disclosed_fields", sa.Text(), nullable=False),
        sa.Column("removed_fields", sa.Text(), nullable=False),
        sa.Column("missing", sa.Text(), nullable=False),
        sa.Column("correlation_id", sa.String(200), nullable=False),
        sa.Column("delivery_id", sa.String(64), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_record"),
        sa.UniqueConstraint("record_id", name="uq_audit_record_record_id"),
    )
    for column in ("recorded_at", "event_id", "subject", "recipient", "outcome"):
        op.create_index(f"ix_audit_record_{column}", "audit_record", [column])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])
    op.create_table(
        "delivery_outbox",
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_delivery_outbox"),
    )
    op.create_index("ix_delivery_outbox_event_id", "delivery_outbox", ["event_id"])


def downgrade() -> None:
    op.drop_table("delivery_outbox")
    op.drop_table("audit_head")
    op.drop_table("audit_record")
    op.drop_table("conflict_decision")
    op.drop_table("legal_title")
    op.drop_table("consent")
    with op.batch_alter_table("case_state") as batch:
        batch.drop_column("contacts")
