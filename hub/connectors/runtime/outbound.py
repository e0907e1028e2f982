"""Runs an outbound connector: consume its partner kind's delivery topic, re-identify
where permitted, deliver, hold back what failed, dead-letter what cannot be delivered,
and remember what was done, so the connector only delivers.

A delivery is tried once as it comes off the topic. When the partner fails, or its
circuit breaker is open, the delivery is held back in the lane of its client and partner
(``hub.state.holdback``) and the partition moves on: one partner that is down never
blocks another, and a later delivery for the same client and partner waits behind the
earlier one rather than overtake it. The retry loop tries the lanes' heads with
exponential backoff and full jitter, for the connector's horizon (72 hours by default);
a permanent answer, or the end of the horizon, dead-letters the delivery with every
attempt's error, and it stays as its lane's stop: what comes later for that client and
partner waits behind it until an operator replays or discards it (``hub dlq``).

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
from contextlib import nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import tracing
from hub.backoff import Backoff
from hub.breaker import Breakers
from hub.bus.codec import decode_envelope, open_record
from hub.bus.deadletter import DeadLetters, Publish, text_headers
from hub.bus.sealing import Erased
from hub.bus.subscribers import batch_consumer, fetched
from hub.clock import SYSTEM_CLOCK, Clock
from hub.connectors.base import Delivery, OutboundConnector
from hub.connectors.runtime import metrics
from hub.connectors.runtime.lanes import FetchPlan, LaneKey, Planned, Step, plan_fetch
from hub.core.errors import ContractError, HubError, PermanentError, RetryableError
from hub.core.polling import next_pause
from hub.core.record import KafkaRecord
from hub.identity.keyring import Keyring
from hub.identity.vault import IdentityVault
from hub.logs import get_logger, message_context
from hub.metrics import FLOW_SECONDS
from hub.schemas.deliveries import Flow, NotificationDelivery
from hub.schemas.envelope import Envelope
from hub.settings import KafkaSettings
from hub.state import dead_letters, holdback, idempotency, labels, pauses, receipts
from hub.state.dead_letters import Source
from hub.state.failures import Failure
from hub.state.holdback import Held, Lane
from hub.state.outbox import OUTBOUND_PREFIX

log = get_logger(__name__)
LABEL_FLOWS = frozenset({Flow.B, Flow.C})
"""Deliveries whose outcome is the label's state at the partner (``hub labels status``)."""
IN_FLIGHT = 16
"""Clients whose deliveries of one batch go out at the same time."""
FETCH_BUDGET_S = 5.0
"""The longest one fetch's deliveries to one connector's partner may take. The
connectors of a process share one consumer, and the next fetch waits for this one: a
partner that answers slowly (within its timeout) would hold the others' deliveries as
long. Past it, the rest of the fetch waits in its lanes for the retry loop. Generous
enough that a hub short of CPU (a fetch of 20 deliveries on a busy machine) does not
take itself for a slow partner."""
PAUSED_RECHECK_S = 60.0
"""While its connector is paused, a lane's head is looked at again after this long;
resuming makes the held deliveries due at once (``hub.state.pauses.resume``)."""


class Result(StrEnum):
    DELIVERED = "delivered"
    QUEUED = "queued"
    """Held back in its lane for a later attempt."""
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
    """The hold-back row the delivery leaves (a dead letter's row stays, as a stop)."""
    trace_id: str | None = field(default_factory=tracing.current_trace_id)
    """The trace the delivery was made in (a Finish is made inside its span)."""


@dataclass(frozen=True)
class Received:
    """One record of a fetch, as the connector's consumer took it."""

    headers: Mapping[str, Any]
    value: bytes
    origin: Origin


@dataclass
class Fetch:
    """One connector's part of a fetch, as it goes through :func:`handle_fetch`."""

    batch: Sequence[Received]
    started: float = field(default_factory=time.perf_counter)
    results: dict[int, Result] = field(default_factory=dict)
    opened: list[tuple[int, Envelope, NotificationDelivery]] = field(default_factory=list)
    plan: FetchPlan | None = None
    bsns: Mapping[str, str] = field(default_factory=dict)
    paused: str | None = None
    """Why the connector's deliveries wait, when an operator paused it."""
    finished: list[tuple[Envelope, NotificationDelivery, Finish]] = field(default_factory=list)

    def in_order(self) -> list[Result]:
        """What became of each record, in the fetch's order."""
        return [self.results[n] for n in range(len(self.batch))]


