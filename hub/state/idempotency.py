"""At-most-once effects on top of at-least-once delivery.

A consumer claims an event id inside the same transaction as its effect. A
redelivered event finds the claim and the effect is skipped; a crash before the
commit leaves neither the claim nor the effect, so the redelivery applies it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.state.database import dialect_of, upsert_insert, upsert_insert_of
from hub.state.tables import ProcessedEvent, table

_PROCESSED = table(ProcessedEvent)
# The hot path's statements are built once and given their values on each call: building
# a statement (and the ORM's handling of it) cost three times what SQLite does with it.
_WAS_PROCESSED = select(_PROCESSED.c.event_id).where(
    _PROCESSED.c.consumer == bindparam("consumer"), _PROCESSED.c.event_id == bindparam("event_id")
)


_PROCESSED_AMONG = select(_PROCESSED.c.event_id).where(
    _PROCESSED.c.consumer == bindparam("consumer"),
    _PROCESSED.c.event_id.in_(bindparam("event_ids", expanding=True)),
)


@cache
def _claim(dialect: str) -> Any:
    return upsert_insert_of(dialect)(_PROCESSED).on_conflict_do_nothing(
        index_elements=["consumer", "event_id"]
    )


async def claim(session: AsyncSession, consumer: str, event_id: str) -> bool:
    """True the first time ``consumer`` sees ``event_id``; False for a redelivery."""
    values = {"consumer": consumer, "event_id": event_id, "processed_at": dt.datetime.now(dt.UTC)}
    result = await session.execute(_claim(dialect_of(session)), values)
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def claim_all(session: AsyncSession, consumer: str, event_ids: Collection[str]) -> None:
    """Claim every one of ``event_ids`` for ``consumer`` in one statement; one claimed
    before stays as it was."""
    if not event_ids:
        return
    now = dt.datetime.now(dt.UTC)
    insert = upsert_insert(session)
    await session.execute(
        insert(ProcessedEvent)
        .values([{"consumer": consumer, "event_id": e, "processed_at": now} for e in event_ids])
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
    )


async def release(session: AsyncSession, consumer: str, event_id: str) -> None:
    """Forget one claim, so ``consumer`` takes ``event_id`` again (a replayed dead letter)."""
    await session.execute(
        delete(ProcessedEvent).where(
            ProcessedEvent.consumer == consumer, ProcessedEvent.event_id == event_id
        )
    )


async def was_processed(session: AsyncSession, consumer: str, event_id: str) -> bool:
    row = await session.scalar(_WAS_PROCESSED, {"consumer": consumer, "event_id": event_id})
    return row is not None


async def processed_among(
    session: AsyncSession, consumer: str, event_ids: Collection[str]
) -> set[str]:
    """Which of ``event_ids`` ``consumer`` has seen: one query for a whole batch."""
    if not event_ids:
        return set()
    rows = await session.scalars(
        _PROCESSED_AMONG, {"consumer": consumer, "event_ids": list(event_ids)}
    )
    return set(rows.all())


async def forget(session: AsyncSession, consumer_prefix: str, before: dt.datetime) -> int:
    """Drop the claims of consumers named ``consumer_prefix…`` made before ``before``:
    for claims that only matter for a while, as webhook signatures inside their window."""
    result = await session.execute(
        delete(ProcessedEvent).where(
            ProcessedEvent.consumer.startswith(consumer_prefix, autoescape=True),
            ProcessedEvent.processed_at < before,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
