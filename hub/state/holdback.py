"""The hold-back queue: everything the hub cannot pass on yet waits here, in order, and
never holds up the partition it came from.

One mechanism for two waits. The router holds an event whose case look-up is down, in
the client's lane; an outbound connector holds a delivery whose partner is down, in the
lane of that client and partner. Only a lane's head is tried, and an item that arrives
for a lane that has one waits behind it, so a client's items reach each partner in the
order they came, however long the wait.

A head whose item went to the dead letters stays as a **stop**: the lane waits, visibly
(``hub dlq list``, the console), until an operator replays the dead letter (the replayed
item takes the stop's place and goes first) or discards it (the lane goes on).

An attempt takes the head with a lease (a conditional update of ``next_attempt_at``), so
two hub processes never try the same item at once, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hub.core.record import KafkaRecord
from hub.state import failures
from hub.state.database import upsert_insert
from hub.state.failures import Failure
from hub.state.tables import HeldItem, table

LEASE = dt.timedelta(seconds=20)
"""How long an attempt holds a lane's head: another process may take it after."""

CLIENT_ONLY = ""
"""The partner of a lane that is the client alone (the router's)."""


@dataclass(frozen=True)
class Lane:
    """Where order is kept: one consumer's items for one client and one partner."""

    consumer: str
    subject: str
    partner: str = CLIENT_ONLY


@dataclass(frozen=True)
class Held:
    """A held item and where its attempts stand."""

    seq: int
    lane: Lane
    item_id: str
    record: KafkaRecord
    partition: int | None
    offset: int | None
    reason: str
    attempts: int
    errors: list[Failure]
    held_at: dt.datetime
    next_attempt_at: dt.datetime
    dead_letter_id: str | None

    @property
    def stopped(self) -> bool:
        """A stop: the item is a dead letter, and its lane waits for the operator."""
        return self.dead_letter_id is not None


def _held(row: HeldItem) -> Held:
    return Held(
        seq=row.seq,
        lane=Lane(row.consumer, row.subject, row.partner),
        item_id=row.item_id,
        record=KafkaRecord(
            topic=row.topic,
            key=row.subject.encode(),
            value=row.value,
            headers=json.loads(row.headers),
        ),
        partition=row.partition,
        offset=row.offset,
        reason=row.reason,
        attempts=row.attempts,
        errors=failures.load(row.errors),
        held_at=row.held_at,
        next_attempt_at=row.next_attempt_at,
        dead_letter_id=row.dead_letter_id,
    )