@dataclass(frozen=True)
class Item:
    """A delivery as the hold-back queue keeps it: its lane, its record and where it
    was read (for the dead letter's source)."""

    lane: Lane
    delivery_id: str
    record: KafkaRecord
    partition: int | None
    offset: int | None

    @classmethod
    def received(cls, lane: Lane, delivery_id: str, item: Received) -> Item:
        return cls(
            lane,
            delivery_id,
            KafkaRecord(
                item.origin.topic,
                item.origin.key or lane.subject.encode(),
                item.value,
                text_headers(item.headers),
            ),
            item.origin.partition,
            item.origin.offset,
        )

    @classmethod
    def held(cls, item: Held) -> Item:
        return cls(item.lane, item.item_id, item.record, item.partition, item.offset)

    async def hold(
        self,
        session: AsyncSession,
        *,
        reason: str,
        now: dt.datetime,
        due: dt.datetime,
        attempts: int,
        errors: list[Failure],
        dead_letter_id: str | None = None,
    ) -> None:
        """Put the delivery at the end of its lane (as its stop, with a dead letter)."""
        await holdback.hold(
            session,
            self.lane,
            self.delivery_id,
            self.record,
            reason=reason,
            now=now,
            next_attempt_at=due,
            attempts=attempts,
            errors=errors,
            partition=self.partition,
            offset=self.offset,
            dead_letter_id=dead_letter_id,
        )


