"""The audit trail: one record per sharing decision (NEN 7513), chained by hash.

Each record's hash covers its own content and the hash of the record before it, so an
altered, removed or reordered record breaks the chain from that point on. Appending
first bumps the single ``audit_head`` row; that write takes the row lock (PostgreSQL)
or the write lock (SQLite), so concurrent routers append one after the other and the
chain never forks. The head also catches a record cut off the end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.schemas.deliveries import Outcome
from hub.schemas.envelope import Envelope
from hub.state.tables import AuditHead, AuditRecord, table

GENESIS_HASH = "0" * 64
_HEAD_ID = 1
_LIST_COLUMNS = ("legal_bases", "rule_ids", "disclosed_fields", "removed_fields", "missing")


def timestamp(moment: dt.datetime) -> str:
    """Fixed-width ISO-8601 UTC: equal text in every database, and sortable."""
    if moment.tzinfo is None:
        raise ValueError("audit times need a time zone")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


class Action:
    """What happened, in NEN 7513 terms."""

    DISCLOSE = "disclose"
    WITHHOLD = "withhold"
    NO_CASE = "no-case"
    RECORD = "record"
    DISPUTE = "dispute"


class AuditOutcome:
    """Outcomes beside the policy's own PERMIT / PERMIT_REDACTED / PERMIT_BREAK_GLASS / DENY."""

    NO_CASE = "NO_CASE"
    RECORDED = "RECORDED"
    START = "START"
    """A detention START opened the notices of its stay."""
    CORRECTION = "CORRECTION"
    """A START changed what its stay's earlier START said: partners get a correction."""
    DUPLICATE_START = "DUPLICATE_START"
    """A START said again what its stay's START said: nothing is sent."""
    DISCARDED = "DISCARDED"
    """An operator gave a dead letter up: it is not sent (``hub dlq discard``)."""
    ERASED = "ERASED"
    """A client's data was erased (a request under the AVG, or a retention clock)."""
    VIEWED = "VIEWED"
    """A person looked at a client's records in the console."""
    LOGIN_FAILED = "LOGIN_FAILED"
    """A console login was refused: a wrong password, or the account or source locked."""
    LOCKED_OUT = "LOCKED_OUT"
    """Too many failed console logins locked an account or a source address for a while."""
    DISPUTED = "DISPUTED"
    """The hub's case state and KEDO disagreed about a detained client: nothing of the
    event was forwarded, and the ZVH procesregisseur was asked to resolve it."""


OUTCOMES = (
    *(outcome.value for outcome in Outcome),
    *(v for k, v in vars(AuditOutcome).items() if k.isupper()),
)
"""Every outcome a record can have: the policy's and the hub's own."""


@dataclass(frozen=True)
class AuditEntry:
    """One decision to record; the store adds the sequence number, time and hashes."""

    event_id: str
    event_type: str
    event_time: dt.datetime
    action: str
    sender: str
    subject: str
    object: str
    outcome: str
    correlation_id: str
    recipient: str | None = None
    recipient_role: str | None = None
    flow: str | None = None
    purpose: str | None = None
    legal_bases: Sequence[str] = ()
    rule_ids: Sequence[str] = ()
    policy_version: str | None = None
    consent_id: str | None = None
    disclosed_fields: Sequence[str] = ()
    removed_fields: Sequence[str] = ()
    missing: Sequence[str] = ()
    delivery_id: str | None = None
    record_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:  # a search by outcome must be able to find it
            raise ValueError(f"unknown audit outcome {self.outcome!r}")

    @classmethod
    def about(
        cls, envelope: Envelope, *, action: str, outcome: str, object: str, **details: Any
    ) -> AuditEntry:
        """An entry about the event ``envelope`` describes; ``details`` add the decision."""
        return cls(
            event_id=envelope.id,
            event_type=envelope.type,
            event_time=envelope.time,
            action=action,
            sender=envelope.source,
            subject=envelope.subject,
            object=object,
            outcome=outcome,
            correlation_id=envelope.correlationid,
            **details,
        )


