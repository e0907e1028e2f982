"""The dead-letter store: every record the hub gave up on, whole, with its reason and
its full error history, until an operator replays or discards it.

The id is derived from where the record came from (consumer, topic, partition,
offset), so a consumer that gives up on the same record twice (a crash before its
offset commit) stores it once.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.errors import HubError
from hub.core.record import KafkaRecord
from hub.state import failures
from hub.state.database import upsert_insert
from hub.state.failures import Failure
from hub.state.letter_states import LetterState
from hub.state.tables import DeadLetterRecord, HeldItem

NAMESPACE = uuid.UUID("a3c1f1c4-4f5b-4b83-9c2e-6d1f0c9e5a27")


@dataclass(frozen=True)
class Source:
    """Where the record was read, and what it is about (ids only)."""

    consumer: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: dict[str, str]
    value: bytes
    recipient: str | None = None
    subject: str | None = None
    event_type: str | None = None
    correlation_id: str | None = None
    delivery_id: str | None = None
    """A delivery's idempotency key: a later re-send of it resolves the dead letter."""


@dataclass(frozen=True)
class Letter:
    id: str
    consumer: str
    recipient: str | None
    subject: str | None
    event_type: str | None
    correlation_id: str | None
    reason: str
    detail: str
    errors: list[Failure]
    attempts: int
    topic: str
    partition: int
    offset: int
    record: KafkaRecord
    state: LetterState
    failed_at: dt.datetime
    settled_at: dt.datetime | None
    settled_by: str | None
    settlement: str | None


def letter_id(consumer: str, topic: str, partition: int, offset: int, failure: int = 1) -> str:
    """The id of the ``failure``-th dead letter of one source record."""
    name = f"{consumer}|{topic}|{partition}|{offset}"
    return str(uuid.uuid5(NAMESPACE, name if failure == 1 else f"{name}|{failure}"))


async def _open_id(session: AsyncSession, source: Source) -> str:
    """The id for a failure of ``source``: its open letter's, or the next unused one."""
    failure = 1
    while True:
        identifier = letter_id(
            source.consumer, source.topic, source.partition, source.offset, failure
        )
        row = await session.get(DeadLetterRecord, identifier)
        if row is None or row.state == LetterState.OPEN.value:
            return identifier
        failure += 1


def _letter(row: DeadLetterRecord) -> Letter:
    return Letter(
        id=row.id,
        consumer=row.consumer,
        recipient=row.recipient,
        subject=row.subject,
        event_type=row.event_type,
        correlation_id=row.correlation_id,
        reason=row.reason,
        detail=row.detail,
        errors=failures.load(row.errors),
        attempts=row.attempts,
        topic=row.topic,
        partition=row.partition,
        offset=row.offset,
        record=KafkaRecord(
            topic=row.topic,
            key=row.key or b"",
            value=row.value,
            headers=json.loads(row.headers),
        ),
        state=LetterState(row.state),
        failed_at=row.failed_at,
        settled_at=row.settled_at,
        settled_by=row.settled_by,
        settlement=row.settlement,
    )