class OutboundRuntime:
    """One outbound connector's delivery and retry path. ``clock`` times the retries (the
    queue's due times, the retry loop's pause, and the breakers unless ``breakers`` is
    given, which then must share it): one seam, so a test can move time itself.
    ``others`` are the other outbound connectors on the same delivery topic, wherever
    they run: a delivery one of them is for is skipped, not refused (see :meth:`_ours`)."""

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
        others: Sequence[type[OutboundConnector[Any]]] = (),
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
        self._accepted = _event_types(connector)
        self._others = [(other, _event_types(other)) for other in others]

    async def handle(self, headers: Mapping[str, Any], value: bytes, origin: Origin) -> Result:
        """Deliver, queue or dead-letter one record (see :meth:`handle_batch`)."""
        (result,) = await self.handle_batch([Received(headers, value, origin)])
        return result

    async def handle_batch(self, batch: Sequence[Received]) -> list[Result]:
        """Deliver, queue or dead-letter what one fetch brought for this connector alone
        (:func:`handle_fetch`)."""
        (results,) = await handle_fetch([(self, batch)])
        return results

    async def _open(self, batch: Sequence[Received]) -> Fetch:
        """The fetch's deliveries for this connector, opened; one that cannot be read is
        dead-lettered, an erased one settled, one for another connector left alone."""
        fetch = Fetch(batch)
        for n, item in enumerate(batch):
            try:
                envelope, event = await open_record(item.headers, item.value, self._keyring)
                if not isinstance(event, NotificationDelivery):
                    raise ContractError(f"{envelope.type} is not a delivery", field="ce_type")
            except Erased:
                fetch.results[n] = await self._erased(item.headers, item.origin)
                continue
            except ContractError as error:
                await self._dead_letters.give_up(
                    self._source(item.origin, item.headers, item.value), error, [], attempts=0
                )
                metrics.DEAD_LETTERS.labels(self.connector.name, error.slug).inc()
                fetch.results[n] = Result.DEAD_LETTERED
                continue
            if not self._ours(event):
                fetch.results[n] = Result.NOT_OURS
                continue
            fetch.opened.append((n, envelope, event))
        return fetch

    async def _plan(self, session: AsyncSession, fetch: Fetch) -> None:
        """What was handled before, which lanes hold something and the BSNs the
        deliveries may carry, read in ``session``; the steps are planned from that
        without I/O (``hub.connectors.runtime.lanes``)."""
        opened = fetch.opened
        done = await idempotency.processed_among(
            session, self.consumer, [envelope.id for _, envelope, _ in opened]
        )
        held = await holdback.lanes_among(
            session, self.consumer, {envelope.subject for _, envelope, _ in opened}
        )
        stopped = any(stop is not None for stop in held.values())
        resent = (
            await dead_letters.open_for_deliveries(
                session, self.consumer, [event.idempotency_key for _, _, event in opened]
            )
            if stopped
            else {}
        )
        # Only a re-identifying delivery costs a look-up: one for the whole fetch.
        fetch.bsns = await self._vault.reveal_all(
            session, {envelope.subject for _, envelope, event in opened if event.bsn_permitted}
        )
        fetch.plan = plan_fetch(opened, done, held, resent)
        for step in fetch.plan.duplicates:
            with message_context(message_id=step.envelope.id):
                log.info("delivery_duplicate", connector=self.connector.name)
            fetch.results[step.n] = Result.DUPLICATE

    async def _deliver(self, fetch: Fetch) -> None:
        """Each lane's deliveries in their order; different lanes' at once (at most
        ``IN_FLIGHT``). Raises when the state store is away (the fetch comes again)."""
        plan, batch, results = fetch.plan, fetch.batch, fetch.results
        assert plan is not None, "planned first"
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def in_order(lane: LaneKey, steps: list[Planned]) -> None:
            behind = plan.waiting.get(lane) or fetch.paused
            async with gate:
                for step in steps:
                    item, envelope, event = batch[step.n], step.envelope, step.event
                    if step.step is Step.RESEND:
                        results[step.n] = await self._resend_step(fetch, step)
                        continue
                    with (
                        tracing.span(f"deliver {self.connector.name}", parent=item.headers),
                        message_context(
                            message_id=envelope.id, correlation_id=envelope.correlationid
                        ),
                    ):
                        result, finish = await self._first_attempt(
                            item,
                            envelope,
                            event,
                            behind=behind,
                            due_in_s=PAUSED_RECHECK_S if fetch.paused else 0.0,
                            started=fetch.started,
                            bsns=fetch.bsns,
                        )
                    results[step.n] = result
                    if behind is None and result is not Result.DELIVERED:
                        behind = "behind an earlier delivery"
                    if finish is not None:
                        fetch.finished.append((envelope, event, finish))

        try:
            async with asyncio.timeout(FETCH_BUDGET_S), asyncio.TaskGroup() as group:
                for lane, steps in plan.lanes.items():  # one failure stops the others
                    group.create_task(in_order(lane, steps))
        except ExceptionGroup as failures:  # the state store away: the batch comes again
            raise failures.exceptions[0] from None
        except TimeoutError:
            await self._hold_the_rest(fetch)

    async def _hold_the_rest(self, fetch: Fetch) -> None:
        """The partner answers too slowly to finish the fetch within FETCH_BUDGET_S: what
        was not done (a call cut off, and every one after it) waits in its lane, in its
        order, due at once, and the retry loop delivers it; the fetch is done, so the
        process's other connectors read on. The partner's breaker opens, so its next
        deliveries wait in their lanes too instead of holding the next fetches. A call
        cut off may have reached the partner: it goes again with the same idempotency
        key."""
        plan = fetch.plan
        assert plan is not None, "planned first"
        now, slow, held = self._clock.now(), set[str](), 0
        for steps in plan.lanes.values():
            for step in steps:
                if step.n in fetch.results:
                    continue
                if step.step is Step.RESEND:
                    fetch.results[step.n] = await self._resend_step(fetch, step)
                    continue
                again = self._item(fetch, step)
                await self._queue(again, [], "behind a slow answer of the partner", now, now)
                fetch.results[step.n] = Result.QUEUED
                slow.add(step.event.recipient)
                held += 1
        for recipient in slow:  # its next deliveries wait in their lanes, not in a fetch
            self.breakers[recipient].trip()
        if held:
            log.warning("deliveries_held_partner_slow", connector=self.connector.name, held=held)

    def _item(self, fetch: Fetch, step: Planned) -> Item:
        """A planned delivery of the fetch as its lane keeps it."""
        lane = Lane(self.consumer, step.envelope.subject, step.event.recipient)
        return Item.received(lane, step.envelope.id, fetch.batch[step.n])

    async def _resend_step(self, fetch: Fetch, step: Planned) -> Result:
        assert step.stop is not None, "a re-send takes a stop's place"
        return await self._resend(step.stop, self._item(fetch, step).record)

    def _ours(self, event: NotificationDelivery) -> bool:
        """Whether this connector delivers ``event``: it serves the recipient, and no other
        connector on the topic that serves it accepts the event where this one does not
        (the police's subscriptions and notices are two connectors). An event no
        connector accepts stays ours, so it is dead-lettered rather than lost; one whose
        connector is switched off waits on the topic, as for any partner without one."""
        if not self.connector.serves(event.recipient):
            return False
        if event.source_type in self._accepted:
            return True
        return not any(
            other.serves(event.recipient) and event.source_type in accepted
            for other, accepted in self._others
        )

    async def _first_attempt(
        self,
        item: Received,
        envelope: Envelope,
        event: NotificationDelivery,
        *,
        behind: str | None,
        due_in_s: float,
        started: float,
        bsns: Mapping[str, str],
    ) -> tuple[Result, Finish | None]:
        """Try one delivery as it comes off the topic, unless ``behind`` says why it must
        wait in its lane (to be looked at again in ``due_in_s``); the Finish is for a
        delivery that went out and is still to be recorded."""
        entry = Item.received(
            Lane(self.consumer, envelope.subject, event.recipient), envelope.id, item
        )
        if event.source_type not in self._accepted:
            refusal = PermanentError(
                f"{self.connector.name} cannot deliver {event.source_type}",
                field="source_type",
            )
            return await self._dead_letter(entry, envelope, event, refusal, [], 0, started), None
        now = self._clock.now()
        breaker = self.breakers[event.recipient]
        with breaker.attempt() if behind is None else nullcontext(False) as allowed:
            if not allowed:
                why = behind or "circuit open"
                wait = due_in_s if behind else breaker.retry_in()
                await self._queue(entry, [], why, now, now + dt.timedelta(seconds=wait))
                log.info("delivery_queued", connector=self.connector.name, why=why)
                return Result.QUEUED, None
            failed = await self._attempt(envelope, event, 1, bsns)
        if failed is None:
            return Result.DELIVERED, Finish(Result.DELIVERED, 1, _since(started))
        history = [Failure.of(1, failed, now)]
        if isinstance(failed, RetryableError) and self.backoff.allows(1):
            pause = dt.timedelta(seconds=self.backoff.pause(1))
            await self._queue(entry, history, str(failed), now, now + pause, attempts=1)
            await self._note_retry(event, 1, failed, now + pause)
            return Result.QUEUED, None
        return (
            await self._dead_letter(entry, envelope, event, failed, history, 1, started),
            None,
        )

    async def _resend(self, letter_id: str, record: KafkaRecord) -> Result:
        """A re-send of the delivery its lane is stopped at (a label offered again): it
        takes the stop's place and goes first; when it succeeds, the dead letter is
        resolved by itself."""
        async with self._sessions.begin() as session:
            await holdback.resume(session, letter_id, record, self._clock.now())
        log.info("delivery_resent", connector=self.connector.name, dead_letter=letter_id)
        return Result.QUEUED

    async def retry_due(self) -> list[Result]:
        """One round of retries for this connector alone (:func:`retry_round`)."""
        return await retry_round([self])

    async def _drain(self, lane: Lane) -> list[Result]:
        results: list[Result] = []
        while True:
            now = self._clock.now()
            async with self._sessions.begin() as session:
                item = await holdback.head(session, lane)
                if item is None or item.stopped or item.next_attempt_at > now:
                    return results
                pause = await pauses.of(session, self.connector.name)
                if pause is not None:
                    await holdback.postpone(
                        session,
                        item.seq,
                        attempts=item.attempts,
                        errors=item.errors,
                        reason=pause.reason,
                        next_attempt_at=now + dt.timedelta(seconds=PAUSED_RECHECK_S),
                    )
                    return results
                if not await holdback.lease(session, item, now + holdback.LEASE):
                    return results  # another hub process has it
            breaker = self.breakers[lane.partner]
            with breaker.attempt() as allowed:
                if not allowed:
                    await self._postpone(item, item.attempts, item.errors, breaker.retry_in())
                    return results
                result = await self._retry(item, now)
            if result is None:
                return results
            results.append(result)

    async def _retry(self, item: Held, now: dt.datetime) -> Result | None:
        with tracing.span(f"retry {self.connector.name}", parent=item.record.headers):
            return await self._retry_in_trace(item, now)

    async def _retry_in_trace(self, item: Held, now: dt.datetime) -> Result | None:
        """One attempt of a lane's head; None when it stays held."""
        first_failed = dt.datetime.fromisoformat(item.errors[0].at) if item.errors else now
        started = time.perf_counter() - (now - item.held_at).total_seconds()
        try:
            envelope, event = await open_record(
                item.record.headers, item.record.value, self._keyring
            )
        except Erased:
            async with self._sessions.begin() as session:
                await holdback.release(session, item.seq)
            return await self._erased(item.record.headers, None)
        assert isinstance(event, NotificationDelivery)  # it was checked before it was queued
        with message_context(message_id=envelope.id, correlation_id=envelope.correlationid):
            async with self._sessions() as session:
                done = await idempotency.was_processed(session, self.consumer, envelope.id)
            if done:
                async with self._sessions.begin() as session:
                    await holdback.release(session, item.seq)
                return Result.DUPLICATE
            attempt = item.attempts + 1
            error = await self._attempt(envelope, event, attempt)
            if error is None:
                finish = Finish(Result.DELIVERED, attempt, _since(started), queued_seq=item.seq)
                await self._finish([(envelope, event, finish)])
                return Result.DELIVERED
            history = [*item.errors, Failure.of(attempt, error, now)]
            elapsed = now - first_failed
            if (
                isinstance(error, RetryableError)
                and self.backoff.allows(attempt)
                and elapsed < self.max_total
            ):
                pause = dt.timedelta(seconds=self.backoff.pause(attempt))
                await self._postpone(item, attempt, history, pause.total_seconds(), str(error))
                await self._note_retry(event, attempt, error, self._clock.now() + pause)
                return None
            if isinstance(error, RetryableError):
                error = RetryableError(
                    f"gave up after {attempt} attempts in {elapsed.total_seconds():.0f} s: "
                    f"{error.message}",
                    field=error.field,
                )
            return await self._dead_letter(
                Item.held(item), envelope, event, error, history, attempt, started, item.seq
            )

    async def _attempt(
        self,
        envelope: Envelope,
        event: NotificationDelivery,
        attempt: int,
        bsns: Mapping[str, str] | None = None,
    ) -> HubError | None:
        """One delivery attempt; the error it ended in, or None when delivered. ``bsns``:
        the BSNs the fetch's deliveries may carry, read with the fetch (a retry, alone,
        reads its own)."""
        breaker = self.breakers[event.recipient]
        bsn = None
        if event.bsn_permitted and bsns is not None:
            bsn = bsns.get(envelope.subject)
        elif event.bsn_permitted:  # only a re-identifying delivery costs a state look-up
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
        entry: Item,
        history: list[Failure],
        reason: str,
        now: dt.datetime,
        due: dt.datetime,
        *,
        attempts: int = 0,
    ) -> None:
        async with self._sessions.begin() as session:
            await entry.hold(
                session, reason=reason, now=now, due=due, attempts=attempts, errors=history
            )
        metrics.MESSAGES.labels(self.connector.name, "out", Result.QUEUED).inc()

    async def _postpone(
        self,
        item: Held,
        attempts: int,
        history: list[Failure],
        pause_s: float,
        reason: str | None = None,
    ) -> None:
        async with self._sessions.begin() as session:
            await holdback.postpone(
                session,
                item.seq,
                attempts=attempts,
                errors=history,
                reason=item.reason if reason is None else reason,
                next_attempt_at=self._clock.now() + dt.timedelta(seconds=pause_s),
            )

    async def _dead_letter(
        self,
        entry: Item,
        envelope: Envelope,
        event: NotificationDelivery,
        error: HubError,
        history: list[Failure],
        attempts: int,
        started: float,
        queued_seq: int | None = None,
    ) -> Result:
        """Give up on the delivery; it stays in its lane as a stop, so what comes later
        for this client and partner waits until the dead letter is settled."""
        source = Source(
            consumer=self.consumer,
            topic=entry.record.topic,
            partition=-1 if entry.partition is None else entry.partition,
            offset=-1 if entry.offset is None else entry.offset,
            key=entry.record.key,
            headers=entry.record.headers,
            value=entry.record.value,
            recipient=event.recipient,
            subject=envelope.subject,
            event_type=event.source_type,
            correlation_id=envelope.correlationid,
            delivery_id=event.idempotency_key,
        )
        reason = _reason(error) or error.slug

        async def stop_the_lane(session: AsyncSession, letter_id: str) -> None:
            if queued_seq is not None:
                await holdback.stop(session, queued_seq, letter_id, reason)
                return
            now = self._clock.now()
            await entry.hold(
                session,
                reason=reason,
                now=now,
                due=now,
                attempts=attempts,
                errors=history,
                dead_letter_id=letter_id,
            )

        await self._dead_letters.give_up(
            source, error, history, attempts=attempts, along=stop_the_lane
        )
        metrics.DEAD_LETTERS.labels(self.connector.name, error.slug).inc()
        metrics.MESSAGES.labels(self.connector.name, "out", Result.DEAD_LETTERED).inc()
        finish = Finish(Result.DEAD_LETTERED, attempts, _since(started), error)
        await self._finish([(envelope, event, finish)])
        return Result.DEAD_LETTERED

    async def _finish(self, ended: Sequence[tuple[Envelope, NotificationDelivery, Finish]]) -> None:
        """Record ``ended`` in a transaction of its own (:meth:`_record`)."""
        async with self._sessions.begin() as session:
            await receipts.record(session, await self._record(session, ended))
        self._observe(ended)

    def _observe(self, ended: Sequence[tuple[Envelope, NotificationDelivery, Finish]]) -> None:
        for _, _, end in ended:
            metrics.SECONDS.labels(self.connector.name, "out").observe(end.seconds)

    async def _record(
        self, session: AsyncSession, ended: Sequence[tuple[Envelope, NotificationDelivery, Finish]]
    ) -> list[receipts.Receipt]:
        """Claim each delivery, settle its label and take it off its lane, in
        ``session``'s transaction; returns the receipts to write with them. A dead letter
        is not claimed: it stays in its lane as a stop, and a replay that resumes it with
        the same record must still go."""
        await idempotency.claim_all(
            session,
            self.consumer,
            {e.id for e, _, end in ended if end.result is not Result.DEAD_LETTERED},
        )
        written: list[receipts.Receipt] = []
        for envelope, event, end in ended:
            if end.queued_seq is not None:
                await holdback.release(session, end.queued_seq)
                if end.result is Result.DELIVERED:  # a re-send resolves its dead letter
                    await dead_letters.resolve(
                        session, self.consumer, event.idempotency_key, now=self._clock.now()
                    )
            written.append(
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
                )
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
        return written

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


