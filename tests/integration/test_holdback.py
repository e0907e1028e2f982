"""The hold-back queue on SQLite and PostgreSQL: lanes per client and partner keep their
order, a lease lets one process at a time try a head, a stop holds its lane until its
dead letter is replayed or discarded, and the rows of the two queues it replaced are
carried over by the migration."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.core.record import KafkaRecord
from hub.state import holdback
from hub.state.database import make_engine, migrate, sessionmaker
from hub.state.failures import Failure
from hub.state.holdback import Lane

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
LLC = Lane("outbound:llc", "psn-k1-" + "a" * 40, "llz:fivoor")
POLICE = Lane("outbound:llc", "psn-k1-" + "a" * 40, "politie:nl")
OTHER_CLIENT = Lane("outbound:llc", "psn-k1-" + "b" * 40, "llz:fivoor")


def record(n: int) -> KafkaRecord:
    return KafkaRecord("delivery.llz.v1", b"k", f"value-{n}".encode(), {"ce_id": f"d{n}"})


async def test_lanes_are_per_client_and_partner_and_keep_their_order(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        for n, lane in enumerate((LLC, LLC, POLICE, OTHER_CLIENT, LLC)):
            assert await holdback.hold(
                session, lane, f"d{n}", record(n), reason="down", now=NOW, next_attempt_at=NOW
            )
        assert not await holdback.hold(
            session, LLC, "d0", record(0), reason="again", now=NOW, next_attempt_at=NOW
        ), "an item is held once"
    async with sessions() as session:
        lanes = await holdback.due_lanes(session, "outbound:llc", NOW)
        assert set(lanes) == {LLC, POLICE, OTHER_CLIENT}
        held = await holdback.lanes_among(session, "outbound:llc", [LLC.subject])
        assert held == {(LLC.subject, LLC.partner): None, (POLICE.subject, POLICE.partner): None}
    order = []
    while True:
        async with sessions.begin() as session:
            head = await holdback.head(session, LLC)
            if head is None:
                break
            order.append(head.item_id)
            assert head.record.value == f"value-{head.item_id[1:]}".encode()
            await holdback.release(session, head.seq)
    assert order == ["d0", "d1", "d4"]


async def test_a_lease_lets_one_process_try_the_head(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        await holdback.hold(session, LLC, "d1", record(1), reason="x", now=NOW, next_attempt_at=NOW)
    async with sessions() as session:
        first = await holdback.head(session, LLC)
        second = await holdback.head(session, LLC)
    assert first is not None
    assert second is not None
    async with sessions.begin() as session:
        assert await holdback.lease(session, first, NOW + dt.timedelta(seconds=20))
    async with sessions.begin() as session:
        assert not await holdback.lease(session, second, NOW + dt.timedelta(seconds=20))
    async with sessions() as session:
        assert await holdback.due_lanes(session, "outbound:llc", NOW) == [], "leased: not due"
    failure = Failure(attempt=1, at=NOW.isoformat(), error="partner-unavailable", detail="503")
    async with sessions.begin() as session:
        await holdback.postpone(
            session, first.seq, attempts=1, errors=[failure], reason="503", next_attempt_at=NOW
        )
    async with sessions() as session:
        again = await holdback.head(session, LLC)
    assert again is not None
    assert again.attempts == 1
    assert again.errors == [failure]


async def test_a_stop_holds_its_lane_until_replayed_or_discarded(engine: AsyncEngine) -> None:
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        for n in range(3):
            await holdback.hold(
                session, LLC, f"d{n}", record(n), reason="x", now=NOW, next_attempt_at=NOW
            )
        await holdback.hold(
            session, POLICE, "p0", record(9), reason="x", now=NOW, next_attempt_at=NOW
        )
        head = await holdback.head(session, LLC)
        assert head is not None
        await holdback.stop(session, head.seq, "letter-1", "invalid: 400")
    async with sessions() as session:
        assert await holdback.due_lanes(session, "outbound:llc", NOW) == [POLICE]
        assert await holdback.lanes_among(session, "outbound:llc", [LLC.subject]) == {
            (LLC.subject, LLC.partner): "letter-1",
            (POLICE.subject, POLICE.partner): None,
        }
        assert await holdback.held_behind(session, ["letter-1", "unknown"]) == {"letter-1": 2}
        assert await holdback.behind_stops(session) == {"outbound:llc": 2}
    replayed = record(7)
    async with sessions.begin() as session:
        assert await holdback.resume(session, "letter-1", replayed, NOW)
        assert not await holdback.resume(session, "letter-1", replayed, NOW), "settled once"
    async with sessions() as session:
        head = await holdback.head(session, LLC)
        assert LLC in await holdback.due_lanes(session, "outbound:llc", NOW)
    assert head is not None
    assert not head.stopped
    assert (head.item_id, head.record.value, head.attempts) == ("d0", b"value-7", 0)

    async with sessions.begin() as session:
        await holdback.stop(session, head.seq, "letter-2", "invalid: 400")
        assert await holdback.resume(session, "letter-2", None, NOW), "a discard"
    async with sessions() as session:
        head = await holdback.head(session, LLC)
    assert head is not None
    assert head.item_id == "d1", "the lane goes on behind it"


async def test_try_now_makes_waiting_items_due_but_leaves_stops_and_leases(
    engine: AsyncEngine,
) -> None:
    """An operator's "try now" (``hub connectors retry-now``, resuming a pause) makes
    what waits due, but not a stop (it waits for a replay) and not an item due within a
    lease, which an attempt under way may hold: taken again, it would go out twice."""
    sessions = sessionmaker(engine)
    later = NOW + dt.timedelta(hours=3)
    leased = NOW + holdback.LEASE
    async with sessions.begin() as session:
        for n, (lane, due) in enumerate(((LLC, later), (POLICE, leased), (OTHER_CLIENT, later))):
            await holdback.hold(
                session, lane, f"d{n}", record(n), reason="x", now=NOW, next_attempt_at=due
            )
        await holdback.hold(
            session,
            Lane("outbound:other", LLC.subject),
            "o",
            record(8),
            reason="x",
            now=NOW,
            next_attempt_at=later,
        )
        stopped = await holdback.head(session, OTHER_CLIENT)
        assert stopped is not None
        await holdback.stop(session, stopped.seq, "letter-1", "invalid: 400")
    async with sessions.begin() as session:
        assert await holdback.due_now(session, "outbound:llc", NOW) == 1
    async with sessions() as session:
        assert await holdback.due_lanes(session, "outbound:llc", NOW) == [LLC]
        assert await holdback.due_lanes(session, "outbound:other", NOW) == [], "its own only"
        police = await holdback.head(session, POLICE)
        assert await holdback.pending_by_consumer(session) == {
            "outbound:llc": 3,
            "outbound:other": 1,
        }
    assert police is not None
    assert police.next_attempt_at == leased, "a lease is not cut short"


async def test_going_counts_the_held_deliveries_of_every_lane_no_dead_letter_stops(
    engine: AsyncEngine,
) -> None:
    """What a resume says it set going: every held delivery of the connector, two of one
    client as two, less a stopped lane's (it waits for a replay)."""
    sessions = sessionmaker(engine)
    async with sessions.begin() as session:
        for n, lane in enumerate((LLC, LLC, POLICE, OTHER_CLIENT, OTHER_CLIENT)):
            await holdback.hold(
                session, lane, f"g{n}", record(n), reason="x", now=NOW, next_attempt_at=NOW
            )
        assert await holdback.going(session, "outbound:llc") == 5
        stopped = await holdback.head(session, OTHER_CLIENT)
        assert stopped is not None
        await holdback.stop(session, stopped.seq, "letter-1", "invalid: 400")
        assert await holdback.going(session, "outbound:llc") == 3
        assert await holdback.going(session, "outbound:other") == 0


