"""Every topic and consumer group the hub uses, named in one place (topics are
``<domain>.<event>.v<version>``).

Messages are keyed by the subject pseudonym, so all events about one person land on
one partition of a topic and stay in order. Topics that the router reads together
share one partition count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

_DAY_MS = 24 * 60 * 60 * 1000
CANONICAL_PARTITIONS = 6


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    description: str


DETENTION = TopicSpec(
    "justice.detention.v1",
    CANONICAL_PARTITIONS,
    14 * _DAY_MS,
    "Detention start, transfer, leave and end from DJI (Injus) and PI backoffices.",
)
CASE = TopicSpec(
    "case.zvh.v1",
    CANONICAL_PARTITIONS,
    14 * _DAY_MS,
    "Inclusion, exclusion and moves between Zorg- en Veiligheidshuizen.",
)
LOOKUP = TopicSpec(
    "case.lookup.v1",
    CANONICAL_PARTITIONS,
    7 * _DAY_MS,
    "KEDO look-up results, kept for the trace of a flow.",
)
CONSENT = TopicSpec(
    "consent.decision.v1",
    CANONICAL_PARTITIONS,
    14 * _DAY_MS,
    "Consents recorded or withdrawn, legal titles and conflict-of-duties decisions.",
)
SIGNAL = TopicSpec(
    "signal.label.v1",
    CANONICAL_PARTITIONS,
    14 * _DAY_MS,
    "Police, probation and crisis-service signals on a label.",
)
LABEL = TopicSpec(
    "label.status.v1",
    CANONICAL_PARTITIONS,
    30 * _DAY_MS,
    "Label set, withdrawn and acknowledged per partner.",
)


def _delivery_topic(kind: str) -> TopicSpec:
    return TopicSpec(
        f"delivery.{kind}.v1",
        CANONICAL_PARTITIONS,
        14 * _DAY_MS,
        f"Deliveries for {kind} partners: one record per permitted recipient, read by "
        f"the {kind} outbound connector and by no one else.",
    )


# One delivery topic per kind of partner: a connector reads only what was decided for
# its own partners, so a politie connector never even receives a delivery for an LLC.
DELIVERY_KINDS = ("gemeente", "zvh", "llz", "pi", "politie", "reclassering", "crisis")
DELIVERY_TOPICS: dict[str, TopicSpec] = {kind: _delivery_topic(kind) for kind in DELIVERY_KINDS}
DELIVERY_FAMILY = _delivery_topic("<partner-kind>")
"""Names the family in schemas and docs; no topic of this name exists."""
DEAD_LETTER = TopicSpec(
    "hub.deadletter.v1",
    1,
    90 * _DAY_MS,
    "Messages that could not be processed, with the reason and the original.",
)


def all_topics(delivery_kinds: Iterable[str] = DELIVERY_KINDS) -> tuple[TopicSpec, ...]:
    """Every topic of the hub, with a delivery topic for each of ``delivery_kinds``
    (``hub.schemas.partners.hub_topics`` adds the configured kinds)."""
    return (
        DETENTION,
        CASE,
        LOOKUP,
        CONSENT,
        SIGNAL,
        LABEL,
        *(DELIVERY_TOPICS.get(kind) or _delivery_topic(kind) for kind in delivery_kinds),
        DEAD_LETTER,
    )


ALL_TOPICS: tuple[TopicSpec, ...] = all_topics()
"""The topics of the built-in kinds."""
CANONICAL_TOPICS: tuple[TopicSpec, ...] = (DETENTION, CASE, CONSENT, SIGNAL, LABEL)
ROUTED_TOPICS: tuple[TopicSpec, ...] = (DETENTION, CASE, CONSENT, SIGNAL)


def topic_config(spec: TopicSpec, replication_factor: int) -> dict[str, str]:
    """A topic's Kafka configuration, the one source for ``hub topics create`` and the
    Strimzi ``KafkaTopic``. Two in-sync replicas let ``acks=all`` survive one broker
    down; never more than the replicas, or no write could succeed."""
    return {
        "retention.ms": str(spec.retention_ms),
        "min.insync.replicas": str(min(2, replication_factor)),
        "cleanup.policy": "delete",
    }


def delivery_topic(partner_kind: str) -> TopicSpec:
    """The delivery topic for partners of ``partner_kind`` (``gemeente``, ``llz`` ...,
    or a configured kind: the same settings, its own name)."""
    return DELIVERY_TOPICS.get(partner_kind) or _delivery_topic(partner_kind)


ROUTER_GROUP = "hub-router"
"""The router's consumer group (and its idempotency namespace)."""
ROUTER_SCHEDULE = "hub-router-schedule"
"""The router's lanes of events dated ahead (an exclusion routed again on its day):
apart from ``ROUTER_GROUP``'s, so a wait of months holds up none of the client's events."""


def outbound_group(connector: str) -> str:
    """The consumer group of an outbound connector that runs alone in its process."""
    return f"outbound-{connector}"


DELIVERIES_GROUP = "hub-deliveries"
"""The consumer group of several outbound connectors in one process (``hub up``, ``hub
run``): one consumer over their delivery topics. Not ``outbound-…``, so no connector's
own group can have its name."""
