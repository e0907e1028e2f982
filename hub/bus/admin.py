"""Topic administration: create the hub's topics with their partition counts, and read
how far each consumer group is behind (for the metrics)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from hub.bus.broker import security_from_settings
from hub.bus.topics import TopicSpec
from hub.settings import KafkaSettings

_TOPIC_ALREADY_EXISTS = 36


def _admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    security = security_from_settings(settings)
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-admin",
        security_protocol=settings.security_protocol.value,
        ssl_context=security.ssl_context if security else None,
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
                topic_configs={"retention.ms": str(s.retention_ms)},
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
    security = security_from_settings(settings)
    admin = _admin(settings)
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-lag",
        security_protocol=settings.security_protocol.value,
        ssl_context=security.ssl_context if security else None,
        enable_auto_commit=False,
    )
    await admin.start()
    await reader.start()
    try:
        await reader.topics()  # fetches the metadata that partitions_for_topic reads
        lag: dict[str, int] = {}
        for group, topics in groups.items():
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(reader.partitions_for_topic(topic) or ())
            ]
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
