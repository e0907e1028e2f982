"""Table definitions. Alembic migrations in ``migrations/versions`` create them."""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A moment, stored and handed back time-zone aware in UTC (a moment without a zone is
    taken as UTC). SQLite forgets the zone of a ``DateTime(timezone=True)``; this puts it
    back once, for every table and query."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        return _in_utc(value)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        return _in_utc(value)


def _in_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table(model: type[Base]) -> Table:
    """A model's table, for statements in SQLAlchemy Core: the hot path's statements are
    built once and skip the ORM (hub.state.idempotency)."""
    return cast(Table, model.__table__)


class ProcessedEvent(Base):
    """One row per event a consumer has applied: a redelivery finds its row and stops."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class CaseState(Base):
    """Where a subject's case stands, as the ZVH last told us."""

    __tablename__ = "case_state"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    zvh: Mapped[str] = mapped_column(String(60))
    municipality: Mapped[str | None] = mapped_column(String(10))
    included_since: Mapped[dt.date | None] = mapped_column(Date)
    excluded_on: Mapped[dt.date | None] = mapped_column(
        Date, doc="The day an exclusion takes effect (Europe/Amsterdam); None while included."
    )
    contacts: Mapped[str | None] = mapped_column(Text, doc="JSON: role → professional contact.")
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_event_id: Mapped[str] = mapped_column(String(200))


class TeamMembership(Base):
    """Who is in a subject's levensloopteam now; rows leave when the case ends."""

    __tablename__ = "team_membership"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner: Mapped[str] = mapped_column(String(60), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    since: Mapped[dt.date] = mapped_column(Date)


class ConsentRecord(Base):
    """A FHIR Consent the ZVH recorded; a withdrawn one stays for the record but stops counting."""

    __tablename__ = "consent"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    consent_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    resource: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    event_id: Mapped[str] = mapped_column(String(200))


class LegalTitleRecord(Base):
    """A zorgmachtiging or criminal-law condition with its validity period."""

    __tablename__ = "legal_title"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    title_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    issued_by: Mapped[str] = mapped_column(String(20))
    includes_levensloopaanpak: Mapped[bool] = mapped_column(Boolean)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    event_id: Mapped[str] = mapped_column(String(200))


class ConflictDecisionRecord(Base):
    """A conflict-of-duties decision: one named professional, one recipient, the fields it
    releases, an expiry."""

    __tablename__ = "conflict_decision"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    decision_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    decided_by: Mapped[str] = mapped_column(String(200))
    recipient: Mapped[str] = mapped_column(String(60))
    releases: Mapped[str] = mapped_column(Text, server_default="[]")
    """JSON list of the medical fields (or 'medical') it releases; [] releases nothing."""
    reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    valid_until: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    event_id: Mapped[str] = mapped_column(String(200))


class AuditRecord(Base):
    """One sharing decision (NEN 7513), chained to the record before it by its hash.

    Times are stored as fixed-width ISO-8601 UTC text, so that the hashed text is the
    same whichever database holds it and sorts in time order.
    """

    __tablename__ = "audit_record"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_id: Mapped[str] = mapped_column(String(36), unique=True)
    recorded_at: Mapped[str] = mapped_column(String(32), index=True)
    event_id: Mapped[str] = mapped_column(String(200), index=True)
    event_type: Mapped[str] = mapped_column(String(120))
    event_time: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))
    sender: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(64), index=True)
    object: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str | None] = mapped_column(String(60), index=True)
    recipient_role: Mapped[str | None] = mapped_column(String(40))
    flow: Mapped[str | None] = mapped_column(String(2))
    purpose: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(30), index=True)
    legal_bases: Mapped[str] = mapped_column(Text)
    rule_ids: Mapped[str] = mapped_column(Text)
    policy_version: Mapped[str | None] = mapped_column(String(40))
    consent_id: Mapped[str | None] = mapped_column(String(200))
    disclosed_fields: Mapped[str] = mapped_column(Text)
    removed_fields: Mapped[str] = mapped_column(Text)
    missing: Mapped[str] = mapped_column(Text)
    correlation_id: Mapped[str] = mapped_column(String(200))
    delivery_id: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last sequence number and hash: a single row every appender locks."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class OutboxRecord(Base):
    """A delivery decided in the same transaction as its audit record: waiting to be
    sent, then kept until its outbound connector has it (delivered, queued or
    dead-lettered), so a broker that loses it can be sent it again."""

    __tablename__ = "delivery_outbox"

    delivery_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), index=True)
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class AcceptedEvent(Base):
    """An event a webhook answered 202 for, sealed as it goes on the bus: committed with
    its idempotency claim, and kept until the router has routed or parked it."""

    __tablename__ = "accepted_event"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[bytes] = mapped_column(LargeBinary)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[str] = mapped_column(Text)
    accepted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    published_at: Mapped[dt.datetime | None] = mapped_column(
        UtcDateTime(), nullable=True, index=True
    )


