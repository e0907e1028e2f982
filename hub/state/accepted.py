"""Accepted events: the state store, not the broker, holds what a webhook answered 202 for.

An inbound connector commits each event (sealed, as it will travel) in the same
transaction as its idempotency claim, and only then answers. It is published after the
commit; what was not published (the broker away) the relay publishes later, in order.
That it was published is written later too (:class:`PublishMarks`), in the next
transaction that accepts, so an intake costs one transaction fewer.
The row stays until the router has routed or parked the event, so a broker that loses
it (tansu killed with its hub, a new empty cluster) is sent it again. Routed rows are
pruned.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.core.record import KafkaRecord
from hub.logs import get_logger
from hub.state.kept_records import columns, record_of
from hub.state.tables import AcceptedEvent, HeldItem, ProcessedEvent, table

log = get_logger(__name__)
_ACCEPTED = table(AcceptedEvent)
# The webhook's statements, built once (see hub.state.idempotency).
_ACCEPT = insert(_ACCEPTED).returning(_ACCEPTED.c.seq)
_WAITING_BEFORE = select(_ACCEPTED.c.subject, _ACCEPTED.c.seq).where(
    _ACCEPTED.c.published_at.is_(None),
    _ACCEPTED.c.seq < bindparam("seq"),
    _ACCEPTED.c.subject.in_(bindparam("subjects", expanding=True)),
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


async def waiting_before(
    session: AsyncSession,
    subjects: Sequence[str],
    seq: int,
    published: Collection[int] = frozenset(),
) -> set[str]:
    """Which of ``subjects`` have an event accepted before ``seq`` still waiting for the
    relay: a later event of theirs must wait behind it, not overtake it. ``published``:
    events published and not yet marked so (:class:`PublishMarks`), which wait for
    nothing."""
    rows = await session.execute(_WAITING_BEFORE, {"seq": seq, "subjects": list(subjects)})
    return {subject for subject, waiting in rows if waiting not in published}


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


MARK_AFTER_S = 0.25
"""Longest a published event waits for its mark when no intake follows to carry it:
well inside the relay's grace, so the relay never takes it for unpublished."""


class PublishMarks:
    """The events a webhook published and has not yet marked so, for one process.

    Their marks are written in the next transaction that accepts an event (under load,
    one transaction an intake fewer), or after ``MARK_AFTER_S`` in one of their own.
    Until then they count as published for :func:`waiting_before`. One that is never
    marked (a crash, the state store away past the relay's grace) is published again by
    the relay under the same event id, which its readers de-duplicate, as after a crash
    between a publish and its mark."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, after_s: float = MARK_AFTER_S
    ) -> None:
        self._sessions = sessions
        self._after_s = after_s
        self._pending: set[int] = set()
        self._timer: asyncio.Task[None] | None = None

    @property
    def pending(self) -> frozenset[int]:
        return frozenset(self._pending)

    def published(self, seqs: Iterable[int]) -> None:
        """``seqs`` went out: marked by the next accepting transaction, or soon."""
        self._pending.update(seqs)
        if self._pending and (self._timer is None or self._timer.done()):
            self._timer = asyncio.create_task(self._later())

    async def mark_in(self, session: AsyncSession) -> list[int]:
        """Mark what is pending in ``session``'s transaction; returns it for
        :meth:`marked` once that commits (a rollback leaves it pending)."""
        taken = sorted(self._pending)
        await mark_published(session, taken)
        return taken

    def marked(self, seqs: Iterable[int]) -> None:
        self._pending.difference_update(seqs)

    async def flush(self) -> None:
        """Mark what is pending in a transaction of its own."""
        if self._pending:
            async with self._sessions.begin() as session:
                taken = await self.mark_in(session)
            self.marked(taken)

    async def close(self) -> None:
        """Stop the timer and mark what is pending, if the state store lets us."""
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        try:
            await self.flush()
        except Exception as error:  # the relay publishes them again after a start
            log.warning(
                "publish_marks_left", pending=len(self._pending), error=type(error).__name__
            )

    async def _later(self) -> None:
        while self._pending:
            await asyncio.sleep(self._after_s)
            try:
                await self.flush()
            except Exception as error:  # pending still: the next intake, or the relay
                log.warning(
                    "publish_marks_deferred", pending=len(self._pending), error=type(error).__name__
                )
                return


async def prune(session: AsyncSession, router: str) -> int:
    """Drop the rows the router has; returns how many."""
    result = await session.execute(
        delete(AcceptedEvent).where(_settled(router)).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def count(session: AsyncSession) -> int:
    rows = await session.scalars(select(AcceptedEvent.seq))
    return len(rows.all())
