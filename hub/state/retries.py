"""The outbound retry path: a delivery whose partner failed waits here for its next
attempt instead of holding up the partition, and a later delivery for the same client
and connector waits behind it, so that person's deliveries still arrive in order.

Rows are claimed with a conditional update (a lease on ``next_attempt_at``), so two hub
processes never attempt the same delivery at once, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.state import failures
from hub.state.failures import Failure
from hub.state.tables import DeliveryRetry


@dataclass(frozen=True)
class Entry:
    """A delivery to put in the queue, as it came off its topic."""

    connector: str
    subject: str
    event_id: str
    recipient: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: dict[str, str]
    value: bytes


@dataclass(frozen=True)
class Waiting:
    """A queued delivery and where its retries stand."""

    seq: int
    entry: Entry
    attempts: int
    errors: list[Failure]
    first_failed_at: dt.datetime
    next_attempt_at: dt.datetime


def _waiting(row: DeliveryRetry) -> Waiting:
    return Waiting(
        seq=row.seq,
        entry=Entry(
            connector=row.connector,
            subject=row.subject,
            event_id=row.event_id,
            recipient=row.recipient,
            topic=row.topic,
            partition=row.partition,
            offset=row.offset,
            key=row.key,
            headers=json.loads(row.headers),
            value=row.value,
        ),
        attempts=row.attempts,
        errors=failures.load(row.errors),
        first_failed_at=row.first_failed_at,
        next_attempt_at=row.next_attempt_at,
    )


async def waiting_among(
    session: AsyncSession, connector: str, subjects: Collection[str]
) -> set[str]:
    """Which of ``subjects`` have a delivery waiting: one query for a whole batch."""
    if not subjects:
        return set()
    rows = await session.scalars(
        select(DeliveryRetry.subject)
        .where(DeliveryRetry.connector == connector, DeliveryRetry.subject.in_(list(subjects)))
        .distinct()
    )
    return set(rows.all())


async def enqueue(
    session: AsyncSession,
    entry: Entry,
    *,
    attempts: int,
    errors: list[Failure],
    now: dt.datetime,
    next_attempt_at: dt.datetime,
) -> bool:
    """Queue once: a redelivered record already queued changes nothing (returns False)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(DeliveryRetry)
        .values(
            connector=entry.connector,
            subject=entry.subject,
            event_id=entry.event_id,
            recipient=entry.recipient,
            topic=entry.topic,
            partition=entry.partition,
            offset=entry.offset,
            key=entry.key,
            headers=json.dumps(entry.headers, sort_keys=True),
            value=entry.value,
            attempts=attempts,
            errors=failures.dump(errors),
            first_failed_at=now,
            next_attempt_at=next_attempt_at,
        )
        .on_conflict_do_nothing(index_elements=["connector", "event_id"])
    )
    result = await session.execute(statement)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def due_subjects(
    session: AsyncSession, connector: str, now: dt.datetime, limit: int = 200
) -> list[str]:
    """Subjects whose first waiting delivery is due."""
    first = (
        select(func.min(DeliveryRetry.seq).label("seq"))
        .where(DeliveryRetry.connector == connector)
        .group_by(DeliveryRetry.subject)
        .subquery()
    )
    rows = await session.scalars(
        select(DeliveryRetry.subject)
        .join(first, DeliveryRetry.seq == first.c.seq)
        .where(DeliveryRetry.next_attempt_at <= now)
        .order_by(DeliveryRetry.next_attempt_at)
        .limit(limit)
    )
    return list(rows)


async def head(session: AsyncSession, connector: str, subject: str) -> Waiting | None:
    row = await session.scalar(
        select(DeliveryRetry)
        .where(DeliveryRetry.connector == connector, DeliveryRetry.subject == subject)
        .order_by(DeliveryRetry.seq)
        .limit(1)
    )
    return None if row is None else _waiting(row)


async def lease(session: AsyncSession, item: Waiting, until: dt.datetime) -> bool:
    """Take ``item`` for one attempt; False when another process took it first."""
    result = await session.execute(
        update(DeliveryRetry)
        .where(
            DeliveryRetry.seq == item.seq,
            DeliveryRetry.next_attempt_at == item.next_attempt_at,
        )
        .values(next_attempt_at=until)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def postpone(
    session: AsyncSession,
    seq: int,
    *,
    attempts: int,
    errors: list[Failure],
    next_attempt_at: dt.datetime,
) -> None:
    await session.execute(
        update(DeliveryRetry)
        .where(DeliveryRetry.seq == seq)
        .values(attempts=attempts, errors=failures.dump(errors), next_attempt_at=next_attempt_at)
    )


async def remove(session: AsyncSession, seq: int) -> None:
    await session.execute(delete(DeliveryRetry).where(DeliveryRetry.seq == seq))


async def pending(session: AsyncSession, connector: str | None = None) -> int:
    statement = select(func.count()).select_from(DeliveryRetry)
    if connector is not None:
        statement = statement.where(DeliveryRetry.connector == connector)
    return int(await session.scalar(statement) or 0)