def _event_types(
    connector: OutboundConnector[Any] | type[OutboundConnector[Any]],
) -> frozenset[str]:
    return frozenset(model.event_type() for model in connector.accepts)


def _since(started: float) -> float:
    return time.perf_counter() - started


async def retry_round(runtimes: Sequence[OutboundRuntime]) -> list[Result]:
    """Try the lanes' heads that are due, of every connector in ``runtimes`` (one
    process's, sharing its state store and clock), each lane in order: one query finds
    them all. Returns what became of every delivery that left its lane."""
    if not runtimes:
        return []
    by_consumer = {runtime.consumer: runtime for runtime in runtimes}
    first = runtimes[0]
    async with first._sessions() as session:
        lanes = await holdback.due_lanes(session, by_consumer, first._clock.now())
    by_connector: dict[str, list[Lane]] = {}
    for lane in lanes:
        by_connector.setdefault(lane.consumer, []).append(lane)

    async def drain(consumer: str, theirs: list[Lane]) -> list[Result]:
        results: list[Result] = []
        for lane in theirs:
            results += await by_consumer[consumer]._drain(lane)
        return results

    # Each connector's lanes in turn, the connectors side by side: a slow partner's
    # lanes hold no other partner's.
    drained = await asyncio.gather(*(drain(c, theirs) for c, theirs in by_connector.items()))
    return [result for results in drained for result in results]


