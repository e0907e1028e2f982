"""The router's Kafka consumer: one group over every routed topic, what one fetch
brought routed as one batch, offsets committed only after the deliveries left
(NACK_ON_ERROR rewinds every partition of the batch on any failure).

A record that is not a valid event is dead-lettered at once. A transient failure (the
state store or the bus away) is retried by redelivery for as long as it lasts. Any
other failure splits the batch until the event that causes it is alone (the same path,
smaller batches); that event is retried by redelivery twice and then dead-lettered with
its history, so one poisonous event never blocks the partition it shares with others. An
event the router refuses (a fact about another client, say) is dead-lettered at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy.ext.asyncio import AsyncSession

from hub import tracing
from hub.bus.codec import open_record
from hub.bus.deadletter import Along, DeadLetters, Publish, text_headers
from hub.bus.sealing import Erased
from hub.bus.subscribers import batch_consumer, fetched
from hub.core.errors import ContractError, HubError, PermanentError, RetryableError, is_outage
from hub.core.topics import ROUTED_TOPICS, ROUTER_GROUP
from hub.logs import get_logger, message_context
from hub.routing.router import Incoming, Router, RouteResult
from hub.schemas.envelope import Envelope
from hub.settings import KafkaSettings
from hub.state import idempotency
from hub.state.dead_letters import Source
from hub.state.failures import Failure

CRASHES_BEFORE_DEAD_LETTER = 3
"""An event the router fails on this many times in a row for a reason that is not
transient (a bug, not an outage) is dead-lettered, so it cannot block its partition."""
log = get_logger(__name__)
Fetched = tuple[ConsumerRecord[bytes, bytes], Incoming]


class RouterConsumer:
    """What the router's consumer does with one fetch; it outlives the fetches, so it
    counts how often each event has failed."""

    def __init__(self, router: Router, dead_letters: DeadLetters):
        self._router = router
        self._dead_letters = dead_letters
        self._crashes: dict[str, list[Failure]] = {}

    async def handle(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        batch = [(record, item) for record in records if (item := await self._open(record))]
        if batch:
            await self._routed(batch)

    async def _open(self, record: ConsumerRecord[bytes, bytes]) -> Incoming | None:
        """The record's event, or None when it was erased or dead-lettered as unreadable."""
        try:
            envelope, event = await open_record(
                record.headers, record.value or b"", self._router.keyring
            )
        except Erased:
            log.info("event_erased", topic=record.topic, offset=record.offset)
            return None
        except ContractError as error:
            log.warning(
                "event_rejected",
                error=error.slug,
                field=error.field,
                topic=record.topic,
                offset=record.offset,
            )
            await self._dead_letters.give_up(_source(record, None), error, [], attempts=1)
            return None
        return Incoming(envelope, event, list(record.headers))

    async def _routed(self, batch: list[Fetched]) -> None:
        """Route ``batch`` as one; when it fails for a reason that is not transient,
        route its halves, down to the one event that is poisonous."""
        try:
            results = await self._router.route_batch([item for _, item in batch])
        except RetryableError:
            raise
        except Exception as exc:
            if len(batch) == 1:
                ((record, item),) = batch
                with message_context(
                    message_id=item.envelope.id, correlation_id=item.envelope.correlationid
                ):
                    await self._poisoned(record, item.envelope, exc)
                return
            log.warning("batch_failed", error=type(exc).__name__, events=len(batch))
            half = len(batch) // 2
            await self._routed(batch[:half])
            await self._routed(batch[half:])
            return
        await self._router.flush(
            list(
                dict.fromkeys(
                    event_id
                    for (_, item), result in zip(batch, results, strict=True)
                    for event_id in (*result.ahead, item.envelope.id)
                )
            )
        )
        for (record, item), result in zip(batch, results, strict=True):
            self._crashes.pop(item.envelope.id, None)
            with (
                tracing.continuing(record.headers),
                message_context(
                    message_id=item.envelope.id, correlation_id=item.envelope.correlationid
                ),
            ):
                _log_routed(item.envelope, result)

    async def _poisoned(
        self, record: ConsumerRecord[bytes, bytes], envelope: Envelope, exc: Exception
    ) -> None:
        """One event the router failed on, alone: raised (so it comes again) until it
        failed CRASHES_BEFORE_DEAD_LETTER times, then dead-lettered with its history; an
        event the router refuses (a ContractError: it breaks a rule, and will again) is
        dead-lettered at once; a store or broker outage is waited out."""
        history = self._crashes.setdefault(envelope.id, [])
        failure = (
            exc
            if isinstance(exc, HubError) and not isinstance(exc, RetryableError)
            else PermanentError(f"{type(exc).__name__} in the router")
        )
        history.append(Failure.of(len(history) + 1, failure, dt.datetime.now(dt.UTC)))
        refused = isinstance(exc, ContractError)
        if (len(history) < CRASHES_BEFORE_DEAD_LETTER and not refused) or is_outage(exc):
            log.warning("route_failed", error=type(exc).__name__, attempt=len(history))
            raise exc
        await self._dead_letters.give_up(
            _source(record, envelope),
            failure,
            history,
            attempts=len(history),
            along=_settle(envelope),
        )
        self._crashes.pop(envelope.id, None)


def _settle(envelope: Envelope) -> Along:
    """The router's claim on a dead-lettered event, with its dead letter: the event is
    settled (the relay does not publish it again); a replay of the letter routes it."""

    async def claim(session: AsyncSession, letter_id: str) -> None:
        await idempotency.claim(session, ROUTER_GROUP, envelope.id)

    return claim


def router_subscriber(router: Router, kafka: KafkaSettings, dead_letter: Publish) -> KafkaRouter:
    """The router's consumer group, a fetch at a time (see the module's docstring)."""
    consumer = RouterConsumer(router, DeadLetters(router.sessions, dead_letter))

    async def on_events(message: KafkaMessage) -> None:
        await consumer.handle(fetched(message))

    return batch_consumer(
        *(topic.name for topic in ROUTED_TOPICS),
        group=ROUTER_GROUP,
        kafka=kafka,
        handler=on_events,
        title="router",
        description="Decides, audits and delivers every canonical event.",
    )


def _source(record: ConsumerRecord[bytes, bytes], envelope: Envelope | None) -> Source:
    return Source(
        consumer=ROUTER_GROUP,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        headers=text_headers(record.headers),
        value=record.value or b"",
        subject=envelope.subject if envelope else None,
        event_type=envelope.type if envelope else None,
        correlation_id=envelope.correlationid if envelope else None,
    )


def _log_routed(envelope: Envelope, result: RouteResult) -> None:
    log.info(
        "event_duplicate"
        if result.duplicate
        else "event_parked"
        if result.parked
        else "event_routed",
        subject=envelope.subject,
        type=envelope.type,
        decisions=len(result.audit_seqs),
        deliveries=result.staged,
    )
