"""Dead letters: a record the hub could not process, kept whole with the reason.

Nothing is dropped silently. The dead letter is stored first (``hub dlq`` and the
console read the store), then published on the dead-letter topic for anyone who
watches it, with the original headers and value, where it came from, which consumer
gave up, the error as problem+json and every earlier attempt's error.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.core.errors import HubError
from hub.core.topics import DEAD_LETTER
from hub.logs import get_logger
from hub.state import dead_letters
from hub.state.dead_letters import Source
from hub.state.failures import Failure

Publish = Callable[[bytes, bytes | None, dict[str, str]], Awaitable[None]]
Along = Callable[[AsyncSession, str], Awaitable[None]]
log = get_logger(__name__)


def dead_letter_value(
    letter_id: str, source: Source, error: HubError, history: list[Failure], now: dt.datetime
) -> bytes:
    body: dict[str, Any] = {
        "id": letter_id,
        "consumer": source.consumer,
        "source": {"topic": source.topic, "partition": source.partition, "offset": source.offset},
        "failed_at": now.isoformat(),
        "error": error.problem(),
        "errors": [asdict(f) for f in history],
        "original": {
            "headers": dict(source.headers),
            "value_b64": base64.b64encode(source.value).decode("ascii"),
        },
    }
    return json.dumps(body, sort_keys=True).encode("utf-8")


class DeadLetters:
    """Where every consumer gives up: the store, then the dead-letter topic."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], publish: Publish):
        self._sessions = sessions
        self._publish = publish

    async def give_up(
        self,
        source: Source,
        error: HubError,
        history: list[Failure],
        *,
        attempts: int,
        along: Along | None = None,
    ) -> str:
        """Store and publish the dead letter; returns its id. Raises when either fails,
        so the caller does not commit its offset and the record comes again. ``along``
        is the caller's own work that must commit with the dead letter (the stop of a
        hold-back lane)."""
        now = dt.datetime.now(dt.UTC)
        async with self._sessions.begin() as session:
            letter_id = await dead_letters.record(
                session, source, error, history, attempts=attempts, now=now
            )
            if along is not None:
                await along(session, letter_id)
        await self._publish(
            dead_letter_value(letter_id, source, error, history, now),
            source.key,
            {"content-type": "application/json", "x-hub-error": error.slug},
        )
        log.warning(
            "dead_lettered",
            consumer=source.consumer,
            dead_letter=letter_id,
            error=error.slug,
            subject=source.subject,
            attempts=attempts,
        )
        return letter_id


def text_headers(headers: Any) -> dict[str, str]:
    """Kafka headers (a list of pairs or a mapping, values bytes) as text."""
    pairs = headers.items() if hasattr(headers, "items") else headers
    return {
        str(k): v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for k, v in pairs
    }


def topic_publisher(broker: KafkaBroker) -> Publish:
    """Publishes dead letters on the dead-letter topic through ``broker``."""

    async def publish(value: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        await broker.publish(value, topic=DEAD_LETTER.name, key=key, headers=headers)

    return publish
