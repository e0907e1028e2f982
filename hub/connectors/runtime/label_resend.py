"""A label set or withdrawal whose partner was down when it was sent is not lost: the
outbound connector gave up and marked it failed, with its delivery kept, and this offers
it again once the partner answers its health check. The delivery keeps its id, so a
partner that had it after all sees a repeat, never a second label."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.connectors.base import OutboundConnector
from hub.connectors.runtime.health import answers
from hub.logs import get_logger
from hub.schemas.case import ClientExcluded, ClientIncluded
from hub.state import labels, outbox

log = get_logger(__name__)


async def resend_failed_labels(
    sessions: async_sessionmaker[AsyncSession],
    connectors: Sequence[OutboundConnector[Any]],
    send: outbox.Send,
) -> int:
    """Re-send every failed label delivery whose partner is healthy again; returns how
    many went out."""
    async with sessions() as session:
        waiting = await labels.failed_deliveries(session)
    health: dict[str, bool] = {}
    sent = 0
    for item in waiting:
        connector = next(
            (c for c in connectors if c.serves(item.partner) and _sets_labels(c)), None
        )
        if connector is None:
            continue
        if connector.name not in health:
            health[connector.name] = await answers(connector)
        if not health[connector.name]:
            continue
        await send([item.record])
        async with sessions.begin() as session:
            await labels.resent(session, item.subject, item.partner, dt.datetime.now(dt.UTC))
        log.info("label_resent", subject=item.subject, partner=item.partner)
        sent += 1
    return sent


def _sets_labels(connector: OutboundConnector[Any]) -> bool:
    """The partner's label connector, whose health says whether a label can go again: a
    partner may have another outbound connector (the police's notices) on another API."""
    return any(model in connector.accepts for model in (ClientIncluded, ClientExcluded))