async def record(
    session: AsyncSession,
    source: Source,
    error: HubError,
    history: list[Failure],
    *,
    attempts: int,
    now: dt.datetime,
) -> str:
    """Store the dead letter, once per failure of a source record: a record that comes
    again while its letter is open is the same letter; one that fails again after its
    letter was settled (a replay the partner refused again) is a new, open letter, so it
    can be replayed or discarded in turn. Returns its id."""
    identifier = await _open_id(session, source)
    insert = upsert_insert(session)
    await session.execute(
        insert(DeadLetterRecord)
        .values(
            id=identifier,
            consumer=source.consumer,
            recipient=source.recipient,
            subject=source.subject,
            event_type=source.event_type,
            correlation_id=source.correlation_id,
            delivery_id=source.delivery_id,
            reason=error.slug,
            detail=str(error)[:2000],
            errors=failures.dump(history),
            attempts=attempts,
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
            key=source.key,
            headers=json.dumps(source.headers, sort_keys=True),
            value=source.value,
            state=LetterState.OPEN.value,
            failed_at=now,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return identifier


@dataclass(frozen=True)
class LetterQuery:
    state: LetterState | None = LetterState.OPEN
    recipient: str | None = None
    consumer: str | None = None
    limit: int = 100


async def find(session: AsyncSession, query: LetterQuery) -> list[Letter]:
    statement = select(DeadLetterRecord)
    if query.state is not None:
        statement = statement.where(DeadLetterRecord.state == query.state.value)
    if query.recipient is not None:
        statement = statement.where(DeadLetterRecord.recipient == query.recipient)
    if query.consumer is not None:
        statement = statement.where(DeadLetterRecord.consumer == query.consumer)
    rows = await session.scalars(
        statement.order_by(DeadLetterRecord.failed_at.desc()).limit(query.limit)
    )
    return [_letter(row) for row in rows]


async def get(session: AsyncSession, id_or_prefix: str) -> Letter | None:
    """By id, or by an unambiguous prefix of at least 8 characters."""
    row = await session.get(DeadLetterRecord, id_or_prefix)
    if row is None and len(id_or_prefix) >= 8:
        rows = (
            await session.scalars(
                select(DeadLetterRecord)
                .where(DeadLetterRecord.id.startswith(id_or_prefix, autoescape=True))
                .limit(2)
            )
        ).all()
        row = rows[0] if len(rows) == 1 else None
    return None if row is None else _letter(row)


async def settle(
    session: AsyncSession,
    identifier: str,
    state: LetterState,
    *,
    by: str,
    settlement: str,
    now: dt.datetime,
) -> bool:
    """Close an open dead letter; False when it was settled already (a second replay)."""
    result = await session.execute(
        update(DeadLetterRecord)
        .where(
            DeadLetterRecord.id == identifier,
            DeadLetterRecord.state == LetterState.OPEN.value,
        )
        .values(state=state.value, settled_at=now, settled_by=by, settlement=settlement[:2000])
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def open_for_deliveries(
    session: AsyncSession, consumer: str, delivery_ids: Collection[str]
) -> dict[str, str]:
    """The open dead letters of ``consumer`` for each of ``delivery_ids``: letter id by
    delivery id."""
    if not delivery_ids:
        return {}
    rows = await session.execute(
        select(DeadLetterRecord.delivery_id, DeadLetterRecord.id).where(
            DeadLetterRecord.consumer == consumer,
            DeadLetterRecord.state == LetterState.OPEN.value,
            DeadLetterRecord.delivery_id.in_(list(delivery_ids)),
        )
    )
    return {str(delivery): str(letter) for delivery, letter in rows}


async def resolve(
    session: AsyncSession, consumer: str, delivery_id: str, *, now: dt.datetime
) -> list[str]:
    """A later re-send of ``delivery_id`` succeeded: its open dead letters are resolved
    by themselves. Returns their ids."""
    found = await open_for_deliveries(session, consumer, [delivery_id])
    for letter in found.values():
        await settle(
            session,
            letter,
            LetterState.RESOLVED,
            by="hub",
            settlement="delivered by a later re-send of the same delivery",
            now=now,
        )
    return list(found.values())


async def open_count(session: AsyncSession) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(DeadLetterRecord)
            .where(DeadLetterRecord.state == LetterState.OPEN.value)
        )
        or 0
    )


async def prune_settled(session: AsyncSession, settled_before: dt.datetime) -> int:
    """Drop the dead letters settled before ``settled_before`` (each holds a whole sealed
    record and its subject); an open one, or one a held lane still stops at, stays.
    Returns how many went."""
    result = await session.execute(
        delete(DeadLetterRecord).where(
            DeadLetterRecord.state != LetterState.OPEN.value,
            DeadLetterRecord.settled_at < settled_before,
            ~exists().where(HeldItem.dead_letter_id == DeadLetterRecord.id),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def summary(letter: Letter, held_behind: int = 0) -> dict[str, Any]:
    """A dead letter in ids and reasons: never its content."""
    return {
        "held_behind": held_behind,
        "id": letter.id,
        "state": letter.state.value,
        "consumer": letter.consumer,
        "recipient": letter.recipient,
        "subject": letter.subject,
        "event_type": letter.event_type,
        "correlation_id": letter.correlation_id,
        "reason": letter.reason,
        "detail": letter.detail,
        "attempts": letter.attempts,
        "failed_at": letter.failed_at.isoformat(timespec="seconds"),
        "source": f"{letter.topic}[{letter.partition}]@{letter.offset}",
        "errors": [vars(f) for f in letter.errors],
        "settled_at": letter.settled_at.isoformat(timespec="seconds")
        if letter.settled_at
        else None,
        "settled_by": letter.settled_by,
        "settlement": letter.settlement,
    }
