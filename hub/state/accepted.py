"""Accepted events: the state store, not the broker, holds what a webhook answered 202 for.

An inbound connector commits each event (sealed, as it will travel) in the same
transaction as its idempotency claim, and only then answers. It is published after the
commit; what was not published (the broker away) the relay publishes later, in order.
The row stays until the router has routed or parked the event, so a broker that loses
it (tansu killed with its hub, a new empty cluster) is sent it again. Routed rows are
pruned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.record import KafkaRecord
from hub.state.kept_records import columns, record_of
from hub.state.tables import AcceptedEvent, HeldItem, ProcessedEvent, table

_ACCEPTED = table(AcceptedEvent)
# The webhook's statements, built once (see hub.state.idempotency).
_ACCEPT = insert(_ACCEPTED).returning(_ACCEPTED.c.seq)
_WAITING_BEFORE = (
    select(_ACCEPTED.c.subject)
    .where(
        _ACCEPTED.c.published_at.is_(None),
        _ACCEPTED.c.seq < bindparam("seq"),
        _ACCEPTED.c.subject.in_(bindparam("subjects", expanding=True)),
    )
    .distinct()
)
_MARK_PUBLISHED = (
    update(_ACCEPTED)
    .where(_ACCEPTED.c.seq.in_(bindparam("seqs", expanding=True)))
    .values(published_at=bindparam("now"))
)


@dataclass(frozen=True)
class Accepted:
    seq: int
    event_id: str
    subject: str
    record: KafkaRecord


async def accept(
    session: AsyncSession, event_id: str, subject: str, record: KafkaRecord
) -> Accepted:
    """Keep ``record`` in the caller's transaction, beside the event's claim."""
    values = {"event_id": event_id, "subject": subject, "accepted_at": dt.datetime.now(dt.UTC)}
    seq = (await session.execute(_ACCEPT, {**values, **columns(record)})).scalar_one()
    return Accepted(int(seq), event_id, subject, record)


def _accepted(row: AcceptedEvent) -> Accepted:
    return Accepted(row.seq, row.event_id, row.subject, record_of(row))


async def waiting_before(session: AsyncSession, subjects: Sequence[str], seq: int) -> set[str]:
    """Which of ``subjects`` have an event accepted before ``seq`` still waiting for the
    relay: a later event of theirs must wait behind it, not overtake it."""
    rows = await session.scalars(_WAITING_BEFORE, {"seq": seq, "subjects": list(subjects)})
    return set(rows.all())


async def unpublished(session: AsyncSession, accepted_before: dt.datetime) -> list[Accepted]:
    """Accepted events never published, accepted before ``accepted_before``, in order."""
    rows = await session.scalars(
        select(AcceptedEvent)
        .where(AcceptedEvent.published_at.is_(None), AcceptedEvent.accepted_at < accepted_before)
        .order_by(AcceptedEvent.seq)
    )
    return [_accepted(row) for row in rows.all()]


def _settled(router: str) -> ColumnElement[bool]:
    """The router has the event: it routed it (its claim) or holds it back."""
    routed = exists().where(
        and_(ProcessedEvent.consumer == router, ProcessedEvent.event_id == AcceptedEvent.event_id)
    )
    held = exists().where(
        and_(HeldItem.consumer == router, HeldItem.item_id == AcceptedEvent.event_id)
    )
    return routed | held


async def unrouted(
    session: AsyncSession, router: str, *, published_before: dt.datetime | None = None
) -> list[Accepted]:
    """Every accepted event the router does not have yet (of those published before
    ``published_before``, if given), in the order accepted."""
    statement = select(AcceptedEvent).where(~_settled(router))
    if published_before is not None:
        statement = statement.where(AcceptedEvent.published_at < published_before)
    rows = await session.scalars(statement.order_by(AcceptedEvent.seq))
    return [_accepted(row) for row in rows.all()]


async def unrouted_of(
    session: AsyncSession,
    router: str,
    subjects: Collection[str],
    current: Mapping[str, str] | None = None,
) -> list[tuple[int, str, str]]:
    """The accepted events of ``subjects`` the router does not have yet, as (seq, event
    id, lane) in the order accepted, without their records: a fetch's own events and
    any accepted before them that the broker has not brought (one query a batch). The
    lane is the client on one topic (:func:`lane`): order is kept within a partition.
    ``current`` leads a pseudonym from before a key rotation to the client's current
    one, so that the client's events under both are one lane."""
    if not subjects:
        return []
    current = current or {}
    rows = await session.execute(
        select(
            AcceptedEvent.seq, AcceptedEvent.event_id, AcceptedEvent.subject, AcceptedEvent.topic
        )
        .where(AcceptedEvent.subject.in_(list(subjects)), ~_settled(router))
        .order_by(AcceptedEvent.seq)
    )
    return [
        (int(seq), str(event_id), lane(current.get(subject, subject), topic))
        for seq, event_id, subject, topic in rows
    ]


def lane(subject: str, topic: str) -> str:
    """One client's events on one topic: what a partition keeps in order."""
    return f"{topic}/{subject}"


async def kept_by_id(session: AsyncSession, event_ids: Collection[str]) -> list[Accepted]:
    """The accepted events ``event_ids`` still kept, with their records."""
    rows = await session.scalars(
        select(AcceptedEvent).where(AcceptedEvent.event_id.in_(list(event_ids)))
    )
    return [_accepted(row) for row in rows.all()]


async def mark_published(session: AsyncSession, seqs: Sequence[int]) -> None:
    if seqs:
        await session.execute(_MARK_PUBLISHED, {"seqs": list(seqs), "now": dt.datetime.now(dt.UTC)})


async def prune(session: AsyncSession, router: str) -> int:
    """Drop the rows the router has; returns how many."""
    result = await session.execute(
        delete(AcceptedEvent).where(_settled(router)).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def count(session: AsyncSession) -> int:
    rows = await session.scalars(select(AcceptedEvent.seq))
    return len(rows.all())
