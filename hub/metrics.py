"""The hub's own Prometheus series, beside the connectors' (``ketenhub_connector_*`` in
``hub.connectors.runtime.metrics``): decisions, stage and flow times, consumer lag,
dead-letter depth, incomplete labels and connector health.

Counters and histograms are updated where the work happens; the gauges that describe
state are refreshed by ``hub.monitoring``. Labels carry ids, outcomes and partner
names, never a subject.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from prometheus_client import Counter, Gauge, Histogram

FLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)

DECISIONS = Counter(
    "ketenhub_router_decisions",
    "Router decisions, by outcome and by each rule that fired ('none' when none did).",
    ["outcome", "rule"],
)
CONSUMER_SECONDS = Histogram(
    "ketenhub_consumer_seconds",
    "Time a consumer group took for one fetched batch: for the router, look-up, "
    "decisions, audit and sending; for a connector, the deliveries.",
    ["group"],
)
CONSUMER_RECORDS = Counter(
    "ketenhub_consumer_records",
    "Records a consumer group was handed (again after a failed batch).",
    ["group"],
)
CONSUMER_FAILURES = Counter(
    "ketenhub_consumer_failures",
    "Batches a consumer group's handler failed; each is fetched again. A count that "
    "keeps rising for one group is a poison record or a store that does not answer.",
    ["group", "error"],
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
    "Deliveries held back for a later attempt (dead-letter stops included), per connector.",
    ["connector"],
)
HELD_BEHIND_DEAD_LETTERS = Gauge(
    "ketenhub_held_behind_dead_letters",
    "Deliveries waiting behind a dead letter of the same client and partner, per "
    "connector: they go only when an operator replays or discards it (`hub dlq`).",
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
HELD_OLDEST_SECONDS = Gauge(
    "ketenhub_held_oldest_seconds",
    "How long the longest-held delivery of a connector has waited (0 when none waits).",
    ["connector"],
)
ERASURE_OVERDUE = Gauge(
    "ketenhub_erasure_overdue",
    "Clients whose detention data is past its erasure date and still kept: the "
    "retention pass is not running, or failing.",
)
AUDIT_CHAIN_INTACT = Gauge(
    "ketenhub_audit_chain_intact",
    "1 when the audit trail's hash chain verified at the last retention pass, 0 when "
    "it is broken (`hub audit verify` names the first broken record), NaN before the "
    "first pass and in processes that run no retention pass (no router).",
)
# Not yet known is not broken: a gauge starts at 0, which the alert's `== 0` would read
# as a broken chain in every console and connector pod, and in a router before its
# first pass. NaN equals nothing in PromQL, and min() passes over it.
AUDIT_CHAIN_INTACT.set(math.nan)
CERTIFICATE_EXPIRY_SECONDS = Gauge(
    "ketenhub_certificate_expiry_seconds",
    "Seconds until a certificate the hub presents expires, as the process loaded it at "
    "its start (its HTTPS server "
    "certificate 'https', its Kafka client certificate 'kafka-client', a connector's "
    "mutual-TLS client certificate 'connector-NAME'); 0 when it cannot be read.",
    ["certificate"],
)
KEY_AGE_SECONDS = Gauge(
    "ketenhub_key_age_seconds",
    "Seconds since the active key of a kind ('master', 'pseudonym') was made, as the hub "
    "noted it beside the key (<kind>-<id>.made) when it made it; a key it did not make has "
    "no known age. Keys do not expire: a rotation policy counts from this.",
    ["kind"],
)
CONNECTOR_UP = Gauge(
    "ketenhub_connector_up",
    "1 when the connector's partner answered its last health check, else 0.",
    ["connector"],
)


def count_decisions(outcomes: Iterable[tuple[str, Sequence[str]]]) -> None:
    for outcome, rules in outcomes:
        for rule in rules or ("none",):
            DECISIONS.labels(outcome, rule).inc()
