"""Keeps the router's case state current from the ZVH's inclusion, exclusion and move events.

Each event is applied exactly once: the idempotency claim and the state change commit
in one transaction, and the Kafka offset is committed only after that.
"""

from __future__ import annotations

from typing import cast

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.bus.codec import decode
from hub.bus.deadletter import send_dead_letter
from hub.bus.topics import CASE, DEAD_LETTER
from hub.errors import ContractError
from hub.logs import get_logger, message_context
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import ClientExcluded, ClientIncluded, ClientMoved
from hub.settings import KafkaSettings
from hub.state import cases, idempotency

CONSUMER = "hub-case-state"
log = get_logger(__name__)


async def apply_case_event(
    session: AsyncSession, subject: str, event_id: str, event: CanonicalEvent
) -> bool:
    """Apply one case event in the caller's transaction; False when it was seen before."""
    if not await idempotency.claim(session, CONSUMER, event_id):
        return False
    if isinstance(event, ClientIncluded):
        await cases.apply_inclusion(session, subject, event, event_id)
    elif isinstance(event, ClientExcluded):
        await cases.apply_exclusion(session, subject, event, event_id)
    elif isinstance(event, ClientMoved):
        await cases.apply_move(session, subject, event, event_id)
    return True


def case_state_router(
    sessions: async_sessionmaker[AsyncSession], kafka: KafkaSettings
) -> KafkaRouter:
    router = KafkaRouter()
    dead_letters = router.publisher(DEAD_LETTER.name, title="dead-letters")

    @router.subscriber(
        CASE.name,
        group_id=CONSUMER,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="case-state",
        description="Applies ZVH inclusion, exclusion and move events to the case state.",
        auto_offset_reset="earliest",
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
    )
    async def on_case_event(message: KafkaMessage) -> None:
        record = cast("ConsumerRecord[bytes, bytes]", message.raw_message)
        try:
            envelope, event = decode(record.headers, record.value or b"")
        except ContractError as error:
            log.warning("case_event_rejected", error=str(error), offset=record.offset)
            await send_dead_letter(
                dead_letters,
                consumer=CONSUMER,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                key=record.key,
                headers=message.headers,
                value=record.value or b"",
                error=error,
            )
            return
        with message_context(message_id=envelope.id, correlation_id=envelope.correlationid):
            async with sessions.begin() as session:
                applied = await apply_case_event(session, envelope.subject, envelope.id, event)
            log.info(
                "case_event_applied" if applied else "case_event_duplicate",
                subject=envelope.subject,
                type=envelope.type,
            )

    return router
