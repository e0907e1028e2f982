"""Topic administration: create the hub's topics with their partition counts, read
how far each consumer group is behind (for the metrics), and how the cluster's
replicas stand (for readiness)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from hub.bus.broker import client_security
from hub.core.topics import TopicSpec, topic_config
from hub.settings import KafkaSettings

_TOPIC_ALREADY_EXISTS = 36
_HEALTH_ATTEMPTS = 6


def _admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-admin",
        **client_security(settings),
    )


def _lag_reader(settings: KafkaSettings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-lag",
        enable_auto_commit=False,
        **client_security(settings),
    )


async def ensure_topics(settings: KafkaSettings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the missing topics; returns the names created. Existing ones are left alone."""
    admin = _admin(settings)
    await admin.start()
    try:
        wanted = list(specs)
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                s.name,
                num_partitions=s.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=topic_config(s, settings.replication_factor),
            )
            for s in wanted
            if s.name not in existing
        ]
        if not new:
            return []
        response = await admin.create_topics(new)
        created = []
        for name, code, *_ in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != _TOPIC_ALREADY_EXISTS:
                raise RuntimeError(f"creating topic {name} failed with Kafka error {code}")
        return created
    finally:
        await admin.close()


async def consumer_lag(
    settings: KafkaSettings, groups: Mapping[str, Sequence[str]]
) -> dict[str, int]:
    """Per consumer group, the records on its topics it has not committed yet. A
    partition the group never committed counts from its start."""
    admin = _admin(settings)
    reader = _lag_reader(settings)
    await admin.start()
    await reader.start()
    try:
        known = await _partitions(admin, sorted({t for topics in groups.values() for t in topics}))
        lag: dict[str, int] = {}
        for group, topics in groups.items():
            partitions = [tp for tp in known if tp.topic in topics]
            if not partitions:
                lag[group] = 0
                continue
            ends = await reader.end_offsets(partitions)
            starts = await reader.beginning_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            lag[group] = sum(
                max(0, ends[tp] - max(_offset(committed.get(tp)), starts[tp])) for tp in partitions
            )
        return lag
    finally:
        await reader.stop()
        await admin.close()


def _offset(meta: OffsetAndMetadata | None) -> int:
    return meta.offset if meta is not None and meta.offset >= 0 else 0


@dataclass(frozen=True)
class ClusterHealth:
    """How the brokers stand for the hub's topics, as the cluster's metadata tells it."""

    brokers: int
    partitions: int
    under_replicated: int
    """Partitions whose in-sync replicas are fewer than their replicas."""
    offline: int
    """Partitions without a leader: nothing can be written to them."""

    @property
    def degraded(self) -> bool:
        return self.under_replicated > 0 or self.offline > 0

    def describe(self) -> str:
        state = "degraded" if self.degraded else "healthy"
        return (
            f"{state}: {self.brokers} brokers, {self.partitions} partitions, "
            f"{self.under_replicated} under-replicated, {self.offline} offline"
        )


async def cluster_health(settings: KafkaSettings, topics: Sequence[str]) -> ClusterHealth:
    """Read the brokers and the replicas of ``topics`` from the cluster's metadata."""
    admin = _admin(settings)
    await admin.start()
    try:
        for attempt in range(_HEALTH_ATTEMPTS):
            # The admin client asks a random broker it knows of; a dead one refuses.
            try:
                brokers = len((await admin.describe_cluster())["brokers"])
                described = await admin.describe_topics(list(topics))
                break
            except KafkaError:
                if attempt == _HEALTH_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05)
    finally:
        await admin.close()
    partitions = [p for topic in described for p in topic["partitions"]]
    return ClusterHealth(
        brokers=brokers,
        partitions=len(partitions),
        under_replicated=sum(1 for p in partitions if len(p["isr"]) < len(p["replicas"])),
        offline=sum(1 for p in partitions if p["leader"] < 0),
    )


async def _partitions(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> list[TopicPartition]:
    """The partitions of ``topics`` the cluster has, from its metadata (a consumer's
    cached metadata may know none of them yet)."""
    described = await admin.describe_topics(list(topics))
    return [
        TopicPartition(topic["topic"], p["partition"])
        for topic in described
        if topic["error_code"] == 0
        for p in sorted(topic["partitions"], key=lambda p: int(p["partition"]))
    ]


@dataclass(frozen=True)
class BrokerState:
    """Which cluster this is and how far each partition of the hub's topics has come:
    offsets never go back on one broker."""

    cluster_id: str
    ends: dict[str, int]
    """End offset per ``topic:partition``."""


class BrokerWatch:
    """Reads the broker's state (:class:`BrokerState`) again and again, over an admin
    client and a consumer it keeps open: the relay looks every few seconds, and opening
    both for every look cost two bootstraps each time. A look that fails closes them,
    so the next one starts afresh (a broker restarted on the same address)."""

    def __init__(self, settings: KafkaSettings, topics: Sequence[str]):
        self._settings = settings
        self._topics = list(topics)
        self._clients: tuple[AIOKafkaAdminClient, AIOKafkaConsumer] | None = None

    async def read(self) -> BrokerState:
        if self._clients is None:
            admin, reader = _admin(self._settings), _lag_reader(self._settings)
            try:
                await admin.start()
                await reader.start()
            except BaseException:
                await reader.stop()
                await admin.close()
                raise
            self._clients = admin, reader
        admin, reader = self._clients
        try:
            cluster_id = str((await admin.describe_cluster())["cluster_id"])
            partitions = await _partitions(admin, self._topics)
            ends = await reader.end_offsets(partitions) if partitions else {}
        except BaseException:
            await self.close()
            raise
        return BrokerState(cluster_id, {f"{tp.topic}:{tp.partition}": n for tp, n in ends.items()})

    async def close(self) -> None:
        if self._clients is not None:
            admin, reader = self._clients
            self._clients = None
            await reader.stop()
            await admin.close()