def _content(row: AuditRecord) -> dict[str, Any]:
    return {
        column.name: getattr(row, column.name)
        for column in AuditRecord.__table__.columns
        if column.name != "hash"
    }


def record_hash(row: AuditRecord) -> str:
    """SHA-256 over the canonical JSON of every column but the hash itself."""
    return _content_hash(_content(row))


def _content_hash(content: Mapping[str, Any]) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _row(entry: AuditEntry, seq: int, prev_hash: str, recorded_at: str) -> dict[str, Any]:
    """A record's columns; its hash is over all the others, as :func:`record_hash`."""
    row = dict(
        seq=seq,
        record_id=entry.record_id,
        recorded_at=recorded_at,
        event_id=entry.event_id,
        event_type=entry.event_type,
        event_time=timestamp(entry.event_time),
        action=entry.action,
        sender=entry.sender,
        subject=entry.subject,
        object=entry.object,
        recipient=entry.recipient,
        recipient_role=entry.recipient_role,
        flow=entry.flow,
        purpose=entry.purpose,
        outcome=entry.outcome,
        legal_bases=json.dumps(list(entry.legal_bases)),
        rule_ids=json.dumps(list(entry.rule_ids)),
        policy_version=entry.policy_version,
        consent_id=entry.consent_id,
        disclosed_fields=json.dumps(list(entry.disclosed_fields)),
        removed_fields=json.dumps(list(entry.removed_fields)),
        missing=json.dumps(list(entry.missing)),
        correlation_id=entry.correlation_id,
        delivery_id=entry.delivery_id,
        prev_hash=prev_hash,
    )
    row["hash"] = _content_hash(row)
    return row


# Every routing batch writes the trail: its statements are built once, and its rows go
# in as one executemany, not through the ORM (see hub.state.idempotency).
_HEAD = table(AuditHead)
_BUMP_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == _HEAD_ID)
    .values(seq=_HEAD.c.seq + bindparam("count"))
    .returning(_HEAD.c.seq, _HEAD.c.hash)
)
_HEAD_HASH = update(_HEAD).where(_HEAD.c.id == _HEAD_ID).values(hash=bindparam("head"))
_INSERT = insert(table(AuditRecord))


async def append(session: AsyncSession, entries: Sequence[AuditEntry]) -> list[int]:
    """Chain ``entries`` onto the trail in the caller's transaction; returns their numbers."""
    if not entries:
        return []
    bumped = await session.execute(_BUMP_HEAD, {"count": len(entries)})
    last_seq, prev_hash = bumped.one()
    first = last_seq - len(entries) + 1
    recorded_at = timestamp(dt.datetime.now(dt.UTC))
    rows = []
    for offset, entry in enumerate(entries):
        rows.append(_row(entry, first + offset, prev_hash, recorded_at))
        prev_hash = rows[-1]["hash"]
    await session.execute(_INSERT, rows)
    await session.execute(_HEAD_HASH, {"head": prev_hash})
    return [row["seq"] for row in rows]


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    record_id: str | None
    reason: str


@dataclass(frozen=True)
class ChainReport:
    records: int
    head_seq: int
    broken: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.broken is None


async def verify(session: AsyncSession, *, batch: int = 5000) -> ChainReport:
    """Walk the whole chain in order and name the first record that does not fit."""
    head = await session.get(AuditHead, _HEAD_ID)
    if head is None:
        return ChainReport(0, 0, ChainBreak(0, None, "the audit head row is missing"))
    expected_seq, expected_prev, count = 1, GENESIS_HASH, 0
    last_seq = 0
    while True:
        rows = (
            await session.scalars(
                select(AuditRecord)
                .where(AuditRecord.seq > last_seq)
                .order_by(AuditRecord.seq)
                .limit(batch)
            )
        ).all()
        if not rows:
            break
        for row in rows:
            problem = None
            if row.seq != expected_seq:
                problem = f"expected record {expected_seq} here; records are missing or moved"
            elif row.prev_hash != expected_prev:
                problem = "its link to the previous record does not match (removed or reordered)"
            elif record_hash(row) != row.hash:
                problem = "its content does not match its hash (altered)"
            if problem:
                return ChainReport(count, head.seq, ChainBreak(row.seq, row.record_id, problem))
            expected_seq, expected_prev, count = row.seq + 1, row.hash, count + 1
            last_seq = row.seq
    if head.seq != count or head.hash != expected_prev:
        reason = f"the head says {head.seq} records but the chain ends at {count}"
        if head.seq == count:
            reason = "the head hash does not match the last record (altered)"
        return ChainReport(count, head.seq, ChainBreak(count + 1, None, reason))
    return ChainReport(count, head.seq, None)


