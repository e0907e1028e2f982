"""Runs an outbound connector: consume its partner kind's delivery topic, re-identify
where permitted, deliver, retry what failed through a per-subject queue, dead-letter
what cannot be delivered, and remember what was done, so the connector only delivers.

A delivery is tried once as it comes off the topic. When the partner fails, or its
circuit breaker is open, the delivery goes to the retry queue (``hub.state.retries``)
and the partition moves on: one partner that is down never blocks another, and a later
delivery for the same client waits behind the earlier one rather than overtake it.
The retry loop tries the queue's heads with exponential backoff and full jitter, within
a cap on attempts and on total time; then the delivery is dead-lettered with every
attempt's error.

The Kafka offset is committed only after the delivery succeeded, was queued or was
dead-lettered (AckPolicy.NACK_ON_ERROR), and a delivery id that was handled before is
skipped, so a redelivered record or a restart never delivers twice. A crash between a
delivery and its record can repeat it once, with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import tracing
from hub.backoff import Backoff
from hub.breaker import Breakers
from hub.bus.batching import wake_on_fetch
from hub.bus.codec import decode_envelope, open_record
from hub.bus.deadletter import DeadLetters, Publish, text_headers
from hub.bus.sealing import Erased
from hub.clock import SYSTEM_CLOCK, Clock
from hub.connectors.base import Delivery, OutboundConnector
from hub.connectors.runtime import metrics
from hub.errors import ContractError, HubError, PermanentError, RetryableError
from hub.identity.keyring import Keyring
from hub.identity.vault import IdentityVault
from hub.logs import get_logger, message_context
from hub.monitoring import FLOW_SECONDS
from hub.schemas.deliveries import Flow, NotificationDelivery
from hub.schemas.envelope import Envelope
from hub.settings import KafkaSettings
from hub.state import idempotency, labels, receipts, retries
from hub.state.dead_letters import Source
from hub.state.failures import Failure
from hub.state.outbox import OUTBOUND_PREFIX
from hub.state.retries import Entry, Waiting

log = get_logger(__name__)
LABEL_FLOWS = frozenset({Flow.B, Flow.C})
"""Deliveries whose outcome is the label's state at the partner (``hub labels status``)."""
IN_FLIGHT = 16
"""Clients whose deliveries of one batch go out at the same time."""
LEASE = dt.timedelta(seconds=20)
"""How long one attempt from the retry queue holds its row against other processes."""


class Result(StrEnum):
    DELIVERED = "delivered"
    QUEUED = "queued"
    DEAD_LETTERED = "dead-lettered"
    DUPLICATE = "duplicate"
    NOT_OURS = "not-ours"
    ERASED = "erased"
    """The client's data was erased (crypto-shredded) before it could be delivered."""


def _reason(error: HubError | None) -> str | None:
    """What an operator reads in ``hub labels status``: the error tree's own words."""
    return None if error is None else f"{error.slug}: {error.message}"[:500]


@dataclass(frozen=True)
class Origin:
    topic: str
    partition: int
    offset: int
    key: bytes | None


@dataclass(frozen=True)
class Finish:
    """How one delivery ended, for its receipt, its label and its queue row."""

    result: Result
    attempts: int
    seconds: float
    error: HubError | None = None
    queued_seq: int | None = None
    trace_id: str | None = field(default_factory=tracing.current_trace_id)
    """The trace the delivery was made in (a Finish is made inside its span)."""


@dataclass(frozen=True)
class Received:
    """One record of a fetch, as the connector's consumer took it."""

    headers: Mapping[str, Any]
    value: bytes
    origin: Origin