async def hold(
    session: AsyncSession,
    lane: Lane,
    item_id: str,
    record: KafkaRecord,
    *,
    reason: str,
    now: dt.datetime,
    next_attempt_at: dt.datetime,
    attempts: int = 0,
    errors: Iterable[Failure] = (),
    partition: int | None = None,
    offset: int | None = None,
    dead_letter_id: str | None = None,
) -> bool:
    """Put ``item_id`` at the end of its lane, once: an item held before changes
    nothing (returns False), so a redelivered record is harmless."""
    insert = upsert_insert(session)
    result = await session.execute(
        insert(HeldItem)
        .values(
            consumer=lane.consumer,
            subject=lane.subject,
            partner=lane.partner,
            item_id=item_id,
            topic=record.topic,
            partition=partition,
            offset=offset,
            headers=json.dumps(record.headers, sort_keys=True),
            value=record.value,
            reason=reason[:2000],
            attempts=attempts,
            errors=failures.dump(list(errors)),
            held_at=now,
            next_attempt_at=next_attempt_at,
            dead_letter_id=dead_letter_id,
        )
        .on_conflict_do_nothing(index_elements=["consumer", "item_id"])
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def lanes_among(
    session: AsyncSession, consumer: str, subjects: Collection[str]
) -> dict[tuple[str, str], str | None]:
    """The lanes of ``subjects`` that hold something, as (subject, partner), each with
    the dead letter its head stops at (or None): one query for a whole batch."""
    if not subjects:
        return {}
    rows = await session.execute(_LANE_HEADS, {"consumer": consumer, "subjects": list(subjects)})
    return {(subject, partner): stop for subject, partner, stop in rows}


_HELD = table(HeldItem)
_HEADS = (
    select(func.min(_HELD.c.seq).label("seq"))
    .where(
        _HELD.c.consumer == bindparam("consumer"),
        _HELD.c.subject.in_(bindparam("subjects", expanding=True)),
    )
    .group_by(_HELD.c.subject, _HELD.c.partner)
    .subquery()
)
_LANE_HEADS = select(_HELD.c.subject, _HELD.c.partner, _HELD.c.dead_letter_id).join(
    _HEADS, _HELD.c.seq == _HEADS.c.seq
)
"""Every fetch of every connector asks it: built once (see hub.state.idempotency)."""


async def due_lanes(
    session: AsyncSession, consumers: str | Collection[str], now: dt.datetime, limit: int = 200
) -> list[Lane]:
    """Lanes of ``consumers`` (one, or several in one query) whose head is due for an
    attempt (a stop never is), longest waiting first."""
    wanted = [consumers] if isinstance(consumers, str) else list(consumers)
    heads = (
        select(func.min(HeldItem.seq).label("seq"))
        .where(HeldItem.consumer.in_(wanted))
        .group_by(HeldItem.consumer, HeldItem.subject, HeldItem.partner)
        .subquery()
    )
    rows = await session.execute(
        select(HeldItem.consumer, HeldItem.subject, HeldItem.partner)
        .join(heads, HeldItem.seq == heads.c.seq)
        .where(HeldItem.next_attempt_at <= now, HeldItem.dead_letter_id.is_(None))
        .order_by(HeldItem.next_attempt_at)
        .limit(limit)
    )
    return [Lane(consumer, subject, partner) for consumer, subject, partner in rows]


async def head(session: AsyncSession, lane: Lane) -> Held | None:
    row = await session.scalar(
        select(HeldItem)
        .where(
            HeldItem.consumer == lane.consumer,
            HeldItem.subject == lane.subject,
            HeldItem.partner == lane.partner,
        )
        .order_by(HeldItem.seq)
        .limit(1)
    )
    return None if row is None else _held(row)


async def lease(session: AsyncSession, item: Held, until: dt.datetime) -> bool:
    """Take ``item`` for one attempt; False when another process took it first."""
    result = await session.execute(
        update(HeldItem)
        .where(HeldItem.seq == item.seq, HeldItem.next_attempt_at == item.next_attempt_at)
        .values(next_attempt_at=until)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def postpone(
    session: AsyncSession,
    seq: int,
    *,
    attempts: int,
    errors: list[Failure],
    reason: str,
    next_attempt_at: dt.datetime,
) -> None:
    await session.execute(
        update(HeldItem)
        .where(HeldItem.seq == seq)
        .values(
            attempts=attempts,
            errors=failures.dump(errors),
            reason=reason[:2000],
            next_attempt_at=next_attempt_at,
        )
    )


async def due_now(session: AsyncSession, consumer: str, now: dt.datetime) -> int:
    """Make ``consumer``'s waiting heads and items due at ``now`` (an operator's "try
    again now"); how many. Stops stay, and so does an item due within a lease: it may
    be leased by an attempt under way, and it is due soon anyway."""
    result = await session.execute(
        update(HeldItem)
        .where(
            HeldItem.consumer == consumer,
            HeldItem.dead_letter_id.is_(None),
            HeldItem.next_attempt_at > now + LEASE,
        )
        .values(next_attempt_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, seq: int) -> None:
    """The item went on (or is gone): the next one in its lane is the head."""
    await session.execute(delete(HeldItem).where(HeldItem.seq == seq))


async def stop(session: AsyncSession, seq: int, dead_letter_id: str, reason: str) -> None:
    """The held item ``seq`` went to the dead letters: it stays as its lane's stop."""
    await session.execute(
        update(HeldItem)
        .where(HeldItem.seq == seq)
        .values(dead_letter_id=dead_letter_id, reason=reason[:2000])
    )


async def resume(
    session: AsyncSession, dead_letter_id: str, record: KafkaRecord | None, now: dt.datetime
) -> bool:
    """Settle the stop of ``dead_letter_id``: ``record`` (the replayed item) takes its
    place at the head of the lane, due at once; without one the stop is removed and the
    lane goes on. False when the dead letter stops no lane."""
    row = await session.scalar(select(HeldItem).where(HeldItem.dead_letter_id == dead_letter_id))
    if row is None:
        return False
    if record is None:
        await session.delete(row)
        return True
    row.topic = record.topic
    row.headers = json.dumps(record.headers, sort_keys=True)
    row.value = record.value
    row.dead_letter_id = None
    row.reason = f"replay of dead letter {dead_letter_id}"
    row.attempts = 0
    row.errors = failures.dump([])
    row.next_attempt_at = now
    return True


async def held_behind(session: AsyncSession, dead_letter_ids: Collection[str]) -> dict[str, int]:
    """How many items wait behind the stop of each of ``dead_letter_ids``."""
    if not dead_letter_ids:
        return {}
    stops = (
        await session.execute(
            select(
                HeldItem.dead_letter_id, HeldItem.consumer, HeldItem.subject, HeldItem.partner
            ).where(HeldItem.dead_letter_id.in_(list(dead_letter_ids)))
        )
    ).all()
    if not stops:
        return {}
    lanes = [(consumer, subject, partner) for _, consumer, subject, partner in stops]
    counts = dict(
        (
            (consumer, subject, partner),
            int(number) - 1,
        )
        for consumer, subject, partner, number in await session.execute(
            select(HeldItem.consumer, HeldItem.subject, HeldItem.partner, func.count())
            .where(tuple_(HeldItem.consumer, HeldItem.subject, HeldItem.partner).in_(lanes))
            .group_by(HeldItem.consumer, HeldItem.subject, HeldItem.partner)
        )
    )
    return {
        str(letter): counts.get((consumer, subject, partner), 0)
        for letter, consumer, subject, partner in stops
    }


async def behind_stops(session: AsyncSession) -> dict[str, int]:
    """Per consumer, how many items wait in lanes that a dead letter stops."""
    stopped = (
        select(HeldItem.consumer, HeldItem.subject, HeldItem.partner)
        .where(HeldItem.dead_letter_id.is_not(None))
        .subquery()
    )
    rows = await session.execute(
        select(HeldItem.consumer, func.count())
        .join(
            stopped,
            (HeldItem.consumer == stopped.c.consumer)
            & (HeldItem.subject == stopped.c.subject)
            & (HeldItem.partner == stopped.c.partner),
        )
        .where(HeldItem.dead_letter_id.is_(None))
        .group_by(HeldItem.consumer)
    )
    return {str(consumer): int(count) for consumer, count in rows}


async def pending(session: AsyncSession, consumer: str | None = None) -> int:
    """Items held (stops included), for one consumer or all."""
    statement = select(func.count()).select_from(HeldItem)
    if consumer is not None:
        statement = statement.where(HeldItem.consumer == consumer)
    return int(await session.scalar(statement) or 0)


async def going(session: AsyncSession, consumer: str) -> int:
    """How many of ``consumer``'s held items are in lanes no dead letter stops: what goes
    once due, each lane in its order (what a resume or a retry-now sets going)."""
    stop = aliased(HeldItem)
    stopped = (
        select(stop.seq)
        .where(
            stop.consumer == HeldItem.consumer,
            stop.subject == HeldItem.subject,
            stop.partner == HeldItem.partner,
            stop.dead_letter_id.is_not(None),
        )
        .exists()
    )
    found = await session.scalar(
        select(func.count()).select_from(HeldItem).where(HeldItem.consumer == consumer, ~stopped)
    )
    return int(found or 0)


async def pending_by_consumer(
    session: AsyncSession, *, partner: str | None = None
) -> dict[str, int]:
    """Items held (stops included), per consumer that holds any; for ``partner`` only
    when given."""
    statement = select(HeldItem.consumer, func.count()).group_by(HeldItem.consumer)
    if partner is not None:
        statement = statement.where(HeldItem.partner == partner)
    rows = await session.execute(statement)
    return {str(consumer): int(count) for consumer, count in rows}


async def oldest(session: AsyncSession, consumers: Collection[str]) -> dict[str, dt.datetime]:
    """Per consumer of ``consumers`` that holds anything, when its longest-held item
    was held (stops included: they wait too)."""
    if not consumers:
        return {}
    rows = await session.execute(
        select(HeldItem.consumer, func.min(HeldItem.held_at))
        .where(HeldItem.consumer.in_(list(consumers)))
        .group_by(HeldItem.consumer)
    )
    return {str(consumer): held_at for consumer, held_at in rows}
