"""The one way the hub puts a canonical event on the bus: validate, encode, then publish.

Validation happens before anything is sent, so a malformed event raises a
ContractError naming its field and leaves no trace on the bus.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker
from pydantic import ValidationError

from hub.bus.codec import encode
from hub.core.errors import ContractError
from hub.core.record import KafkaRecord
from hub.identity.keyring import DataKey
from hub.schemas.base import CanonicalEvent
from hub.schemas.envelope import Envelope
from hub.schemas.registry import parse_payload


class EventPublisher:
    def __init__(self, broker: KafkaBroker):
        self._broker = broker

    async def publish(
        self, event: CanonicalEvent, envelope: Envelope, key: DataKey | None = None
    ) -> KafkaRecord:
        """Encode and send one event, sealed under ``key``: a hub that holds the keyring
        refuses a payload in clear (``hub.bus.codec.open_record``)."""
        record = encode(event, envelope, key)
        await self.send(record)
        return record

    async def send(self, record: KafkaRecord) -> None:
        await self._broker.publish(
            record.value, topic=record.topic, key=record.key, headers=record.headers
        )

    async def send_all(self, records: Sequence[KafkaRecord]) -> None:
        """Queue every record in order, then wait for all the acknowledgements: one round
        trip for a batch instead of one per record, and the order per partition kept.
        Raises when any record failed; the caller sends them all again."""
        pending = [
            await self._broker.publish(
                r.value, topic=r.topic, key=r.key, headers=r.headers, no_confirm=True
            )
            for r in records
        ]
        # FastStream's in-memory test broker delivers at once and hands back no future.
        await asyncio.gather(*(ack for ack in pending if inspect.isawaitable(ack)))

    async def publish_data(
        self,
        event_type: str,
        data: Any,
        *,
        subject: str | None,
        source: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: str | None = None,
    ) -> Envelope:
        """Validate raw data as ``event_type`` and publish it; nothing is sent on error."""
        event = parse_payload(event_type, data)
        if not subject:
            raise ContractError("every event needs a subject", field="subject")
        try:
            envelope = Envelope.for_event(
                event,
                subject=subject,
                source=source,
                correlation_id=correlation_id,
                causation_id=causation_id,
                event_id=event_id,
            )
        except ValidationError as exc:
            raise ContractError.from_validation(exc) from None
        await self.publish(event, envelope)
        return envelope
