"""What the CLI commands on the hub's state share: the configured database, once its
schema is the one this hub expects, and a person named by BSN or pseudonym.

Only ``hub db upgrade`` migrates: any other command may be pointed at a production
database by a newer CLI, and must not change that database's schema as a side effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub.cli.endpoints import endpoints_path
from hub.cli.failure import failed
from hub.core.bsn import normalise_bsn
from hub.core.errors import ConfigurationError, HubError
from hub.core.subjects import is_pseudonym
from hub.identity.keyring import Keyring, master_keys_from_settings
from hub.identity.pseudonym import pseudonymiser_from_settings
from hub.settings import HubSettings
from hub.state.database import check_schema, make_engine, sessionmaker

T = TypeVar("T")


@contextlib.asynccontextmanager
async def current_store(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``url``; SchemaNotCurrent, before any work, when the database is not
    at this hub's head revision. A SQLite file that is not there is not made: a mistyped
    data directory would get an empty store, and the advice to upgrade it."""
    _refuse_a_missing_file(url)
    engine = make_engine(url)
    try:
        await check_schema(engine)
        yield engine
    finally:
        await engine.dispose()


def _refuse_a_missing_file(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.exists():
            raise ConfigurationError(
                f"no state store at {path}: is HUB_DATA_DIR (or HUB_DATABASE__URL) right? "
                "`hub up` or `hub db upgrade` makes one",
                field="database",
            )


def store_url(settings: HubSettings) -> str:
    """The configured database; when none is configured and a `hub up` in this data
    directory runs on PostgreSQL (``--store postgres``), that one, as it wrote it."""
    if not settings.database.url:
        try:
            written = json.loads(endpoints_path(settings).read_text())
        except (OSError, ValueError):
            return settings.database_url
        url = written.get("database")
        if written.get("mode") == "embedded" and str(url).startswith("postgresql"):
            return str(url)
    return settings.database_url


def run_or_exit(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work``; a HubError, or a database that does not answer, ends the command
    with one line and exit code 2, never a traceback."""
    try:
        return asyncio.run(work())
    except HubError as error:
        raise failed(f"{error}") from None
    except (DBAPIError, OSError) as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise failed(f"the database does not answer: {reason}") from None
    except ArgumentError as error:  # a URL SQLAlchemy cannot read
        raise failed(f"HUB_DATABASE__URL: {error}") from None


def with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        url = store_url(HubSettings())
        async with current_store(url) as engine, sessionmaker(engine)() as session:
            return await work(session)

    return run_or_exit(run)


def with_keyring(work: Callable[[async_sessionmaker[AsyncSession], Keyring], Awaitable[T]]) -> T:
    """Run ``work`` with the configured store and the clients' keyring (the master key
    must exist: the CLI never makes one)."""

    async def run() -> T:
        settings = HubSettings()
        async with current_store(store_url(settings)) as engine:
            sessions = sessionmaker(engine)
            masters = master_keys_from_settings(settings, create_key=False)
            return await work(sessions, Keyring(sessions, masters))

    return run_or_exit(run)


def subjects_of(subject: str) -> list[str]:
    """A pseudonym as given, or a BSN's pseudonym under every known key (never echoed)."""
    if is_pseudonym(subject):
        return [subject]
    try:
        normalise_bsn(subject)
    except ValueError as error:
        raise typer.BadParameter(f"neither a pseudonym nor a BSN: {error}") from None
    try:
        pseudonymiser = pseudonymiser_from_settings(HubSettings(), create_key=False)
    except ValueError as error:
        raise typer.BadParameter(f"cannot pseudonymise the BSN: {error}") from None
    return pseudonymiser.all_pseudonyms(subject)
