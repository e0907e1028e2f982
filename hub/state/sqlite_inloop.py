"""SQLite on the event loop's own thread, one writer at a time per process.

aiosqlite runs each connection in a thread of its own, and every statement crosses to
it and back: several hand-offs between threads, each a wake-up of the event loop and a
turn of the GIL. For the hub's small statements (tens of microseconds in SQLite) the
crossings cost many times the work: `hub bench` measured 28.5 ms of CPU per intake
through them and 18.5 ms without, in one run. So SQLAlchemy's aiosqlite dialect is
given, through its public ``async_creator`` hook, a connection that does the work where
it is called.

A statement then holds the loop while it runs; it must never hold it waiting for a
lock. Within the process, writers take turns on an asyncio lock, taken before the
statement that opens a write transaction and given back when it ends, so two of the
process's connections never meet on SQLite's lock (readers go on beside the writer, as
WAL allows). Another process on the same file (a CLI command, a test) can still make a
writer wait, for as long as its own short transaction, up to ``busy_timeout``. The hub
runs one process per SQLite file (`hub up` puts the router apart only with PostgreSQL).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

from sqlalchemy.engine import URL, make_url

WRITES = frozenset(
    {"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "BEGIN", "SAVEPOINT"}
)
"""The first words of a statement that opens a write transaction (or is one)."""


def _writes(sql: str) -> bool:
    return sql.lstrip()[:9].split(None, 1)[0].upper() in WRITES if sql.strip() else False


class InLoopCursor:
    """The awaitable cursor aiosqlite's adapter expects, doing the work at once."""

    def __init__(self, connection: InLoopConnection, cursor: sqlite3.Cursor):
        self._connection = connection
        self._cursor = cursor

    async def __aenter__(self) -> InLoopCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InLoopCursor:
        await self._connection.before(sql)
        try:
            if parameters is None:
                self._cursor.execute(sql)
            else:
                self._cursor.execute(sql, parameters)
        finally:
            self._connection.after()
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InLoopCursor:
        await self._connection.before(sql)
        try:
            self._cursor.executemany(sql, parameters)
        finally:
            self._connection.after()
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _Immediate:
    """aiosqlite's request queue, as SQLAlchemy's adapter uses it to set the isolation
    level: the function is run as it is put."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # handed to the awaiting side, as aiosqlite does
            future.set_exception(error)


class InLoopConnection:
    """The awaitable connection aiosqlite's adapter expects, over a sqlite3 one, taking
    the process's writer turn (``writer``) for its write transactions."""

    def __init__(self, connection: sqlite3.Connection, writer: asyncio.Lock):
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection
        self._tx = _Immediate()
        self._writer = writer
        self._writing = False

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def before(self, sql: str) -> None:
        """Take the writer turn before a statement that opens a write transaction."""
        if not self._writing and not self._conn.in_transaction and _writes(sql):
            await self._writer.acquire()
            self._writing = True

    def after(self) -> None:
        """Give the turn back once no transaction is open (after a commit, a rollback,
        a statement that failed to open one, or one that committed itself)."""
        if self._writing and not self._conn.in_transaction:
            self._writing = False
            self._writer.release()

    def cursor(self) -> InLoopCursor:
        return InLoopCursor(self, self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InLoopCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        try:
            self._conn.commit()
        finally:
            self.after()

    async def rollback(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self.after()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()
            if self._writing:
                self._writing = False
                self._writer.release()


def in_loop_connections(url: str | URL) -> Callable[[], Coroutine[Any, Any, InLoopConnection]]:
    """The ``async_creator`` for a ``sqlite+aiosqlite`` URL: its connections share one
    writer turn."""
    parsed = make_url(url)
    database = parsed.database or ":memory:"
    uri = database.startswith("file:") or parsed.query.get("uri") == "true"
    writer = asyncio.Lock()

    async def connect() -> InLoopConnection:
        connection = sqlite3.connect(database, uri=uri, check_same_thread=False)
        return InLoopConnection(connection, writer)

    return connect