async def run_retries(runtimes: Sequence[OutboundRuntime], interval_s: float = 0.5) -> None:
    """The retry loop of a process's outbound connectors, for as long as the hub runs; a
    failed round is retried. One loop for them all: an idle hub asks once a round, and
    less often while nothing is due (:func:`~hub.core.polling.next_pause`)."""
    clock = runtimes[0]._clock
    pause = interval_s
    while True:
        try:
            tried = bool(await retry_round(runtimes))
        except Exception:  # the store may be briefly away; the next round tries again
            log.exception("retry_round_failed", connectors=len(runtimes))
            tried = True
        pause = next_pause(pause, interval_s, busy=tried)
        await clock.sleep(pause)


async def handle_fetch(
    parts: Sequence[tuple[OutboundRuntime, Sequence[Received]]],
) -> list[list[Result]]:
    """Deliver, queue or dead-letter what one fetch brought, for each connector its part
    (of one process, sharing its state store); never raises for a bad record or a failed
    delivery, only when the state store or the bus is away.

    One read for every connector finds what was handled before, which lanes hold
    something and the BSNs; the connectors deliver side by side, each lane in its order;
    then one transaction records every delivery that went out, so a crash before it can
    repeat a delivery once, with the same idempotency key. When one connector fails (the
    state store away), the others' deliveries are still recorded, and then the failure is
    raised so the fetch comes again (what was recorded is not delivered twice)."""
    fetches = [(runtime, await runtime._open(batch)) for runtime, batch in parts]
    live = [(runtime, fetch) for runtime, fetch in fetches if fetch.opened]
    if live:
        async with live[0][0]._sessions() as session:
            paused = await pauses.paused(session)
            for runtime, fetch in live:
                await runtime._plan(session, fetch)
                pause = paused.get(runtime.connector.name)
                fetch.paused = pause.reason if pause else None
    outcomes = await asyncio.gather(
        *(runtime._deliver(fetch) for runtime, fetch in live), return_exceptions=True
    )
    ended = [(runtime, fetch) for runtime, fetch in live if fetch.finished]
    if ended:
        async with ended[0][0]._sessions.begin() as session:
            written = [
                receipt
                for runtime, fetch in ended
                for receipt in await runtime._record(session, fetch.finished)
            ]
            await receipts.record(session, written)
        for runtime, fetch in ended:
            runtime._observe(fetch.finished)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return [fetch.in_order() for _, fetch in fetches]


