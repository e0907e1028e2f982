"""How a Kafka record is kept in a table until it is sent again: its topic, key, value
and headers (as JSON), the same for the outbox and for accepted events."""

from __future__ import annotations

import json
from typing import Any, Protocol

from hub.core.record import KafkaRecord


class KeptRecord(Protocol):
    topic: str
    key: bytes
    value: bytes
    headers: str


def columns(record: KafkaRecord) -> dict[str, Any]:
    return {
        "topic": record.topic,
        "key": record.key,
        "value": record.value,
        "headers": json.dumps(record.headers, sort_keys=True),
    }


def record_of(row: KeptRecord) -> KafkaRecord:
    return KafkaRecord(
        topic=row.topic, key=row.key, value=row.value, headers=json.loads(row.headers)
    )
