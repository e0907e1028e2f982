"""Where the router parks an event it cannot route yet, so that one subject's wait never
blocks the partition it shares with others, and the event is never dropped.

Per subject the parked events keep their arrival order; a new event of a subject that
has one parked waits behind it, so that person's events still go out in order.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.record import KafkaRecord
from hub.state.tables import ParkedEvent


@dataclass(frozen=True)
class Parked:
    seq: int
    event_id: str
    subject: str
    record: KafkaRecord
    attempts: int


async def has_parked(session: AsyncSession, subject: str) -> bool:
    found = await session.scalar(
        select(ParkedEvent.seq).where(ParkedEvent.subject == subject).limit(1)
    )
    return found is not None


async def parked_among(session: AsyncSession, subjects: Collection[str]) -> set[str]:
    """Which of ``subjects`` have an event parked: one query for a whole batch."""
    if not subjects:
        return set()
    rows = await session.scalars(
        select(ParkedEvent.subject).where(ParkedEvent.subject.in_(list(subjects))).distinct()
    )
    return set(rows.all())


async def park(
    session: AsyncSession,
    event_id: str,
    subject: str,
    record: KafkaRecord,
    reason: str,
    next_attempt_at: dt.datetime,
) -> None:
    """Park once: a redelivery of an event already parked changes nothing."""
    exists = await session.scalar(select(ParkedEvent.seq).where(ParkedEvent.event_id == event_id))
    if exists is not None:
        return
    session.add(
        ParkedEvent(
            event_id=event_id,
            subject=subject,
            topic=record.topic,
            headers=json.dumps(record.headers, sort_keys=True),
            value=record.value,
            reason=reason,
            attempts=0,
            parked_at=dt.datetime.now(dt.UTC),
            next_attempt_at=next_attempt_at,
        )
    )


async def due_subjects(session: AsyncSession, now: dt.datetime) -> list[str]:
    """Subjects whose oldest parked event is due for another attempt."""
    oldest = (
        select(ParkedEvent.subject, func.min(ParkedEvent.seq).label("first"))
        .group_by(ParkedEvent.subject)
        .subquery()
    )
    rows = await session.execute(
        select(ParkedEvent.subject)
        .join(oldest, ParkedEvent.seq == oldest.c.first)
        .where(ParkedEvent.next_attempt_at <= now)
    )
    return [row[0] for row in rows]


async def queue(session: AsyncSession, subject: str) -> list[Parked]:
    rows = await session.scalars(
        select(ParkedEvent).where(ParkedEvent.subject == subject).order_by(ParkedEvent.seq)
    )
    return [
        Parked(
            seq=row.seq,
            event_id=row.event_id,
            subject=row.subject,
            record=KafkaRecord(
                topic=row.topic,
                key=subject.encode(),
                value=row.value,
                headers=json.loads(row.headers),
            ),
            attempts=row.attempts,
        )
        for row in rows
    ]


async def release(session: AsyncSession, seq: int) -> None:
    await session.execute(delete(ParkedEvent).where(ParkedEvent.seq == seq))


async def postpone(
    session: AsyncSession, seq: int, reason: str, next_attempt_at: dt.datetime
) -> None:
    row = await session.get(ParkedEvent, seq)
    if row is not None:
        row.attempts += 1
        row.reason = reason
        row.next_attempt_at = next_attempt_at


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(ParkedEvent)) or 0)
