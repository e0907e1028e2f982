"""Topic administration: create the hub's topics with their partition counts."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from hub.bus.broker import security_from_settings
from hub.bus.topics import TopicSpec
from hub.settings import KafkaSettings

_TOPIC_ALREADY_EXISTS = 36


async def ensure_topics(settings: KafkaSettings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the missing topics; returns the names created. Existing ones are left alone."""
    security = security_from_settings(settings)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-admin",
        security_protocol=settings.security_protocol.value,
        ssl_context=security.ssl_context if security else None,
    )
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