class BrokerMark(Base):
    """The cluster the hub last saw and the furthest end offset of each partition of its
    topics: offsets never go back on one broker, so another cluster id or a partition
    that went back means a new, empty broker that must be sent everything again."""

    __tablename__ = "broker_mark"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(200))
    offsets: Mapped[str] = mapped_column(Text)
    """JSON: end offset per ``topic:partition``."""
    checked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    redrive_owed_since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """When a hub process found the broker new; set until a re-drive completes. A look
    at the broker alone cannot say so for long: a new broker soon holds more than the
    mark of the one it replaced."""


class IdentityVaultEntry(Base):
    """A subject's BSN, sealed: only outbound connectors whose partner may hold it open it."""

    __tablename__ = "identity_vault"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class DetentionRecord(Base):
    """Where an included client is held, as the last detention event said, and which stay
    that is (see :mod:`hub.state.detentions`). Detention data: erased at the latest six
    months after release (Bjsg art. 11a bis)."""

    __tablename__ = "detention_record"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    facility_code: Mapped[str] = mapped_column(String(20))
    facility_name: Mapped[str] = mapped_column(String(200))
    since: Mapped[dt.date] = mapped_column(Date)
    released_on: Mapped[dt.date | None] = mapped_column(Date)
    erase_after: Mapped[dt.date | None] = mapped_column(Date, index=True)
    last_event_id: Mapped[str] = mapped_column(String(200))
    stay_key: Mapped[str] = mapped_column(String(200))
    """The stay's business key: the id of the event that opened it."""
    start_event_id: Mapped[str | None] = mapped_column(String(200))
    """The START (or correction) partners last had of this stay; None: none yet."""
    start_digest: Mapped[str | None] = mapped_column(String(64))
    """That START's :meth:`~hub.schemas.detention.DetentionStarted.content_digest`;
    None when it is not known (a record older than the stay key)."""


class LabelStatus(Base):
    """Where the Levensloopaanpak label stands at one partner for one client (flows B, C).

    While a set or a withdrawal is not yet acknowledged, the row keeps the delivery
    record itself, so a partner that was down gets it when it comes back; the record is
    dropped the moment the partner acknowledges.
    """

    __tablename__ = "label_status"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    partner: Mapped[str] = mapped_column(String(60), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    action: Mapped[str] = mapped_column(String(10))
    reference: Mapped[str] = mapped_column(String(64), index=True)
    delivery_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    resends: Mapped[int] = mapped_column(Integer)
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    topic: Mapped[str | None] = mapped_column(String(100))
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes | None] = mapped_column(LargeBinary)
    headers: Mapped[str | None] = mapped_column(Text)


class ConsoleAccount(Base):
    """A local console account (embedded mode): an argon2 hash, never the password."""

    __tablename__ = "console_account"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))
    partner: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ConsoleSession(Base):
    """A console login, kept server-side so logout and expiry revoke it. The key is the
    SHA-256 of the cookie's random token: a database reader cannot ride a session."""

    __tablename__ = "console_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(20))
    partner: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ConnectorPause(Base):
    """A connector an operator paused: its deliveries wait in the hold-back queue, in
    their lanes, until it is resumed. Kept in the store, so a pause holds across
    restarts and for every hub process that runs the connector."""

    __tablename__ = "connector_pause"

    connector: Mapped[str] = mapped_column(String(100), primary_key=True)
    paused_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    paused_by: Mapped[str] = mapped_column(String(200))
    why: Mapped[str] = mapped_column(Text)


