"""The async engine and the migration runner, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, make_url
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from hub.core.errors import SchemaNotCurrent
from hub.state.private_files import private_file
from hub.state.sqlite_inloop import in_loop_connections

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """WAL lets readers work beside the writer; a busy timeout beats 'database is locked'.
    synchronous=NORMAL in WAL mode keeps every commit through a process crash (kill -9)
    and skips the fsync per commit; only an operating-system crash or power loss can
    lose the last commits, which is why production runs PostgreSQL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:" and not path.startswith("file:"):
            private_file(Path(path))
    if make_url(url).drivername == "sqlite+aiosqlite":
        engine = create_async_engine(url, echo=echo, async_creator=in_loop_connections(url))
    else:
        engine = create_async_engine(url, echo=echo, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str:
    """The revision this code's migrations end at."""
    head = _scripts().get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return head


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; the same migrations serve SQLite and PostgreSQL."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_alembic_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def check_schema(engine: AsyncEngine) -> None:
    """Raise SchemaNotCurrent unless the database is at this code's head revision; reads
    the revision only, so a database at another one is left exactly as it was."""
    head = head_revision()
    current = await current_revision(engine)
    if current == head:
        return
    if current is None:
        raise SchemaNotCurrent(
            f"the database has no schema, this hub expects {head}: run `hub db upgrade`"
        )
    if current not in {script.revision for script in _scripts().walk_revisions()}:
        raise SchemaNotCurrent(
            f"the database schema is at {current}, newer than this hub knows (it expects "
            f"{head}): use the hub release that upgraded it"
        )
    raise SchemaNotCurrent(
        f"the database schema is at {current}, this hub expects {head}: run `hub db upgrade`"
    )


def dialect_of(session: AsyncSession) -> str:
    """The name of the session's database dialect (``sqlite`` or ``postgresql``)."""
    return session.get_bind().dialect.name


def upsert_insert_of(dialect: str) -> Callable[..., Any]:
    """The INSERT of ``dialect`` that has ``on_conflict_do_nothing`` and
    ``on_conflict_do_update`` (PostgreSQL's or SQLite's; both are the same there)."""
    return pg_insert if dialect == "postgresql" else sqlite_insert


def upsert_insert(session: AsyncSession) -> Callable[..., Any]:
    """:func:`upsert_insert_of` the session's dialect."""
    return upsert_insert_of(dialect_of(session))
