"""SQLite on the event loop's thread: statements run where they are called, and the
process's writers take turns on the loop instead of meeting on SQLite's lock (which
would hold the whole loop for up to ``busy_timeout``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.state.database import make_engine
from hub.state.sqlite_inloop import _writes


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, at REAL)"))
    yield engine
    await engine.dispose()


async def test_a_statement_runs_on_the_loops_own_thread(engine: AsyncEngine) -> None:
    threads: list[int] = []

    def here() -> int:
        threads.append(threading.get_ident())
        return 1

    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        raw.driver_connection._conn.create_function("here", 0, here)  # type: ignore[union-attr]
        assert (await connection.execute(text("SELECT here()"))).scalar() == 1
    assert threads == [threading.get_ident()]


async def test_two_writers_take_turns_and_the_loop_goes_on(engine: AsyncEngine) -> None:
    """The first writer holds its transaction across an await; the second waits its turn
    on the loop (a ticker keeps running meanwhile), then writes. Met on SQLite's lock
    instead, the second would hold the loop for the busy timeout and fail."""
    order: list[str] = []
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def first() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (1, 0)"))
            order.append("first wrote")
            await asyncio.sleep(0.3)
            order.append("first commits")

    async def second() -> None:
        await asyncio.sleep(0.05)
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (2, 0)"))
            order.append("second wrote")

    async def reader() -> int:
        await asyncio.sleep(0.1)
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT count(*) FROM t"))).scalar_one())

    tick = asyncio.create_task(ticker())
    started = time.monotonic()
    _, _, seen = await asyncio.gather(first(), second(), reader())
    tick.cancel()
    assert order == ["first wrote", "first commits", "second wrote"]
    assert seen == 0, "a reader goes on beside the writer and sees what is committed"
    assert ticks >= 10, "the loop ran while the second writer waited"
    assert time.monotonic() - started < 3
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 2


async def test_the_turn_is_given_back_after_a_failed_write(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t VALUES (1, 0)"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (1, 0)"))
    async with asyncio.timeout(2):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (2, 0)"))


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ("INSERT INTO t VALUES (1)", True),
        ("  update t SET n = 2", True),
        ("DELETE FROM t", True),
        ("CREATE TABLE u (n INTEGER)", True),
        ("SELECT 1", False),
        ("PRAGMA journal_mode=WAL", False),
        ("", False),
    ],
)
def test_which_statements_take_the_writer_turn(sql: str, writes: bool) -> None:
    assert _writes(sql) is writes
