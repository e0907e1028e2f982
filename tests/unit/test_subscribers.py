"""The hub's subscribers: a batch is handed over as soon as it is fetched, FastStream
itself stays as it is, and the consume scope counts what every batch did."""

from __future__ import annotations

import hashlib
import inspect
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from faststream.kafka import KafkaBroker, KafkaMessage, KafkaRouter, TestKafkaBroker
from faststream.kafka.subscriber.usecase import BatchSubscriber
from prometheus_client import REGISTRY

from hub.bus.subscribers import ConsumeScope, FetchingBatchSubscriber, batch_consumer, fetched
from hub.settings import KafkaSettings

# FetchingBatchSubscriber.get_msg replaces this method of FastStream 0.7.8. When either
# changes, read the new method and check the override still does all it must.
PINNED_VERSION = "0.7.8"
PINNED_GET_MSG = "0efea2c3"


class Consumer:
    def __init__(self, fetches: list[dict[str, list[str]]]):
        self.fetches = fetches
        self.asked: list[tuple[int, int | None]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int | None) -> dict[str, list[str]]:
        self.asked.append((timeout_ms, max_records))
        return self.fetches.pop(0)


def test_the_override_was_checked_against_this_faststream() -> None:
    source = inspect.getsource(BatchSubscriber.get_msg)
    digest = hashlib.sha256(source.encode()).hexdigest()[:8]
    assert (version("faststream"), digest) == (PINNED_VERSION, PINNED_GET_MSG)


async def test_an_empty_wait_is_followed_by_the_next_wait_not_by_a_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_sleep(*_: Any) -> None:
        raise AssertionError("the consumer slept after an empty wait")

    monkeypatch.setattr(anyio, "sleep", no_sleep)
    consumer = Consumer([{}, {"p0": ["a", "b"], "p1": ["c"]}])
    subscriber: Any = SimpleNamespace(batch_timeout_ms=500, max_records=20)
    assert await FetchingBatchSubscriber.get_msg(subscriber, consumer) == ()
    fetched = await FetchingBatchSubscriber.get_msg(subscriber, consumer)
    assert fetched == ("a", "b", "c")
    assert consumer.asked == [(500, 20), (500, 20)]


def test_only_the_hubs_own_subscribers_take_the_override() -> None:
    async def handler(_: Any) -> None:
        return None

    ours = batch_consumer(
        "t.v1", group="g", kafka=KafkaSettings(), handler=handler, title="t", description="d"
    )
    (subscriber,) = ours.subscribers
    assert type(subscriber) is FetchingBatchSubscriber
    plain = KafkaRouter().subscriber("t.v1", batch=True)
    assert type(plain) is BatchSubscriber
    assert BatchSubscriber.get_msg is not FetchingBatchSubscriber.get_msg


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_consume_scope_counts_records_time_and_failed_batches() -> None:
    records = (SimpleNamespace(topic="t.v1"), SimpleNamespace(topic="t.v1"))
    message: Any = SimpleNamespace(raw_message=records)
    before = (
        _sample("ketenhub_consumer_records_total", group="scope-test"),
        _sample("ketenhub_consumer_seconds_count", group="scope-test"),
        _sample("ketenhub_consumer_failures_total", group="scope-test", error="RuntimeError"),
    )

    async def handled(_: Any) -> str:
        return "done"

    async def failed(_: Any) -> str:
        raise RuntimeError("the store is away")

    scope = ConsumeScope(message, context=None, group="scope-test")
    assert await scope.consume_scope(handled, message) == "done"
    with pytest.raises(RuntimeError):
        await scope.consume_scope(failed, message)
    after = (
        _sample("ketenhub_consumer_records_total", group="scope-test"),
        _sample("ketenhub_consumer_seconds_count", group="scope-test"),
        _sample("ketenhub_consumer_failures_total", group="scope-test", error="RuntimeError"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [4, 2, 1]


async def test_a_record_nested_too_deep_reaches_the_handler_as_bytes() -> None:
    """FastStream decoded every JSON payload before the handler ran: a record nested
    100,000 deep raised RecursionError there, so the fetch came again for ever and the
    router stood still. The hub's consumers take the records undecoded and read each one
    with the hub's codec, which dead-letters what it cannot read."""
    seen: list[tuple[bytes, ...]] = []

    async def handler(message: KafkaMessage) -> None:
        seen.append(tuple(record.value for record in fetched(message)))

    router = batch_consumer(
        "deep.v1", group="g", kafka=KafkaSettings(), handler=handler, title="t", description="d"
    )
    broker = KafkaBroker()
    broker.include_router(router)
    deep = b"[" * 100_000 + b"]" * 100_000
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(deep, "deep.v1", headers={"content-type": "application/json"})
    assert seen == [(deep,)]
