"""The delivery outbox: deliveries are stored in the transaction that decides and audits
them, and sent to Kafka after it commits.

So a crash can never leave an audit record without its delivery or a delivery without
its audit record: whatever committed is sent, at the latest when the event is
redelivered or the router starts again. A delivery may go out twice after a crash, but
always with the same delivery id, which partners de-duplicate on. A sent delivery's
row is deleted: the hub keeps no copy of what it forwarded, only the audit record.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.bus.codec import KafkaRecord
from hub.state.tables import OutboxRecord

Send = Callable[[Sequence[KafkaRecord]], Awaitable[None]]
"""Sends records in order and returns when every one was acknowledged."""


def stage(session: AsyncSession, delivery_id: str, event_id: str, record: KafkaRecord) -> None:
    session.add(
        OutboxRecord(
            delivery_id=delivery_id,
            event_id=event_id,
            topic=record.topic,
            key=record.key,
            value=record.value,
            headers=json.dumps(record.headers, sort_keys=True),
            created_at=dt.datetime.now(dt.UTC),
        )
    )


def _record(row: OutboxRecord) -> KafkaRecord:
    return KafkaRecord(
        topic=row.topic, key=row.key, value=row.value, headers=json.loads(row.headers)
    )


async def flush(
    sessions: async_sessionmaker[AsyncSession],
    send: Send,
    *,
    event_ids: Sequence[str] | None = None,
) -> int:
    """Send what is pending (for ``event_ids``, or all) and drop it; returns the count.

    A send that fails raises, and every row stays pending for the next flush, which
    sends them again under the same delivery ids.
    """
    async with sessions() as session:
        statement = select(OutboxRecord)
        if event_ids is not None:
            statement = statement.where(OutboxRecord.event_id.in_(list(event_ids)))
        rows = (await session.scalars(statement.order_by(OutboxRecord.created_at))).all()
    if not rows:
        return 0
    if event_ids is not None:  # in the events' order, which is the order they were decided
        position = {event_id: n for n, event_id in enumerate(event_ids)}
        rows = sorted(rows, key=lambda row: position[row.event_id])
    await send([_record(row) for row in rows])
    async with sessions.begin() as session:
        await session.execute(
            delete(OutboxRecord).where(OutboxRecord.delivery_id.in_([r.delivery_id for r in rows]))
        )
    return len(rows)


async def pending(session: AsyncSession) -> int:
    rows = await session.scalars(select(OutboxRecord.delivery_id))
    return len(rows.all())