class DeliveryDispatch:
    """What one fetch of the delivery topics brought, handed to the connectors by topic
    (a topic two connectors share goes to both; each takes its own events) and handled
    as one (:func:`handle_fetch`)."""

    def __init__(self, runtimes: Sequence[OutboundRuntime]):
        self.by_topic: dict[str, list[OutboundRuntime]] = {}
        for runtime in runtimes:
            (topic,) = runtime.connector.topics()
            self.by_topic.setdefault(topic, []).append(runtime)

    async def __call__(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        parts: list[tuple[OutboundRuntime, Sequence[Received]]] = []
        for topic, readers in self.by_topic.items():
            batch = [
                Received(
                    dict(r.headers), r.value or b"", Origin(r.topic, r.partition, r.offset, r.key)
                )
                for r in records
                if r.topic == topic
            ]
            if batch:
                parts += [(runtime, batch) for runtime in readers]
        if parts:
            await handle_fetch(parts)


def deliveries_subscriber(
    runtimes: Sequence[OutboundRuntime], kafka: KafkaSettings, group: str
) -> KafkaRouter:
    """One consumer in ``group`` for the delivery topics of ``runtimes``
    (:class:`DeliveryDispatch`): one consumer for a process's connectors instead of one
    each means fewer fetches per delivery, and an idle hub wakes less often."""
    dispatch = DeliveryDispatch(runtimes)

    async def on_deliveries(message: KafkaMessage) -> None:
        await dispatch(fetched(message))

    names = ", ".join(runtime.connector.name for runtime in runtimes)
    return batch_consumer(
        *dispatch.by_topic,
        group=group,
        kafka=kafka,
        handler=on_deliveries,
        title=group,
        description=f"Delivers to the partners through {names}.",
    )
