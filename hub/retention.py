"""The retention clocks, one pass: six months after release a client's detention data
is erased (the record of where they were held, and by crypto-shredding every sealed copy
on the bus); a case closed longer than the retention goes entirely; a person in no case
goes a week after the last event about them. Records without a legal term go when
theirs ends: webhook signatures after any replay window, event claims, receipts,
shredded keys' rows and settled dead letters.

The router's process runs a pass every ``HUB_ROUTING__ERASURE_INTERVAL_S``; ``hub
erasure run`` runs one at once, on the hub's clock or as of a given day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.connectors.runtime.inbound import NONCE_PREFIX
from hub.identity.erasure import RETENTION, erase_closed_cases, erase_no_case, erase_subject
from hub.identity.keyring import DETENTION, Keyring, prune_erased
from hub.logs import get_logger
from hub.settings import RoutingSettings
from hub.state import dead_letters, detentions, idempotency, receipts

MAX_REPLAY_WINDOW_S = 3600
"""The widest replay window a connector may set (``InboundConfig.replay_window_s``)."""
log = get_logger(__name__)


@dataclass(frozen=True)
class Erased:
    """Whose data one pass erased, by clock (pseudonyms, never BSNs)."""

    released: list[str]
    closed: list[str]
    no_case: list[str]


async def erase_due(
    sessions: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    routing: RoutingSettings,
    now: dt.datetime,
) -> Erased:
    """One pass of every retention clock as of ``now``, in one transaction."""
    async with sessions.begin() as session:
        released = await detentions.erase_due(session, now.date())
        for subject in released:
            await erase_subject(
                session,
                keyring,
                subject,
                reason="six months after release (Bjsg art. 11a bis)",
                by=RETENTION,
                now=now,
                scope=DETENTION,
            )
        closed = await erase_closed_cases(
            session,
            keyring,
            now=now,
            retention=dt.timedelta(days=routing.retention_after_closure_days),
        )
        no_case = await erase_no_case(
            session,
            keyring,
            now=now,
            retention=dt.timedelta(days=routing.no_case_retention_days),
        )
        await idempotency.forget(
            session, NONCE_PREFIX, now - dt.timedelta(seconds=MAX_REPLAY_WINDOW_S)
        )
        await idempotency.forget(
            session, "", now - dt.timedelta(days=routing.processed_claim_retention_days)
        )
        await receipts.prune(session, now - dt.timedelta(days=routing.receipt_retention_days))
        await prune_erased(session, now - dt.timedelta(days=routing.erased_key_retention_days))
        await dead_letters.prune_settled(
            session, now - dt.timedelta(days=routing.settled_dead_letter_retention_days)
        )
    if released:
        log.info("detention_data_erased", clients=len(released))
    if closed:
        log.info("closed_cases_erased", clients=len(closed))
    if no_case:
        log.info("no_case_data_erased", clients=len(no_case))
    return Erased(released, closed, no_case)