class OutboundRuntime:
    """One outbound connector's delivery and retry path. ``clock`` times the retries (the
    queue's due times, the retry loop's pause, and the breakers unless ``breakers`` is
    given, which then must share it): one seam, so a test can move time itself."""

    def __init__(
        self,
        connector: OutboundConnector[Any],
        *,
        sessions: async_sessionmaker[AsyncSession],
        vault: IdentityVault,
        dead_letter: Publish,
        backoff: Backoff | None = None,
        breakers: Breakers | None = None,
        clock: Clock = SYSTEM_CLOCK,
        keyring: Keyring | None = None,
    ):
        self.connector = connector
        self._keyring = keyring
        self._sessions = sessions
        self._vault = vault
        self._dead_letters = DeadLetters(sessions, dead_letter)
        config = connector.config
        self.backoff = backoff or Backoff(
            max_attempts=config.max_attempts,
            initial_s=config.backoff_initial_s,
            max_s=config.backoff_max_s,
        )
        self.max_total = dt.timedelta(seconds=config.retry_max_total_s)
        self.breakers = breakers or Breakers(
            failures=int(getattr(config, "breaker_failures", 5)),
            open_s=float(getattr(config, "breaker_open_s", 30.0)),
            clock=clock.monotonic,
        )
        self._clock = clock
        self.consumer = f"{OUTBOUND_PREFIX}{connector.name}"
        self._accepted = frozenset(model.event_type() for model in connector.accepts)

    async def handle(self, headers: Mapping[str, Any], value: bytes, origin: Origin) -> Result:
        """Deliver, queue or dead-letter one record (see :meth:`handle_batch`)."""
        (result,) = await self.handle_batch([Received(headers, value, origin)])
        return result

    async def handle_batch(self, batch: Sequence[Received]) -> list[Result]:
        """Deliver, queue or dead-letter what one fetch brought; never raises for a bad
        record or a failed delivery (only when the state store or the bus is away).

        One query finds what was handled before and which clients have deliveries
        waiting. Each client's deliveries go in their order; different clients' go at
        once (at most ``IN_FLIGHT``). The delivered ones are recorded in one transaction
        at the end, so a crash before it can repeat a delivery once, with the same
        idempotency key.
        """
        started = time.perf_counter()
        results: dict[int, Result] = {}
        opened: list[tuple[int, Envelope, NotificationDelivery]] = []
        for n, item in enumerate(batch):
            try:
                envelope, event = await open_record(item.headers, item.value, self._keyring)
                if not isinstance(event, NotificationDelivery):
                    raise ContractError(f"{envelope.type} is not a delivery", field="ce_type")
            except Erased:
                results[n] = await self._erased(item.headers, item.origin)
                continue
            except ContractError as error:
                await self._dead_letters.give_up(
                    self._source(item.origin, item.headers, item.value), error, [], attempts=0
                )
                metrics.DEAD_LETTERS.labels(self.connector.name, error.slug).inc()
                results[n] = Result.DEAD_LETTERED
                continue
            if not self.connector.serves(event.recipient):
                results[n] = Result.NOT_OURS
                continue
            opened.append((n, envelope, event))
        async with self._sessions() as session:
            done = await idempotency.processed_among(
                session, self.consumer, [envelope.id for _, envelope, _ in opened]
            )
            waiting = await retries.waiting_among(
                session, self.consumer, {envelope.subject for _, envelope, _ in opened}
            )
        per_subject: dict[str, list[tuple[int, Envelope, NotificationDelivery]]] = {}
        for n, envelope, event in opened:
            if envelope.id in done:
                with message_context(message_id=envelope.id):
                    log.info("delivery_duplicate", connector=self.connector.name)
                results[n] = Result.DUPLICATE
                continue
            done.add(envelope.id)
            per_subject.setdefault(envelope.subject, []).append((n, envelope, event))
        finished: list[tuple[Envelope, NotificationDelivery, Finish]] = []
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def in_order(
            subject: str, items: list[tuple[int, Envelope, NotificationDelivery]]
        ) -> None:
            behind = subject in waiting
            async with gate:
                for n, envelope, event in items:
                    item = batch[n]
                    with (
                        tracing.span(f"deliver {self.connector.name}", parent=item.headers),
                        message_context(
                            message_id=envelope.id, correlation_id=envelope.correlationid
                        ),
                    ):
                        result, finish = await self._first_attempt(
                            item, envelope, event, behind=behind, started=started
                        )
                    results[n] = result
                    behind = behind or result is Result.QUEUED
                    if finish is not None:
                        finished.append((envelope, event, finish))

        try:
            async with asyncio.TaskGroup() as group:  # one failure stops the others
                for subject, items in per_subject.items():
                    group.create_task(in_order(subject, items))
        except ExceptionGroup as failures:  # the state store away: the batch comes again
            raise failures.exceptions[0] from None
        if finished:
            await self._finish(finished)
        return [results[n] for n in range(len(batch))]

    async def _first_attempt(
        self,
        item: Received,
        envelope: Envelope,
        event: NotificationDelivery,
        *,
        behind: bool,
        started: float,
    ) -> tuple[Result, Finish | None]:
        """Try one delivery as it comes off the topic; the Finish is for a delivery that
        went out and is still to be recorded."""
        entry = Entry(
            connector=self.consumer,
            subject=envelope.subject,
            event_id=envelope.id,
            recipient=event.recipient,
            topic=item.origin.topic,
            partition=item.origin.partition,
            offset=item.origin.offset,
            key=item.origin.key,
            headers=text_headers(item.headers),
            value=item.value,
        )
        if event.source_type not in self._accepted:
            refusal = PermanentError(
                f"{self.connector.name} cannot deliver {event.source_type}",
                field="source_type",
            )
            return await self._dead_letter(entry, envelope, event, refusal, [], 0, started), None
        now = self._clock.now()
        breaker = self.breakers[event.recipient]
        if behind or not breaker.allows():
            wait = 0.0 if behind else breaker.retry_in()
            await self._queue(entry, [], now, now + dt.timedelta(seconds=wait))
            log.info(
                "delivery_queued",
                connector=self.connector.name,
                why="behind an earlier delivery" if behind else "circuit open",
            )
            return Result.QUEUED, None
        failed = await self._attempt(envelope, event, 1)
        if failed is None:
            return Result.DELIVERED, Finish(Result.DELIVERED, 1, _since(started))
        history = [Failure.of(1, failed, now)]
        if isinstance(failed, RetryableError) and self.backoff.allows(1):
            pause = dt.timedelta(seconds=self.backoff.pause(1))
            await self._queue(entry, history, now, now + pause, attempts=1)
            await self._note_retry(event, 1, failed, now + pause)
            return Result.QUEUED, None
        return (
            await self._dead_letter(entry, envelope, event, failed, history, 1, started),
            None,
        )

    async def retry_due(self) -> list[Result]:
        """Try the queue's heads that are due, each subject's queue in order; returns
        what became of every delivery that left the queue."""
        async with self._sessions() as session:
            subjects = await retries.due_subjects(session, self.consumer, self._clock.now())
        results: list[Result] = []
        for subject in subjects:
            results += await self._drain(subject)
        return results

    async def run_retries(self, interval_s: float = 0.5) -> None:
        """The retry loop, for as long as the hub runs; a failed round is retried."""
        while True:
            try:
                await self.retry_due()
            except Exception:  # the store may be briefly away; the next round tries again
                log.exception("retry_round_failed", connector=self.connector.name)
            await self._clock.sleep(interval_s)

    async def _drain(self, subject: str) -> list[Result]:
        results: list[Result] = []
        while True:
            now = self._clock.now()
            async with self._sessions.begin() as session:
                item = await retries.head(session, self.consumer, subject)
                if item is None or item.next_attempt_at > now:
                    return results
                if not await retries.lease(session, item, now + LEASE):
                    return results  # another hub process has it
            breaker = self.breakers[item.entry.recipient]
            if not breaker.allows():
                await self._postpone(item, item.attempts, item.errors, breaker.retry_in())
                return results
            result = await self._retry(item, now)
            if result is None:
                return results
            results.append(result)

    async def _retry(self, item: Waiting, now: dt.datetime) -> Result | None:
        with tracing.span(f"retry {self.connector.name}", parent=item.entry.headers):
            return await self._retry_in_trace(item, now)

    async def _retry_in_trace(self, item: Waiting, now: dt.datetime) -> Result | None:
        """One attempt of the queue's head; None when it stays queued."""
        started = time.perf_counter() - (now - item.first_failed_at).total_seconds()
        try:
            envelope, event = await open_record(item.entry.headers, item.entry.value, self._keyring)
        except Erased:
            async with self._sessions.begin() as session:
                await retries.remove(session, item.seq)
            return await self._erased(item.entry.headers, None)
        assert isinstance(event, NotificationDelivery)  # it was checked before it was queued
        with message_context(message_id=envelope.id, correlation_id=envelope.correlationid):
            async with self._sessions() as session:
                done = await idempotency.was_processed(session, self.consumer, envelope.id)
            if done:
                async with self._sessions.begin() as session:
                    await retries.remove(session, item.seq)
                return Result.DUPLICATE
            attempt = item.attempts + 1
            error = await self._attempt(envelope, event, attempt)
            if error is None:
                finish = Finish(Result.DELIVERED, attempt, _since(started), queued_seq=item.seq)
                await self._finish([(envelope, event, finish)])
                return Result.DELIVERED
            history = [*item.errors, Failure.of(attempt, error, now)]
            elapsed = now - item.first_failed_at
            if (
                isinstance(error, RetryableError)
                and self.backoff.allows(attempt)
                and elapsed < self.max_total
            ):
                pause = dt.timedelta(seconds=self.backoff.pause(attempt))
                await self._postpone(item, attempt, history, pause.total_seconds())
                await self._note_retry(event, attempt, error, self._clock.now() + pause)
                return None
            if isinstance(error, RetryableError):
                error = RetryableError(
                    f"gave up after {attempt} attempts in {elapsed.total_seconds():.0f} s: "
                    f"{error.message}",
                    field=error.field,
                )
            return await self._dead_letter(
                item.entry, envelope, event, error, history, attempt, started, item.seq
            )

    async def _attempt(
        self, envelope: Envelope, event: NotificationDelivery, attempt: int
    ) -> HubError | None:
        """One delivery attempt; the error it ended in, or None when delivered."""
        breaker = self.breakers[event.recipient]
        bsn = None
        if event.bsn_permitted:  # only a re-identifying delivery costs a state look-up
            async with self._sessions() as session:
                bsn = await self._vault.reveal(session, envelope.subject)
        delivery = Delivery(
            notification=event,
            delivery_id=event.idempotency_key,
            subject=envelope.subject,
            correlation_id=envelope.correlationid,
            bsn=bsn,
        )
        try:
            await self.connector.deliver(delivery)
        except RetryableError as error:
            breaker.failed()
            metrics.RETRIES.labels(self.connector.name).inc()
            log.warning("delivery_failed", connector=self.connector.name, attempt=attempt)
            return error
        except HubError as error:
            breaker.succeeded()  # the partner answered; it is this delivery that is wrong
            return error
        except Exception as exc:  # Kafka Connect's rule: any other error is permanent
            breaker.succeeded()
            return PermanentError(f"{type(exc).__name__} in {self.connector.name}.deliver")
        breaker.succeeded()
        metrics.MESSAGES.labels(self.connector.name, "out", Result.DELIVERED).inc()
        log.info("delivered", connector=self.connector.name, attempts=attempt)
        flow_time = dt.datetime.now(dt.UTC) - envelope.started
        FLOW_SECONDS.labels(event.flow.value, self.connector.name).observe(
            max(0.0, flow_time.total_seconds())
        )
        return None

    async def _queue(
        self,
        entry: Entry,
        history: list[Failure],
        now: dt.datetime,
        due: dt.datetime,
        *,
        attempts: int = 0,
    ) -> None:
        async with self._sessions.begin() as session:
            await retries.enqueue(
                session, entry, attempts=attempts, errors=history, now=now, next_attempt_at=due
            )
        metrics.MESSAGES.labels(self.connector.name, "out", Result.QUEUED).inc()

    async def _postpone(
        self, item: Waiting, attempts: int, history: list[Failure], pause_s: float
    ) -> None:
        async with self._sessions.begin() as session:
            await retries.postpone(
                session,
                item.seq,
                attempts=attempts,
                errors=history,
                next_attempt_at=self._clock.now() + dt.timedelta(seconds=pause_s),
            )

    async def _dead_letter(
        self,
        entry: Entry,
        envelope: Envelope,
        event: NotificationDelivery,
        error: HubError,
        history: list[Failure],
        attempts: int,
        started: float,
        queued_seq: int | None = None,
    ) -> Result:
        source = Source(
            consumer=self.consumer,
            topic=entry.topic,
            partition=entry.partition,
            offset=entry.offset,
            key=entry.key,
            headers=entry.headers,
            value=entry.value,
            recipient=event.recipient,
            subject=envelope.subject,
            event_type=event.source_type,
            correlation_id=envelope.correlationid,
        )
        await self._dead_letters.give_up(source, error, history, attempts=attempts)
        metrics.DEAD_LETTERS.labels(self.connector.name, error.slug).inc()
        metrics.MESSAGES.labels(self.connector.name, "out", Result.DEAD_LETTERED).inc()
        finish = Finish(Result.DEAD_LETTERED, attempts, _since(started), error, queued_seq)
        await self._finish([(envelope, event, finish)])
        return Result.DEAD_LETTERED

    async def _finish(self, ended: Sequence[tuple[Envelope, NotificationDelivery, Finish]]) -> None:
        """Claim each delivery, write its receipt, settle its label and take it off the
        queue, all in one transaction."""
        async with self._sessions.begin() as session:
            for envelope, event, end in ended:
                await idempotency.claim(session, self.consumer, envelope.id)
                if end.queued_seq is not None:
                    await retries.remove(session, end.queued_seq)
                receipts.record(
                    session,
                    receipts.Receipt(
                        delivery_id=event.idempotency_key,
                        correlation_id=envelope.correlationid,
                        connector=self.connector.name,
                        recipient=event.recipient,
                        flow=event.flow.value,
                        outcome=end.result.value,
                        attempts=end.attempts,
                        seconds=end.seconds,
                        detail=_reason(end.error),
                        finished_at=dt.datetime.now(dt.UTC),
                        trace_id=end.trace_id,
                    ),
                )
                if event.flow in LABEL_FLOWS:
                    await labels.acknowledge(
                        session,
                        event.idempotency_key,
                        delivered=end.result is Result.DELIVERED,
                        retryable=isinstance(end.error, RetryableError),
                        attempts=end.attempts,
                        now=dt.datetime.now(dt.UTC),
                        detail=_reason(end.error),
                    )
        for _, _, end in ended:
            metrics.SECONDS.labels(self.connector.name, "out").observe(end.seconds)

    async def _note_retry(
        self,
        notification: NotificationDelivery,
        attempt: int,
        error: HubError,
        next_attempt_at: dt.datetime,
    ) -> None:
        """A label waiting on a partner that is down says so while it waits, and when it
        is tried next: it is pending, not failed."""
        if notification.flow not in LABEL_FLOWS:
            return
        async with self._sessions.begin() as session:
            await labels.note_attempt(
                session,
                notification.idempotency_key,
                attempt=attempt,
                detail=f"{_reason(error) or error.slug}; next attempt at "
                f"{next_attempt_at:%Y-%m-%d %H:%M:%S} UTC",
                now=dt.datetime.now(dt.UTC),
            )

    async def _erased(self, headers: Mapping[str, Any], origin: Origin | None) -> Result:
        """The client's data was erased: nothing to deliver, and nothing to retry."""
        envelope = decode_envelope(headers)
        async with self._sessions.begin() as session:
            await idempotency.claim(session, self.consumer, envelope.id)
        metrics.MESSAGES.labels(self.connector.name, "out", Result.ERASED).inc()
        log.info(
            "delivery_erased",
            connector=self.connector.name,
            subject=envelope.subject,
            offset=origin.offset if origin else None,
        )
        return Result.ERASED

    def _source(self, origin: Origin, headers: Mapping[str, Any], value: bytes) -> Source:
        return Source(
            consumer=self.consumer,
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            key=origin.key,
            headers=text_headers(headers),
            value=value,
            subject=origin.key.decode("utf-8", "replace") if origin.key else None,
        )