class ConsoleThrottle(Base):
    """Failed console logins per account or per source address in the current window, and
    until when that key is locked out. Shared by every hub process through the database."""

    __tablename__ = "console_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), index=True)


class DeliveryReceipt(Base):
    """What became of one delivery at its partner: delivered or dead-lettered, after how
    many tries and how long. Ids and partners only, never content."""

    __tablename__ = "delivery_receipt"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(64), index=True)
    correlation_id: Mapped[str] = mapped_column(String(200), index=True)
    connector: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(60), index=True)
    flow: Mapped[str] = mapped_column(String(2))
    outcome: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    detail: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    trace_id: Mapped[str | None] = mapped_column(String(32))


class HeldItem(Base):
    """Something the hub cannot pass on yet, held in its lane: a (client, partner) for an
    outbound connector, the client alone for the router. A lane goes in ``seq`` order;
    only its head is tried, so a later item never overtakes an earlier one. A head with
    a ``dead_letter_id`` is a stop: its item went to the dead letters, and the lane waits
    until that dead letter is replayed or discarded."""

    __tablename__ = "held_item"
    __table_args__ = (UniqueConstraint("consumer", "item_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(100), index=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)
    partner: Mapped[str] = mapped_column(String(60))
    item_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(100))
    partition: Mapped[int | None] = mapped_column(Integer)
    offset: Mapped[int | None] = mapped_column(BigInteger)
    headers: Mapped[str] = mapped_column(Text)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    errors: Mapped[str] = mapped_column(Text)
    held_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    dead_letter_id: Mapped[str | None] = mapped_column(String(36), index=True)


class DeadLetterRecord(Base):
    """A record the hub gave up on, kept whole with its reason and full error history,
    until an operator replays or discards it (``hub dlq``), or a later re-send of the
    same delivery (``delivery_id``, its idempotency key) succeeds."""

    __tablename__ = "dead_letter"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(120), index=True)
    recipient: Mapped[str | None] = mapped_column(String(60), index=True)
    subject: Mapped[str | None] = mapped_column(String(64), index=True)
    event_type: Mapped[str | None] = mapped_column(String(120))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    delivery_id: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(Text)
    errors: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    topic: Mapped[str] = mapped_column(String(100))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    headers: Mapped[str] = mapped_column(Text)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(20), index=True)
    failed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    settled_by: Mapped[str | None] = mapped_column(String(100))
    settlement: Mapped[str | None] = mapped_column(Text)


class DataKeyRecord(Base):
    """A client's data key for one scope, wrapped by the master key. The payloads of
    the client's records travel on the bus sealed under it; erasing it (the
    wrapped key set to NULL) makes every copy of them unreadable, wherever it lies."""

    __tablename__ = "data_key"

    key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(String(20))
    master_key_id: Mapped[str] = mapped_column(String(16))
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    erased_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    erase_reason: Mapped[str | None] = mapped_column(Text)


class PseudonymAlias(Base):
    """A pseudonym a client had before the pseudonym key rotated, and the one their state
    lives under now: records still in flight, and the audit trail, use the old one."""

    __tablename__ = "pseudonym_alias"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    current: Mapped[str] = mapped_column(String(64), index=True)
    rekeyed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SubjectActivity(Base):
    """When the router last had an event about a subject: where the retention clock for
    people in no case starts (``hub.state.activity``). A pseudonym and a moment only."""

    __tablename__ = "subject_activity"

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_event_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)


CLIENT_STATE: tuple[type[Base], ...] = (
    CaseState,
    TeamMembership,
    ConsentRecord,
    LegalTitleRecord,
    ConflictDecisionRecord,
    DetentionRecord,
    LabelStatus,
    SubjectActivity,
)
"""What the hub knows of a client now, keyed by their pseudonym: it moves with them when
the pseudonym key rotates, and goes at the end of the retention."""
