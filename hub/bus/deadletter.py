"""Dead letters: a record the hub could not process, kept whole with the reason.

Nothing is dropped silently. The dead letter keeps the original headers and value,
where it came from, which consumer gave up, and the error as problem+json.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from faststream.kafka.publisher.usecase import DefaultPublisher

from hub.errors import HubError


def dead_letter_value(
    *,
    consumer: str,
    topic: str,
    partition: int,
    offset: int,
    headers: Mapping[str, str],
    value: bytes,
    error: HubError,
) -> bytes:
    body: dict[str, Any] = {
        "consumer": consumer,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "failed_at": dt.datetime.now(dt.UTC).isoformat(),
        "error": error.problem(),
        "original": {
            "headers": dict(headers),
            "value_b64": base64.b64encode(value).decode("ascii"),
        },
    }
    return json.dumps(body, sort_keys=True).encode("utf-8")


async def send_dead_letter(
    publisher: DefaultPublisher,
    *,
    consumer: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    headers: Mapping[str, str],
    value: bytes,
    error: HubError,
) -> None:
    payload = dead_letter_value(
        consumer=consumer,
        topic=topic,
        partition=partition,
        offset=offset,
        headers=headers,
        value=value,
        error=error,
    )
    await publisher.publish(
        payload,
        key=key,
        headers={"content-type": "application/json", "x-hub-error": error.slug},
    )
