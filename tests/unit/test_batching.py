"""The batch consumer takes a record as soon as it is fetched, and never sleeps after an
empty wait (a record arriving in such a sleep would wait it out)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from faststream.kafka.subscriber.usecase import BatchSubscriber

from hub.bus.batching import wake_on_fetch


class Consumer:
    def __init__(self, fetches: list[dict[str, list[str]]]):
        self.fetches = fetches
        self.asked: list[tuple[int, int | None]] = []

    async def getmany(self, *, timeout_ms: int, max_records: int | None) -> dict[str, list[str]]:
        self.asked.append((timeout_ms, max_records))
        return self.fetches.pop(0)


class Subscriber:
    batch_timeout_ms = 500
    max_records = 20


async def test_an_empty_wait_is_followed_by_the_next_wait_not_by_a_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_sleep(*_: Any) -> None:
        raise AssertionError("the consumer slept after an empty wait")

    monkeypatch.setattr(anyio, "sleep", no_sleep)
    wake_on_fetch()
    consumer = Consumer([{}, {"p0": ["a", "b"], "p1": ["c"]}])
    subscriber: Any = Subscriber()
    assert await BatchSubscriber.get_msg(subscriber, consumer) == ()
    fetched = await BatchSubscriber.get_msg(subscriber, consumer)
    assert fetched == ("a", "b", "c")
    assert consumer.asked == [(500, 20), (500, 20)]
