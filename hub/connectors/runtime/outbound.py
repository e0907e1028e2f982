"""Runs an outbound connector: consume its partner kind's delivery topic, re-identify
where permitted, deliver with retries (exponential backoff, full jitter), dead-letter
what cannot be delivered, and remember what was done, so the connector only delivers.

The Kafka offset is committed only after the delivery succeeded or was dead-lettered
(AckPolicy.NACK_ON_ERROR), and a delivery id that was handled before is skipped, so a
redelivered record or a restart never delivers twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import tracing
from hub.backoff import Backoff
from hub.bus.codec import decode
from hub.bus.deadletter import dead_letter_value
from hub.bus.topics import DEAD_LETTER
from hub.connectors.base import Delivery, OutboundConnector
from hub.connectors.runtime import metrics
from hub.errors import ContractError, HubError, PermanentError, RetryableError
from hub.identity.vault import IdentityVault
from hub.logs import get_logger, message_context
from hub.monitoring import FLOW_SECONDS
from hub.schemas.deliveries import Flow, NotificationDelivery
from hub.settings import KafkaSettings
from hub.state import idempotency, labels, receipts

log = get_logger(__name__)
LABEL_FLOWS = frozenset({Flow.B, Flow.C})
"""Deliveries whose outcome is the label's state at the partner (``hub labels status``)."""
DeadLetter = Callable[[bytes, bytes | None, dict[str, str]], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class Result(StrEnum):
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead-lettered"
    DUPLICATE = "duplicate"
    NOT_OURS = "not-ours"


@dataclass(frozen=True)
class Outcome:
    result: Result
    attempts: int
    error: HubError | None = None


def _reason(error: HubError | None) -> str | None:
    """What an operator reads in ``hub labels status``: the error tree's own words."""
    return None if error is None else f"{error.slug}: {error.message}"[:500]


@dataclass(frozen=True)
class Origin:
    topic: str
    partition: int
    offset: int
    key: bytes | None


class OutboundRuntime:
    def __init__(
        self,
        connector: OutboundConnector[Any],
        *,
        sessions: async_sessionmaker[AsyncSession],
        vault: IdentityVault,
        dead_letter: DeadLetter,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
    ):
        self.connector = connector
        self._sessions = sessions
        self._vault = vault
        self._dead_letter = dead_letter
        config = connector.config
        self.backoff = backoff or Backoff(
            max_attempts=int(getattr(config, "max_attempts", 5)),
            initial_s=float(getattr(config, "backoff_initial_s", 0.5)),
            max_s=float(getattr(config, "backoff_max_s", 30.0)),
        )
        self._sleep = sleep
        self.consumer = f"outbound:{connector.name}"
        self._accepted = frozenset(model.event_type() for model in connector.accepts)

    async def handle(self, headers: Mapping[str, Any], value: bytes, origin: Origin) -> Result:
        """Deliver one record; never raises for a bad record or a failed delivery."""
        started = time.perf_counter()
        try:
            envelope, event = decode(headers, value)
            if not isinstance(event, NotificationDelivery):
                raise ContractError(f"{envelope.type} is not a delivery", field="ce_type")
        except ContractError as error:
            await self._give_up(error, headers, value, origin)
            return Result.DEAD_LETTERED
        if not self.connector.serves(event.recipient):
            return Result.NOT_OURS
        with message_context(message_id=envelope.id, correlation_id=envelope.correlationid):
            async with self._sessions() as session:
                if await idempotency.was_processed(session, self.consumer, envelope.id):
                    log.info("delivery_duplicate", connector=self.connector.name)
                    return Result.DUPLICATE
                bsn = (
                    await self._vault.reveal(session, envelope.subject)
                    if event.bsn_permitted
                    else None
                )
            delivery = Delivery(
                notification=event,
                delivery_id=event.idempotency_key,
                subject=envelope.subject,
                correlation_id=envelope.correlationid,
                bsn=bsn,
            )
            outcome = await self._deliver(delivery, headers, value, origin)
            if outcome.result is Result.DELIVERED:
                flow_time = dt.datetime.now(dt.UTC) - envelope.started
                FLOW_SECONDS.labels(event.flow.value, self.connector.name).observe(
                    max(0.0, flow_time.total_seconds())
                )
            async with self._sessions.begin() as session:
                await idempotency.claim(session, self.consumer, envelope.id)
                receipts.record(
                    session,
                    receipts.Receipt(
                        delivery_id=event.idempotency_key,
                        correlation_id=envelope.correlationid,
                        connector=self.connector.name,
                        recipient=event.recipient,
                        flow=event.flow.value,
                        outcome=outcome.result.value,
                        attempts=outcome.attempts,
                        seconds=time.perf_counter() - started,
                        detail=_reason(outcome.error),
                        finished_at=dt.datetime.now(dt.UTC),
                    ),
                )
                if event.flow in LABEL_FLOWS:
                    await labels.acknowledge(
                        session,
                        event.idempotency_key,
                        delivered=outcome.result is Result.DELIVERED,
                        retryable=isinstance(outcome.error, RetryableError),
                        attempts=outcome.attempts,
                        now=dt.datetime.now(dt.UTC),
                        detail=_reason(outcome.error),
                    )
        metrics.SECONDS.labels(self.connector.name, "out").observe(time.perf_counter() - started)
        return outcome.result

    async def _deliver(
        self, delivery: Delivery, headers: Mapping[str, Any], value: bytes, origin: Origin
    ) -> Outcome:
        if delivery.notification.source_type not in self._accepted:
            error = PermanentError(
                f"{self.connector.name} cannot deliver {delivery.notification.source_type}",
                field="source_type",
            )
            await self._give_up(error, headers, value, origin)
            return Outcome(Result.DEAD_LETTERED, 0, error)
        for attempt in range(1, self.backoff.max_attempts + 1):
            try:
                await self.connector.deliver(delivery)
            except RetryableError as error:
                if attempt == self.backoff.max_attempts:
                    failure = RetryableError(
                        f"gave up after {attempt} attempts: {error.message}", field=error.field
                    )
                    await self._give_up(failure, headers, value, origin)
                    return Outcome(Result.DEAD_LETTERED, attempt, failure)
                metrics.RETRIES.labels(self.connector.name).inc()
                pause = self.backoff.pause(attempt)
                log.warning(
                    "delivery_retry", connector=self.connector.name, attempt=attempt, pause_s=pause
                )
                await self._note_retry(delivery.notification, attempt, error)
                await self._sleep(pause)
            except HubError as error:
                await self._give_up(error, headers, value, origin)
                return Outcome(Result.DEAD_LETTERED, attempt, error)
            except Exception as exc:  # Kafka Connect's rule: any other error is permanent
                crash = PermanentError(f"{type(exc).__name__} in {self.connector.name}.deliver")
                await self._give_up(crash, headers, value, origin)
                return Outcome(Result.DEAD_LETTERED, attempt, crash)
            else:
                metrics.MESSAGES.labels(self.connector.name, "out", Result.DELIVERED).inc()
                log.info("delivered", connector=self.connector.name, attempts=attempt)
                return Outcome(Result.DELIVERED, attempt)
        raise AssertionError("unreachable: the loop returns on its last attempt")

    async def _note_retry(
        self, notification: NotificationDelivery, attempt: int, error: HubError
    ) -> None:
        """A label waiting on a partner that is down says so while it waits."""
        if notification.flow not in LABEL_FLOWS:
            return
        async with self._sessions.begin() as session:
            await labels.note_attempt(
                session,
                notification.idempotency_key,
                attempt=attempt,
                detail=_reason(error) or error.slug,
                now=dt.datetime.now(dt.UTC),
            )

    async def _give_up(
        self, error: HubError, headers: Mapping[str, Any], value: bytes, origin: Origin
    ) -> None:
        text_headers = {
            k: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            for k, v in dict(headers).items()
        }
        payload = dead_letter_value(
            consumer=self.consumer,
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            headers=text_headers,
            value=value,
            error=error,
        )
        await self._dead_letter(
            payload,
            origin.key,
            {"content-type": "application/json", "x-hub-error": error.slug},
        )
        metrics.DEAD_LETTERS.labels(self.connector.name, error.slug).inc()
        metrics.MESSAGES.labels(self.connector.name, "out", Result.DEAD_LETTERED).inc()
        log.warning("delivery_dead_lettered", connector=self.connector.name, error=error.slug)


def outbound_group(connector: str) -> str:
    """The consumer group of an outbound connector."""
    return f"outbound-{connector}"


def outbound_subscriber(
    make_runtime: Callable[[DeadLetter], OutboundRuntime], kafka: KafkaSettings
) -> KafkaRouter:
    """The connector's consumer group on its delivery topic."""
    router = KafkaRouter()
    dead_letters = router.publisher(DEAD_LETTER.name, title="dead-letters")

    async def dead_letter(payload: bytes, key: bytes | None, headers: dict[str, str]) -> None:
        await dead_letters.publish(payload, key=key, headers=headers)

    runtime = make_runtime(dead_letter)
    (topic,) = runtime.connector.topics()

    @router.subscriber(
        topic,
        group_id=outbound_group(runtime.connector.name),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=f"connector-{runtime.connector.name}",
        description=f"Delivers to {runtime.connector.partner} through {runtime.connector.name}.",
        auto_offset_reset="earliest",
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
    )
    async def on_delivery(message: KafkaMessage) -> None:
        record = cast("ConsumerRecord[bytes, bytes]", message.raw_message)
        origin = Origin(record.topic, record.partition, record.offset, record.key)
        with tracing.span(f"deliver {runtime.connector.name}", parent=record.headers):
            await runtime.handle(dict(record.headers), record.value or b"", origin)

    return router
