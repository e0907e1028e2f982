"""Every consumer of the hub is built here: one batch subscriber per consumer group,
with the settings they share and the middleware that does their cross-cutting work.

Two things FastStream leaves to its user are done once, here:

- **Taking a fetch the moment it arrives.** FastStream's ``BatchSubscriber`` waits up
  to ``batch_timeout_ms`` for records and, when none came, then sleeps as long again.
  A record that arrives in that sleep waits it out, so the wait had to be short, and a
  short wait wakes every idle consumer many times a second. :class:`FetchingBatchSubscriber`
  ends the wait when a fetch brings records and does not sleep after an empty one, so
  the wait can be long at no cost in latency. It is a subclass given to our own
  subscribers only; FastStream itself is not changed.
  ``tests/unit/test_subscribers.py`` pins the FastStream method it replaces.
- **The consume scope** (:class:`ConsumeScope`): for each fetched batch, the consumer
  group in the log context, a ``consume <group>`` span, the batch's time and records in
  Prometheus, and a count of the batches a handler failed (each is redelivered; a
  record that keeps failing is a poison record and shows here first).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from itertools import chain
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord
from faststream import BaseMiddleware
from faststream.kafka import KafkaMessage, KafkaRouter
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy

from hub import tracing
from hub.metrics import CONSUMER_FAILURES, CONSUMER_RECORDS, CONSUMER_SECONDS
from hub.settings import KafkaSettings

Records = tuple[ConsumerRecord[bytes, bytes], ...]
Handler = Callable[[KafkaMessage], Awaitable[None]]


class FetchingBatchSubscriber(BatchSubscriber):
    """A batch subscriber that hands over what one fetch brought, as soon as it came."""

    __slots__ = ()

    async def get_msg(self, consumer: AIOKafkaConsumer) -> tuple[Any, ...]:
        fetched = await consumer.getmany(
            timeout_ms=self.batch_timeout_ms, max_records=self.max_records
        )
        return tuple(chain.from_iterable(fetched.values()))


class ConsumeScope(BaseMiddleware):
    """The cross-cutting work around one fetched batch of one consumer group."""

    def __init__(self, msg: Any, /, *, context: Any, group: str) -> None:
        super().__init__(msg, context=context)
        self.group = group

    async def consume_scope(
        self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        raw = msg.raw_message
        records = tuple(raw) if isinstance(raw, tuple | list) else (raw,)
        topic = records[0].topic if records else ""
        CONSUMER_RECORDS.labels(self.group).inc(len(records))
        started = time.perf_counter()
        with (
            structlog.contextvars.bound_contextvars(consumer=self.group),
            tracing.span(f"consume {self.group}", topic=topic, records=len(records)),
        ):
            try:
                return await call_next(msg)
            except Exception as exc:
                CONSUMER_FAILURES.labels(self.group, type(exc).__name__).inc()
                raise
            finally:
                CONSUMER_SECONDS.labels(self.group).observe(time.perf_counter() - started)


async def undecoded(message: StreamMessage[Any]) -> Any:
    """The records stay bytes: the hub's codec reads each one (bounded, sealed, with a
    dead letter for what it cannot read). FastStream's own JSON decoding would parse every
    payload a second time, and a record nested too deep raised RecursionError there, before
    the hub's handler ran: the fetch came again for ever and the consumer stood still."""
    return message.body


def batch_consumer(
    *topics: str,
    group: str,
    kafka: KafkaSettings,
    handler: Handler,
    title: str,
    description: str,
) -> KafkaRouter:
    """The consumer group ``group`` on ``topics``: ``handler`` gets each fetch (at most
    ``kafka.batch_max_records``), its offsets committed only when it returns."""
    router = KafkaRouter(middlewares=(partial(ConsumeScope, group=group),))
    subscriber = router.subscriber(
        *topics,
        group_id=group,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        batch=True,
        decoder=undecoded,
        max_records=kafka.batch_max_records,
        batch_timeout_ms=kafka.batch_wait_ms,
        title=title,
        description=description,
        auto_offset_reset="earliest",
        session_timeout_ms=kafka.session_timeout_ms,
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
    )
    subscriber.__class__ = FetchingBatchSubscriber
    subscriber(handler)
    return router


def fetched(message: KafkaMessage) -> Records:
    """The records of one fetch, as the batch subscriber hands them over."""
    raw: Records = message.raw_message
    return raw
