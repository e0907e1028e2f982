"""Refreshes the gauges of ``hub.metrics`` that describe state (lag, dead-letter depth,
held deliveries, incomplete labels, overdue erasure, connector health, certificates):
the hub's housekeeping calls :func:`refresh`
every ``HUB_OPS__METRICS_INTERVAL_S``. It reads the store, the broker and the
partners, so it sits above them; the series themselves sit below everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.breaker import Breakers, BreakerState
from hub.bus.admin import consumer_lag
from hub.connectors.base import Connector
from hub.connectors.runtime.health import answers
from hub.core.calendar import local_day
from hub.identity.keyfiles import KeyDirectory
from hub.logs import get_logger
from hub.metrics import (
    CERTIFICATE_EXPIRY_SECONDS,
    CIRCUIT_OPEN,
    CONNECTOR_UP,
    CONSUMER_LAG,
    DEAD_LETTER_DEPTH,
    ERASURE_OVERDUE,
    HELD_BEHIND_DEAD_LETTERS,
    HELD_OLDEST_SECONDS,
    KEY_AGE_SECONDS,
    LABELS_INCOMPLETE,
    RETRY_QUEUE_DEPTH,
)
from hub.settings import KafkaSettings
from hub.state import dead_letters, detentions, holdback, labels
from hub.state.outbox import OUTBOUND_PREFIX

log = get_logger(__name__)
HEALTH: dict[str, bool] = {}
"""The last health check per connector, for the console."""


async def refresh(
    *,
    kafka: KafkaSettings,
    groups: Mapping[str, Sequence[str]],
    sessions: async_sessionmaker[AsyncSession],
    connectors: Sequence[Connector[Any]],
    incomplete_after_s: float,
    breakers: Mapping[str, Breakers] | None = None,
    certificates: Mapping[str, dt.datetime | None] | None = None,
    keys: Mapping[str, KeyDirectory] | None = None,
) -> None:
    """Bring the state gauges up to date; a part that fails leaves its gauge as it was."""
    for connector in connectors:
        HEALTH[connector.name] = await answers(connector)
        CONNECTOR_UP.labels(connector.name).set(1 if HEALTH[connector.name] else 0)
    now = dt.datetime.now(dt.UTC)
    older_than = now - dt.timedelta(seconds=incomplete_after_s)
    for name, expires in (certificates or {}).items():
        # An unreadable certificate alerts as an expiring one does.
        left = 0.0 if expires is None else max(0.0, (expires - now).total_seconds())
        CERTIFICATE_EXPIRY_SECONDS.labels(name).set(left)
    for kind, directory in (keys or {}).items():
        if (made := directory.active_since()) is not None:
            KEY_AGE_SECONDS.labels(kind).set((now - made).total_seconds())
    async with sessions() as session:
        LABELS_INCOMPLETE.set(await labels.incomplete(session, older_than=older_than))
        DEAD_LETTER_DEPTH.set(await dead_letters.open_count(session))
        behind = await holdback.behind_stops(session)
        ERASURE_OVERDUE.set(await detentions.overdue(session, local_day(now)))
        outbound = {f"{OUTBOUND_PREFIX}{name}": name for name in breakers or {}}
        oldest = await holdback.oldest(session, outbound)
        for consumer, name in outbound.items():
            held_at = oldest.get(consumer)
            HELD_OLDEST_SECONDS.labels(name).set(
                (now - held_at).total_seconds() if held_at is not None else 0
            )
        for name, breaker_set in (breakers or {}).items():
            RETRY_QUEUE_DEPTH.labels(name).set(
                await holdback.pending(session, f"{OUTBOUND_PREFIX}{name}")
            )
            HELD_BEHIND_DEAD_LETTERS.labels(name).set(behind.get(f"{OUTBOUND_PREFIX}{name}", 0))
            for partner, state in breaker_set.states().items():
                CIRCUIT_OPEN.labels(name, partner).set(int(state is BreakerState.OPEN))
    try:
        lag = await consumer_lag(kafka, groups)
    except Exception as exc:  # the broker may be briefly away; the next round tries again
        log.warning("consumer_lag_unavailable", error=type(exc).__name__)
        return
    for group, records in lag.items():
        CONSUMER_LAG.labels(group).set(records)


def not_after(path: Path) -> dt.datetime | None:
    """When the certificate in ``path`` (PEM) expires; None when it cannot be read.
    Read once, when the process loads its certificates: a file renewed while the hub
    runs is not what it presents until it restarts, so the alert must not clear."""
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        log.warning("certificate_unreadable", path=str(path))
        return None
    return certificate.not_valid_after_utc