def _since(started: float) -> float:
    return time.perf_counter() - started


def outbound_group(connector: str) -> str:
    """The consumer group of an outbound connector."""
    return f"outbound-{connector}"


def outbound_subscriber(runtime: OutboundRuntime, kafka: KafkaSettings) -> KafkaRouter:
    """The connector's consumer group on its delivery topic, a fetch at a time."""
    wake_on_fetch()
    router = KafkaRouter()
    (topic,) = runtime.connector.topics()

    @router.subscriber(
        topic,
        group_id=outbound_group(runtime.connector.name),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        max_records=kafka.batch_max_records,
        batch_timeout_ms=kafka.batch_wait_ms,
        title=f"connector-{runtime.connector.name}",
        description=f"Delivers to {runtime.connector.partner} through {runtime.connector.name}.",
        auto_offset_reset="earliest",
        session_timeout_ms=kafka.session_timeout_ms,
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
    )
    async def on_deliveries(message: KafkaMessage) -> None:
        records = cast("tuple[ConsumerRecord[bytes, bytes], ...]", message.raw_message)
        await runtime.handle_batch(
            [
                Received(
                    dict(r.headers),
                    r.value or b"",
                    Origin(r.topic, r.partition, r.offset, r.key),
                )
                for r in records
            ]
        )

    return router
