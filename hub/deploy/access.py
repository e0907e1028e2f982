"""Who may read and write which topic: the Kafka ACLs per principal, derived from what
the code declares (each connector's topics, the router's), so that they cannot drift.

Principals: the router (its look-up connector runs inside it), one per inbound
connector (it may write only the topics of the events it emits), one per outbound
connector (it may read only its partner kind's delivery topic, in its own group, and
write dead letters), and the console (replay sends deliveries; the lag gauges describe
every group). ``strimzi_resources`` renders them, with every topic, as Strimzi
``KafkaTopic`` and ``KafkaUser`` resources (``hub deploy kafka``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.connectors.base import Connector, InboundConnector, OutboundConnector
from hub.core.topics import (
    DEAD_LETTER,
    ROUTED_TOPICS,
    ROUTER_GROUP,
    TopicSpec,
    delivery_topic,
    outbound_group,
    topic_config,
)
from hub.schemas.partners import delivery_kinds, hub_topics

STRIMZI = "kafka.strimzi.io/v1"
"""Served from Strimzi 0.49; v1beta2 goes in Strimzi 0.52 (1.0). In v1 a KafkaUser ACL has
only the ``operations`` list, and both kinds require ``spec``."""
REPLICAS = 3
"""Replicas of every topic on the production cluster (three brokers, one may be down)."""


@dataclass(frozen=True)
class Principal:
    name: str
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    describes_groups: bool = False
    purpose: str = ""
    connectors: tuple[str, ...] = field(default=())


def acl_plan(connectors: Mapping[str, type[Connector[Any]]]) -> list[Principal]:
    """Every principal the hub runs as, with the least it needs."""
    deliveries = tuple(delivery_topic(kind).name for kind in delivery_kinds())
    plan = [
        Principal(
            "ketenhub-router",
            reads=tuple(t.name for t in ROUTED_TOPICS),
            writes=(*deliveries, DEAD_LETTER.name),
            groups=(ROUTER_GROUP,),
            purpose="decides and audits every event; sends the deliveries",
        ),
        Principal(
            "ketenhub-console",
            writes=deliveries,
            describes_groups=True,
            purpose="replays dead letters; reads the consumer lag for its gauges",
        ),
    ]
    for name, cls in sorted(connectors.items()):
        if issubclass(cls, InboundConnector):
            plan.append(
                Principal(
                    f"ketenhub-in-{name}",
                    writes=cls.topics(),
                    purpose=f"the {name} webhook: publishes what it translated",
                    connectors=(name,),
                )
            )
        elif issubclass(cls, OutboundConnector):
            plan.append(
                Principal(
                    f"ketenhub-out-{name}",
                    reads=cls.topics(),
                    writes=(DEAD_LETTER.name,),
                    groups=(outbound_group(name),),
                    purpose=f"delivers to {cls.partner}",
                    connectors=(name,),
                )
            )
    return plan


def _acl(kind: str, name: str, operations: Iterable[str]) -> dict[str, Any]:
    return {
        "resource": {"type": kind, "name": name, "patternType": "literal"},
        "operations": list(operations),
    }


def _labels(cluster: str) -> dict[str, str]:
    return {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": "ketenhub"}


def kafka_topic(spec: TopicSpec, *, cluster: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": STRIMZI,
        "kind": "KafkaTopic",
        "metadata": {
            "name": spec.name.replace(".", "-"),
            "namespace": namespace,
            "labels": _labels(cluster),
            "annotations": {"ketenhub.nl/description": spec.description},
        },
        "spec": {
            "topicName": spec.name,
            "partitions": spec.partitions,
            "replicas": REPLICAS,
            "config": topic_config(spec, REPLICAS),
        },
    }


def kafka_user(principal: Principal, *, cluster: str, namespace: str) -> dict[str, Any]:
    acls = [
        *(_acl("topic", t, ("Read", "Describe")) for t in principal.reads),
        *(_acl("topic", t, ("Write", "Describe")) for t in principal.writes),
        *(_acl("group", g, ("Read",)) for g in principal.groups),
    ]
    if principal.describes_groups:
        acls.append(
            {
                "resource": {"type": "group", "name": "*", "patternType": "literal"},
                "operations": ["Describe"],
            }
        )
        acls.extend(_acl("topic", t.name, ("Describe",)) for t in hub_topics())
    return {
        "apiVersion": STRIMZI,
        "kind": "KafkaUser",
        "metadata": {
            "name": principal.name,
            "namespace": namespace,
            "labels": _labels(cluster),
            "annotations": {"ketenhub.nl/purpose": principal.purpose},
        },
        "spec": {
            "authentication": {"type": "tls"},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def strimzi_resources(
    connectors: Mapping[str, type[Connector[Any]]],
    *,
    cluster: str,
    namespace: str,
    users_namespace: str,
) -> list[dict[str, Any]]:
    """Every topic the hub documents (in the Kafka cluster's namespace) and every
    principal it runs as (in the hub's namespace, where its pods mount the certificate
    the User Operator writes: the operator watches ``users_namespace``)."""
    plan = acl_plan(connectors)
    return [
        *(kafka_topic(t, cluster=cluster, namespace=namespace) for t in hub_topics()),
        *(kafka_user(p, cluster=cluster, namespace=users_namespace) for p in plan),
    ]
