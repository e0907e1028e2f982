"""The hub's own Prometheus series, beside the connectors' (``ketenhub_connector_*`` in
``hub.connectors.runtime.metrics``): decisions, stage and flow times, consumer lag,
dead-letter depth, incomplete labels and connector health.

Counters and histograms are updated where the work happens; the gauges that describe
state (lag, depth, labels, health) are refreshed by :func:`refresh`, which the hub's
housekeeping calls every ``HUB_OPS__METRICS_INTERVAL_S``. Labels carry ids, outcomes
and partner names, never a subject.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.breaker import Breakers, BreakerState
from hub.bus.admin import consumer_lag
from hub.connectors.base import Connector
from hub.connectors.runtime.health import answers
from hub.logs import get_logger
from hub.settings import KafkaSettings
from hub.state import dead_letters, labels, retries
from hub.state.outbox import OUTBOUND_PREFIX

log = get_logger(__name__)
FLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)

DECISIONS = Counter(
    "ketenhub_router_decisions",
    "Router decisions, by outcome and by each rule that fired ('none' when none did).",
    ["outcome", "rule"],
)
ROUTER_SECONDS = Histogram(
    "ketenhub_router_seconds",
    "Time the router took for one event: look-up, decisions, audit and sending.",
)
FLOW_SECONDS = Histogram(
    "ketenhub_flow_seconds",
    "From the flow's first partner message at the hub to its delivery at a partner.",
    ["flow", "connector"],
    buckets=FLOW_BUCKETS,
)
CONSUMER_LAG = Gauge(
    "ketenhub_consumer_lag",
    "Records on a consumer group's topics that it has not committed yet.",
    ["group"],
)
DEAD_LETTER_DEPTH = Gauge(
    "ketenhub_dead_letter_depth",
    "Dead letters not yet replayed or discarded (`hub dlq list`).",
)
RETRY_QUEUE_DEPTH = Gauge(
    "ketenhub_retry_queue_depth",
    "Deliveries waiting in the retry queue for their next attempt, per connector.",
    ["connector"],
)
CIRCUIT_OPEN = Gauge(
    "ketenhub_circuit_open",
    "1 while a partner's circuit breaker is open (the partner is left alone), else 0.",
    ["connector", "partner"],
)
LABELS_INCOMPLETE = Gauge(
    "ketenhub_labels_incomplete",
    "Label sets and withdrawals not acknowledged after HUB_ROUTING__LABEL_INCOMPLETE_AFTER_S.",
)
CONNECTOR_UP = Gauge(
    "ketenhub_connector_up",
    "1 when the connector's partner answered its last health check, else 0.",
    ["connector"],
)
HEALTH: dict[str, bool] = {}
"""The last health check per connector, for the console."""


def count_decisions(outcomes: Iterable[tuple[str, Sequence[str]]]) -> None:
    for outcome, rules in outcomes:
        for rule in rules or ("none",):
            DECISIONS.labels(outcome, rule).inc()


async def refresh(
    *,
    kafka: KafkaSettings,
    groups: Mapping[str, Sequence[str]],
    sessions: async_sessionmaker[AsyncSession],
    connectors: Sequence[Connector[Any]],
    incomplete_after_s: float,
    breakers: Mapping[str, Breakers] | None = None,
) -> None:
    """Bring the state gauges up to date; a part that fails leaves its gauge as it was."""
    for connector in connectors:
        HEALTH[connector.name] = await answers(connector)
        CONNECTOR_UP.labels(connector.name).set(1 if HEALTH[connector.name] else 0)
    older_than = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=incomplete_after_s)
    async with sessions() as session:
        LABELS_INCOMPLETE.set(await labels.incomplete(session, older_than=older_than))
        DEAD_LETTER_DEPTH.set(await dead_letters.open_count(session))
        for name, breaker_set in (breakers or {}).items():
            RETRY_QUEUE_DEPTH.labels(name).set(
                await retries.pending(session, f"{OUTBOUND_PREFIX}{name}")
            )
            for partner, state in breaker_set.states().items():
                CIRCUIT_OPEN.labels(name, partner).set(int(state is BreakerState.OPEN))
    try:
        lag = await consumer_lag(kafka, groups)
    except Exception as exc:  # the broker may be briefly away; the next round tries again
        log.warning("consumer_lag_unavailable", error=type(exc).__name__)
        return
    for group, behind in lag.items():
        CONSUMER_LAG.labels(group).set(behind)
