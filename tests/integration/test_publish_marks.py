"""A published event's mark rides on the next accepting transaction, or comes after
``MARK_AFTER_S`` on its own; until then it counts as published, so a later event of the
same client is not held behind it; a rollback leaves it pending. On SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub.core.record import KafkaRecord
from hub.core.topics import DETENTION
from hub.state import accepted
from hub.state.database import sessionmaker
from hub.state.tables import AcceptedEvent

SUBJECT = "psn-k1-client"


async def _accept(sessions: async_sessionmaker[AsyncSession], n: int) -> accepted.Accepted:
    record = KafkaRecord(DETENTION.name, SUBJECT.encode(), b"sealed", {"ce_id": f"e-{n}"})
    async with sessions.begin() as session:
        return await accepted.accept(session, f"e-{n}", SUBJECT, record)


async def _marked(sessions: async_sessionmaker[AsyncSession]) -> set[int]:
    async with sessions() as session:
        rows = await session.scalars(
            select(AcceptedEvent.seq).where(AcceptedEvent.published_at.is_not(None))
        )
        return set(rows.all())


async def _waiting(
    sessions: async_sessionmaker[AsyncSession], marks: accepted.PublishMarks
) -> set[str]:
    async with sessions() as session:
        return await accepted.waiting_before(session, [SUBJECT], 1_000_000, marks.pending)


async def test_a_mark_rides_on_the_next_accepting_transaction(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    marks = accepted.PublishMarks(sessions, after_s=3600)  # the timer out of the way
    first = await _accept(sessions, 1)
    marks.published([first.seq])
    assert await _marked(sessions) == set()
    assert await _waiting(sessions, marks) == set(), "a published event holds nothing back"
    async with sessions.begin() as session:
        taken = await marks.mark_in(session)
    marks.marked(taken)
    assert taken == [first.seq]
    assert await _marked(sessions) == {first.seq}
    assert marks.pending == frozenset()
    await marks.close()


async def test_a_rolled_back_transaction_leaves_the_mark_pending(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    marks = accepted.PublishMarks(sessions, after_s=3600)
    first = await _accept(sessions, 1)
    marks.published([first.seq])

    async def failing_intake() -> None:
        async with sessions.begin() as session:
            await marks.mark_in(session)
            raise RuntimeError("the intake failed")

    with pytest.raises(RuntimeError):
        await failing_intake()
    assert marks.pending == {first.seq}
    assert await _marked(sessions) == set()
    await marks.close()  # a stop marks what is left
    assert await _marked(sessions) == {first.seq}


async def test_with_no_intake_to_carry_it_the_mark_comes_on_its_own(engine: AsyncEngine) -> None:
    """With the shipped delay, well inside the relay's two-second grace."""
    sessions = sessionmaker(engine)
    marks = accepted.PublishMarks(sessions)
    first, second = await _accept(sessions, 1), await _accept(sessions, 2)
    marks.published([first.seq])
    await asyncio.sleep(accepted.MARK_AFTER_S / 2)
    marks.published([second.seq])
    assert await _marked(sessions) == set()
    await asyncio.sleep(accepted.MARK_AFTER_S * 2 + 0.5)
    assert await _marked(sessions) == {first.seq, second.seq}
    assert marks.pending == frozenset()
    await marks.close()


async def test_an_unpublished_event_still_holds_the_clients_next_one_back(
    engine: AsyncEngine,
) -> None:
    sessions = sessionmaker(engine)
    marks = accepted.PublishMarks(sessions, after_s=3600)
    await _accept(sessions, 1)  # its publish failed: the relay's
    assert await _waiting(sessions, marks) == {SUBJECT}
    await marks.close()
