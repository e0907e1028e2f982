"""One consumer reads every delivery topic of a process: each fetch is handed to the
connectors by topic, and one connector's failure neither loses the others' work nor is
swallowed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord

from hub.connectors.runtime.outbound import (
    DeliveryDispatch,
    OutboundRuntime,
    Received,
    Result,
    deliveries_group,
)
from hub.core.errors import RetryableError
from hub.core.topics import DELIVERIES_GROUP, outbound_group


class _Connector:
    def __init__(self, name: str, topic: str):
        self.name = name
        self._topic = topic

    def topics(self) -> tuple[str, ...]:
        return (self._topic,)


class _Runtime:
    """Records what it was handed; fails when told to, after the others have started."""

    def __init__(self, name: str, topic: str, *, fails: bool = False):
        self.connector = _Connector(name, topic)
        self.fails = fails
        self.batches: list[list[int]] = []
        self.finished = False

    async def handle_batch(self, batch: Sequence[Received]) -> list[Result]:
        self.batches.append([item.origin.offset for item in batch])
        await asyncio.sleep(0)
        if self.fails:
            raise RetryableError("the state store is away")
        await asyncio.sleep(0.01)
        self.finished = True
        return [Result.DELIVERED for _ in batch]


def _record(topic: str, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"k", b"v", None, 1, 1, [])


def _dispatch(*runtimes: _Runtime) -> DeliveryDispatch:
    return DeliveryDispatch(cast(list[OutboundRuntime], list(runtimes)))


async def test_each_connector_gets_the_records_of_its_topic_in_their_order() -> None:
    llc, pi = _Runtime("llc", "deliveries.llc"), _Runtime("pi", "deliveries.pi")
    subscriptions = _Runtime("politie-abonnementen", "deliveries.politie")
    notices = _Runtime("politie-meldingen", "deliveries.politie")
    fetch = [
        _record("deliveries.llc", 1),
        _record("deliveries.politie", 7),
        _record("deliveries.llc", 2),
        _record("deliveries.politie", 8),
    ]
    await _dispatch(llc, pi, subscriptions, notices)(fetch)
    assert llc.batches == [[1, 2]]
    assert pi.batches == [], "a connector with nothing in the fetch is not called"
    assert subscriptions.batches == notices.batches == [[7, 8]], "a shared topic goes to both"


async def test_one_connector_failing_lets_the_others_finish_and_then_fails_the_fetch() -> None:
    broken, working = _Runtime("llc", "deliveries.llc", fails=True), _Runtime("pi", "d.pi")
    with pytest.raises(RetryableError):
        await _dispatch(broken, working)([_record("deliveries.llc", 1), _record("d.pi", 2)])
    assert working.finished, "the other connector recorded its deliveries before the rewind"


def test_a_connector_alone_keeps_its_own_group_and_several_share_one() -> None:
    alone: Any = [_Runtime("pi-backoffice", "d.pi")]
    assert deliveries_group(alone) == outbound_group("pi-backoffice")
    several: Any = [_Runtime("pi-backoffice", "d.pi"), _Runtime("llc", "d.llc")]
    assert deliveries_group(several) == DELIVERIES_GROUP
    assert not DELIVERIES_GROUP.startswith(outbound_group("")), "no connector's own group"
