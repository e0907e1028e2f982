"""What an operator does to a connector, for the console's page and the management API
alike: its state (health, what it holds, a pause), and pausing, resuming and trying
what it holds now. ``by`` names the account and where it acted (``api:ops``,
``console:ops``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.connectors.base import Connector
from hub.console import queries
from hub.console.accounts import Viewer
from hub.core.errors import Conflict, Forbidden, NotFound
from hub.logs import get_logger
from hub.monitoring import HEALTH
from hub.state import holdback, pauses
from hub.state.outbox import OUTBOUND_PREFIX

log = get_logger(__name__)


class PauseView(BaseModel):
    paused_at: dt.datetime
    paused_by: str | None = Field(description="Who paused it; shown to operators only.")
    why: str | None = Field(description="Their note; shown to operators only.")


class ConnectorRow(BaseModel):
    name: str
    kind: str
    version: str
    partner: str
    topics: list[str] = Field(description="The topics it reads or writes.")
    health: str = Field(description="up, down, or not checked yet")
    held: int = Field(description="Deliveries waiting in its lanes (dead letters' stops too).")
    paused: PauseView | None = Field(description="Who paused it, when and why; none if not.")


class Released(BaseModel):
    connector: str
    due_now: int = Field(
        description="Held deliveries set going, each client's in order (all it holds but "
        "what waits behind a dead letter)."
    )


async def rows(
    sessions: async_sessionmaker[AsyncSession], chosen: Sequence[Connector[Any]], viewer: Viewer
) -> list[ConnectorRow]:
    """Each of ``chosen`` with its last health check, what it holds and its pause; a
    partner account counts its own deliveries only, and sees when a pause began, not who
    paused it or why (an operator's note)."""
    async with sessions() as session:
        stopped = await pauses.paused(session)
        held = await holdback.pending_by_consumer(session, partner=viewer.partner)
    operator = viewer.partner is None

    def view(pause: pauses.Pause) -> PauseView:
        return PauseView(
            paused_at=pause.paused_at,
            paused_by=pause.paused_by if operator else None,
            why=pause.why if operator else None,
        )

    return [
        ConnectorRow(
            name=c.name,
            kind=c.kind,
            version=c.version,
            partner=c.partner,
            topics=list(c.topics()),
            health=_health(c.name),
            held=held.get(f"{OUTBOUND_PREFIX}{c.name}", 0),
            paused=view(p) if (p := stopped.get(c.name)) else None,
        )
        for c in chosen
    ]


def operated(connectors: Iterable[Connector[Any]], viewer: Viewer, name: str) -> Connector[Any]:
    """The outbound connector ``name``, for an operator to pause, resume or hurry."""
    if not viewer.may_replay():
        raise Forbidden("a partner account sees its connectors; operators pause them")
    found = [c for c in queries.visible_connectors(connectors, viewer) if c.name == name]
    if not found:
        raise NotFound("no such connector")
    if found[0].kind != "outbound":
        raise Conflict(f"{name} receives; only a connector that delivers can be paused")
    return found[0]


async def pause(
    sessions: async_sessionmaker[AsyncSession],
    connector: Connector[Any],
    viewer: Viewer,
    *,
    by: str,
    why: str,
) -> ConnectorRow:
    """Hold the connector's deliveries in their lanes until it is resumed; pausing a
    paused connector keeps the first pause."""
    async with sessions.begin() as session:
        await pauses.pause(session, connector.name, by=by, why=why, now=dt.datetime.now(dt.UTC))
    log.warning("connector_paused", connector=connector.name, by=by)
    (row,) = await rows(sessions, [connector], viewer)
    return row


async def resume(
    sessions: async_sessionmaker[AsyncSession], connector: Connector[Any], *, by: str
) -> Released:
    """Lift the pause; what it held is due at once, each lane in its order."""
    consumer = f"{OUTBOUND_PREFIX}{connector.name}"
    async with sessions.begin() as session:
        due = await pauses.resume(session, connector.name, consumer, dt.datetime.now(dt.UTC))
    log.warning("connector_resumed", connector=connector.name, by=by, due_now=due)
    return Released(connector=connector.name, due_now=due)


async def retry_now(
    sessions: async_sessionmaker[AsyncSession], connector: Connector[Any], *, by: str
) -> Released:
    """Make what the connector holds due at once instead of after its backoff; dead
    letters' stops stay for a replay."""
    consumer = f"{OUTBOUND_PREFIX}{connector.name}"
    async with sessions.begin() as session:
        due = await pauses.retry_now(session, connector.name, consumer, dt.datetime.now(dt.UTC))
    log.info("held_made_due", connector=connector.name, by=by, due_now=due)
    return Released(connector=connector.name, due_now=due)


def _health(name: str) -> str:
    """The connector's last health check: up, down, or not checked yet."""
    if name not in HEALTH:
        return "not checked yet"
    return "up" if HEALTH[name] else "down"
