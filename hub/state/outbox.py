"""The delivery outbox: deliveries are stored in the transaction that decides and audits
them, and sent to Kafka after it commits.

So a crash can never leave an audit record without its delivery or a delivery without
its audit record: whatever committed is sent, at the latest when the event is
redelivered or the router starts again. A delivery may go out twice after a crash, but
always with the same delivery id, which partners de-duplicate on. A sent delivery's
row stays until its outbound connector has it (delivered, queued for a retry, or
dead-lettered): a broker that lost it is sent it again. Then it is pruned: the hub keeps
no copy of what it forwarded, only the audit record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Sequence

from sqlalchemy import ColumnElement, and_, delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.core.record import KafkaRecord
from hub.state.kept_records import columns, record_of
from hub.state.tables import HeldItem, OutboxRecord, ProcessedEvent, table

OUTBOUND_PREFIX = "outbound:"
"""How outbound connectors name themselves as consumers of their delivery topics."""

Send = Callable[[Sequence[KafkaRecord]], Awaitable[None]]
"""Sends records in order and returns when every one was acknowledged."""


_STAGE = insert(table(OutboxRecord))
"""Every delivery's row: built once, one executemany a batch (see hub.state.idempotency)."""
_APART = dt.timedelta(microseconds=1)


async def stage(session: AsyncSession, staged: Sequence[tuple[str, str, KafkaRecord]]) -> None:
    """Keep each (delivery id, event id, record) of ``staged`` in the caller's
    transaction, to be sent after it commits in the order given: their creation times
    (the order the outbox sends in) are a microsecond apart, never equal."""
    if staged:
        first = dt.datetime.now(dt.UTC)
        rows = [
            {
                "delivery_id": delivery_id,
                "event_id": event_id,
                "created_at": first + n * _APART,
                **columns(record),
            }
            for n, (delivery_id, event_id, record) in enumerate(staged)
        ]
        await session.execute(_STAGE, rows)


async def flush(
    sessions: async_sessionmaker[AsyncSession],
    send: Send,
    *,
    event_ids: Sequence[str] | None = None,
    staged_before: dt.datetime | None = None,
) -> int:
    """Send what is pending and mark it sent; returns the count. With ``event_ids``:
    their deliveries, after any unsent earlier one for the same client (a send that
    failed must not be overtaken). With ``staged_before``: whatever waits since then.

    A send that fails raises, and every row stays pending for the next flush, which
    sends them again under the same delivery ids.
    """
    unsent = select(OutboxRecord).where(OutboxRecord.sent_at.is_(None))
    async with sessions() as session:
        if event_ids is None:
            if staged_before is not None:
                unsent = unsent.where(OutboxRecord.created_at < staged_before)
            rows = list((await session.scalars(unsent.order_by(OutboxRecord.created_at))).all())
        else:
            mine = (
                await session.scalars(
                    unsent.where(OutboxRecord.event_id.in_(list(event_ids))).order_by(
                        OutboxRecord.created_at
                    )
                )
            ).all()
            if not mine:
                return 0
            position = {event_id: n for n, event_id in enumerate(event_ids)}
            mine = sorted(mine, key=lambda row: position[row.event_id])
            earlier = (
                await session.scalars(
                    unsent.where(
                        OutboxRecord.key.in_({row.key for row in mine}),
                        OutboxRecord.event_id.not_in(list(event_ids)),
                        OutboxRecord.created_at < max(row.created_at for row in mine),
                    ).order_by(OutboxRecord.created_at)
                )
            ).all()
            rows = [*earlier, *mine]
    if not rows:
        return 0
    await send([record_of(row) for row in rows])
    await _mark_sent(sessions, [r.delivery_id for r in rows])
    return len(rows)


async def _mark_sent(sessions: async_sessionmaker[AsyncSession], ids: Sequence[str]) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(OutboxRecord)
            .where(OutboxRecord.delivery_id.in_(list(ids)))
            .values(sent_at=dt.datetime.now(dt.UTC))
        )


def _settled() -> ColumnElement[bool]:
    """An outbound connector has the delivery: it recorded it as handled (delivered or
    dead-lettered), or holds it back for another attempt."""
    handled = exists().where(
        and_(
            ProcessedEvent.consumer.like(f"{OUTBOUND_PREFIX}%"),
            ProcessedEvent.event_id == OutboxRecord.delivery_id,
        )
    )
    held = exists().where(
        and_(
            HeldItem.consumer.like(f"{OUTBOUND_PREFIX}%"),
            HeldItem.item_id == OutboxRecord.delivery_id,
        )
    )
    return handled | held


async def unsettled(
    session: AsyncSession,
    *,
    sent_before: dt.datetime | None = None,
    topics: Collection[str] | None = None,
) -> list[OutboxRecord]:
    """The deliveries no outbound connector has, in the order decided; with
    ``sent_before``, only those sent before then, and with ``topics``, only those on
    these topics."""
    statement = select(OutboxRecord).where(~_settled())
    if sent_before is not None:
        statement = statement.where(OutboxRecord.sent_at < sent_before)
    if topics is not None:
        statement = statement.where(OutboxRecord.topic.in_(list(topics)))
    return list((await session.scalars(statement.order_by(OutboxRecord.created_at))).all())


async def resend(
    sessions: async_sessionmaker[AsyncSession], send: Send, rows: Sequence[OutboxRecord]
) -> int:
    """Send these deliveries again, in order, and mark them sent; returns the count."""
    if rows:
        await send([record_of(row) for row in rows])
        await _mark_sent(sessions, [r.delivery_id for r in rows])
    return len(rows)


async def resend_unsettled(sessions: async_sessionmaker[AsyncSession], send: Send) -> int:
    """Send again every delivery no outbound connector has, in the order decided: for a
    broker that lost them. Returns the count."""
    async with sessions() as session:
        rows = await unsettled(session)
    return await resend(sessions, send, rows)


async def prune(session: AsyncSession) -> int:
    """Drop the sent deliveries an outbound connector has; returns how many."""
    result = await session.execute(
        delete(OutboxRecord)
        .where(OutboxRecord.sent_at.is_not(None), _settled())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def pending(session: AsyncSession) -> int:
    """Deliveries decided and not sent yet."""
    rows = await session.scalars(
        select(OutboxRecord.delivery_id).where(OutboxRecord.sent_at.is_(None))
    )
    return len(rows.all())
