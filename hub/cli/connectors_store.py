"""``hub connectors`` on a hub machine, without a login: the connectors installed
here, probed with this shell's settings, and pauses written to the state store. Imported
only on that path, so that through the management API the command loads no connector,
no database layer and no state module."""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.cli.failure import failed
from hub.cli.store import current_store, store_url, with_session
from hub.connectors import registry
from hub.connectors.base import Connector
from hub.core.errors import ConfigurationError, HubError
from hub.settings import HubSettings
from hub.state import holdback, pauses
from hub.state.database import sessionmaker
from hub.state.outbox import OUTBOUND_PREFIX

HEALTH_TIMEOUT_S = 5.0


async def _health(cls: type[Connector[Any]], raw: dict[str, Any] | None) -> str:
    if raw is None:
        return "not configured"
    try:
        connector = cls.from_config(raw)
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                await connector.check()
        finally:
            await connector.close()  # its partner session, or aiohttp says it leaked
    except ConfigurationError as error:
        return f"misconfigured: {error}"
    except HubError as error:
        return f"failing ({error.slug}): {error.message}"
    except TimeoutError:
        return f"failing: no answer within {HEALTH_TIMEOUT_S:.0f} s"
    return "ok"


def rows(settings: HubSettings) -> list[dict[str, Any]]:
    """Every installed connector, its health with this shell's settings, what it holds
    and its pause; settings for a connector that is not installed end the command."""
    try:
        classes = registry.installed()
        registry.require_installed(settings.connectors, classes)
    except ConfigurationError as error:
        raise failed(f"{error}") from None

    async def describe() -> list[dict[str, Any]]:
        held, paused = await _held_and_paused(settings)
        rows = []
        for name, cls in sorted(classes.items()):
            row = cls.describe()
            row["health"] = await _health(cls, settings.connectors.get(name))
            row["held"] = held.get(f"{OUTBOUND_PREFIX}{name}", 0) if held is not None else "?"
            pause = paused.get(name)
            row["paused"] = f"by {pause.paused_by}: {pause.why}" if pause else ""
            rows.append(row)
        return rows

    return asyncio.run(describe())


async def _held_and_paused(
    settings: HubSettings,
) -> tuple[dict[str, int] | None, dict[str, pauses.Pause]]:
    """What each connector holds and which are paused, from the state store; nothing
    (held unknown) where there is no store, as on a partner's development machine."""
    try:
        async with current_store(store_url(settings)) as engine, sessionmaker(engine)() as session:
            return await holdback.pending_by_consumer(session), await pauses.paused(session)
    except (HubError, DBAPIError, OSError):
        return None, {}


def _outbound(name: str) -> None:
    """Refuse, with one line, a name that is not an installed connector that delivers."""
    try:
        cls = registry.installed().get(name)
    except ConfigurationError as error:
        raise failed(f"{error}") from None
    if cls is None or cls.kind != "outbound":
        what = "is not an installed connector" if cls is None else "receives; it cannot be paused"
        raise failed(f"{name} {what}")


def pause(name: str, why: str) -> pauses.Pause:
    """Pause ``name`` in the state store, as this shell's user."""
    _outbound(name)

    async def work(session: AsyncSession) -> pauses.Pause:
        async with session.begin():
            by = f"cli:{getpass.getuser()}"
            return await pauses.pause(session, name, by=by, why=why, now=_now())

    return with_session(work)


def make_due(name: str, *, resume: bool) -> int:
    """Resume ``name`` (or only hurry what it holds) in the state store."""
    _outbound(name)
    return with_session(lambda session: _make_due(session, name, resume=resume))


async def _make_due(session: AsyncSession, name: str, *, resume: bool) -> int:
    consumer = f"{OUTBOUND_PREFIX}{name}"
    async with session.begin():
        if resume:
            return await pauses.resume(session, name, consumer, _now())
        return await pauses.retry_now(session, name, consumer, _now())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