@dataclass(frozen=True)
class AuditQuery:
    subjects: Sequence[str] = ()
    partner: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    event_id: str | None = None
    correlation_id: str | None = None
    limit: int | None = None


def as_dict(row: AuditRecord) -> dict[str, Any]:
    """A record for output: list columns decoded, everything else as stored."""
    out = _content(row)
    out["hash"] = row.hash
    for name in _LIST_COLUMNS:
        out[name] = json.loads(out[name])
    return out


async def search(session: AsyncSession, query: AuditQuery) -> AsyncIterator[dict[str, Any]]:
    """Records matching every given filter, oldest first. ``partner`` matches sender or
    recipient, so a partner's whole traffic shows."""
    statement = select(AuditRecord).order_by(AuditRecord.seq)
    if query.subjects:
        statement = statement.where(AuditRecord.subject.in_(list(query.subjects)))
    if query.partner:
        statement = statement.where(
            (AuditRecord.recipient == query.partner)
            | (AuditRecord.sender == query.partner)
            | AuditRecord.sender.endswith(f":{query.partner}")
        )
    if query.outcome:
        statement = statement.where(AuditRecord.outcome == query.outcome)
    if query.since:
        statement = statement.where(AuditRecord.recorded_at >= timestamp(query.since))
    if query.until:
        statement = statement.where(AuditRecord.recorded_at < timestamp(query.until))
    if query.event_id:
        statement = statement.where(AuditRecord.event_id == query.event_id)
    if query.correlation_id:
        statement = statement.where(AuditRecord.correlation_id == query.correlation_id)
    if query.limit:
        statement = statement.limit(query.limit)
    for row in await session.scalars(statement):
        yield as_dict(row)


async def disclosure_report(session: AsyncSession, subjects: Sequence[str]) -> dict[str, Any]:
    """What was disclosed about a person, to whom, when and on which basis (GDPR art. 15).

    Withheld decisions are counted, not listed: the person asks what others received.
    Changes to consents and titles are listed, since they explain the bases. What went on
    a conflict-of-duties decision alone (break-glass) is listed first, for review.
    """
    disclosures: list[dict[str, Any]] = []
    recorded: list[dict[str, Any]] = []
    withheld = no_case = 0
    async for record in search(session, AuditQuery(subjects=subjects)):
        if record["action"] == Action.DISCLOSE:
            disclosures.append(
                {
                    "when": record["recorded_at"],
                    "recipient": record["recipient"],
                    "role": record["recipient_role"],
                    "purpose": record["purpose"],
                    "flow": record["flow"],
                    "about": record["event_type"],
                    "fields": record["disclosed_fields"],
                    "withheld_fields": record["removed_fields"],
                    "legal_bases": record["legal_bases"],
                    "outcome": record["outcome"],
                    "consent_id": record["consent_id"],
                    "policy_version": record["policy_version"],
                }
            )
        elif record["action"] == Action.RECORD:
            recorded.append({"when": record["recorded_at"], "what": record["object"]})
        elif record["action"] == Action.NO_CASE:
            no_case += 1
        else:
            withheld += 1
    return {
        "subject_pseudonyms": list(subjects),
        "break_glass_to_review": [
            d for d in disclosures if d["outcome"] == Outcome.PERMIT_BREAK_GLASS
        ],
        "disclosures": disclosures,
        "consent_and_title_changes": recorded,
        "withheld_decisions": withheld,
        "events_without_case": no_case,
    }
