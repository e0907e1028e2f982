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

from hub.bus.admin import consumer_lag
from hub.bus.topics import DEAD_LETTER
from hub.connectors.base import Connector
from hub.connectors.runtime.health import answers
from hub.logs import get_logger
from hub.settings import KafkaSettings
from hub.state import labels

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
    "Records on the dead-letter topic not yet consumed by the dead-letter reader.",
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
DEAD_LETTER_GROUP = "hub-dead-letters"
"""The group whose lag is the dead-letter depth (the replay of issue 9 consumes as it)."""


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
) -> None:
    """Bring the state gauges up to date; a part that fails leaves its gauge as it was."""
    for connector in connectors:
        HEALTH[connector.name] = await answers(connector)
        CONNECTOR_UP.labels(connector.name).set(1 if HEALTH[connector.name] else 0)
    older_than = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=incomplete_after_s)
    async with sessions() as session:
        LABELS_INCOMPLETE.set(await labels.incomplete(session, older_than=older_than))
    try:
        lag = await consumer_lag(kafka, {**groups, DEAD_LETTER_GROUP: [DEAD_LETTER.name]})
    except Exception as exc:  # the broker may be briefly away; the next round tries again
        log.warning("consumer_lag_unavailable", error=type(exc).__name__)
        return
    DEAD_LETTER_DEPTH.set(lag.pop(DEAD_LETTER_GROUP))
    for group, behind in lag.items():
        CONSUMER_LAG.labels(group).set(behind)