async def test_the_migration_carries_parked_events_and_retries_over(tmp_path: object) -> None:
    db = make_engine(f"sqlite+aiosqlite:///{tmp_path}/old.db")
    try:
        await migrate(db, "0011")
        async with db.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO parked_event (event_id, subject, topic, headers, value, reason,"
                    " attempts, parked_at, next_attempt_at) VALUES ('e1', 'psn-s', "
                    "'justice.detention.v1', '{}', x'01', 'look-up down', 2, :now, :now)"
                ),
                {"now": NOW},
            )
            await connection.execute(
                text(
                    "INSERT INTO delivery_retry (connector, subject, event_id, recipient, topic, "
                    'partition, "offset", key, headers, value, attempts, errors, '
                    "first_failed_at, next_attempt_at) VALUES ('outbound:llc', 'psn-s', 'd1', "
                    "'llz:fivoor', 'delivery.llz.v1', 3, 42, x'00', '{}', x'02', 1, '[]', "
                    ":now, :now)"
                ),
                {"now": NOW},
            )
        await migrate(db)
        async with sessionmaker(db)() as session:
            router = await holdback.head(session, Lane("hub-router", "psn-s"))
            llc = await holdback.head(session, Lane("outbound:llc", "psn-s", "llz:fivoor"))
        assert router is not None
        assert (router.item_id, router.attempts) == ("e1", 2)
        assert router.reason == "look-up down"
        assert router.record.value == b"\x01"
        assert llc is not None
        assert (llc.item_id, llc.partition, llc.offset) == ("d1", 3, 42)
        assert llc.record.value == b"\x02"
    finally:
        await db.dispose()
