"""Connectors an operator paused. A paused connector's deliveries are held in their
lanes (``hub.state.holdback``) as if its partner were down, but without an attempt, so
none counts towards the retry horizon; resuming makes them due at once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.errors import Conflict
from hub.state import holdback
from hub.state.tables import ConnectorPause, HeldItem

PAUSED = "connector paused by "
"""How the reason of a delivery a pause holds begins."""


@dataclass(frozen=True)
class Pause:
    connector: str
    paused_at: dt.datetime
    paused_by: str
    why: str

    @property
    def reason(self) -> str:
        """What a held delivery says it waits for."""
        return f"{PAUSED}{self.paused_by}: {self.why}"


async def pause(
    session: AsyncSession, connector: str, *, by: str, why: str, now: dt.datetime
) -> Pause:
    """Pause ``connector``; pausing a paused one keeps the first pause (who, when, why)."""
    row = await session.get(ConnectorPause, connector)
    if row is None:
        row = ConnectorPause(connector=connector, paused_at=now, paused_by=by, why=why[:2000])
        session.add(row)
    return Pause(row.connector, row.paused_at, row.paused_by, row.why)


async def resume(session: AsyncSession, connector: str, consumer: str, now: dt.datetime) -> int:
    """Lift the pause of ``connector`` (whose held items are ``consumer``'s) and make its
    held deliveries due now; how many held deliveries that sets going (each client's in
    order; a lane a dead letter stops waits for its replay). What the pause held was
    never attempted under a lease, so all of it goes at once; it is marked resumed, so
    that a second resume cannot cut short the lease of an attempt under way by then."""
    await session.execute(delete(ConnectorPause).where(ConnectorPause.connector == connector))
    await session.execute(
        update(HeldItem)
        .where(
            HeldItem.consumer == consumer,
            HeldItem.dead_letter_id.is_(None),
            HeldItem.reason.startswith(PAUSED, autoescape=True),
        )
        .values(next_attempt_at=now, reason="resumed after a pause")
    )
    await holdback.due_now(session, consumer, now)
    return await holdback.going(session, consumer)


async def retry_now(session: AsyncSession, connector: str, consumer: str, now: dt.datetime) -> int:
    """What ``connector`` holds, due now (its partner is back): how many held deliveries
    that sets going; Conflict while it is paused, since nothing would go."""
    if await of(session, connector) is not None:
        raise Conflict(f"{connector} is paused: resume it, and what it holds goes at once")
    await holdback.due_now(session, consumer, now)
    return await holdback.going(session, consumer)


async def of(session: AsyncSession, connector: str) -> Pause | None:
    """The pause of ``connector``, if it is paused."""
    row = await session.get(ConnectorPause, connector)
    return None if row is None else Pause(row.connector, row.paused_at, row.paused_by, row.why)


async def paused(session: AsyncSession) -> dict[str, Pause]:
    """Every paused connector, by name."""
    rows = await session.scalars(select(ConnectorPause))
    return {r.connector: Pause(r.connector, r.paused_at, r.paused_by, r.why) for r in rows}
