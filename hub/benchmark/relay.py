"""The physical limit: a raw Kafka relay with no logic.

The bench process produces records the size of the hub's to ``bench.relay.in``; a relay
process of its own (``python -m hub.benchmark.relay``, the hub's layout: one process
between the edges) consumes them and produces each to ``bench.relay.out``; the bench
process consumes those and times each record from its produce to its arrival. Same
broker, same partition count, same producer settings as the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from hub.benchmark.latency import LoadResult, at_once, paced
from hub.bus.admin import ensure_topics
from hub.bus.broker import producer_options
from hub.core.polling import wait_for
from hub.core.topics import CANONICAL_PARTITIONS, TopicSpec
from hub.settings import HubSettings, KafkaSettings

SOURCE = TopicSpec("bench.relay.in.v1", CANONICAL_PARTITIONS, 3_600_000, "Relay benchmark in.")
TARGET = TopicSpec("bench.relay.out.v1", CANONICAL_PARTITIONS, 3_600_000, "Relay benchmark out.")
STAMP = "bench-sent-ns"


async def relay(settings: KafkaSettings) -> None:
    """Consume ``SOURCE`` and produce every record to ``TARGET``; the offsets are
    committed after the batch is acknowledged, as the hub does (at-least-once)."""
    consumer = AIOKafkaConsumer(
        SOURCE.name,
        bootstrap_servers=settings.bootstrap_servers,
        group_id="bench-relay",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        enable_auto_commit=False,
        auto_offset_reset="latest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, **producer_options(settings)
    )
    await producer.start()
    await consumer.start()
    print("ready", flush=True)
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            sent = [
                await producer.send(TARGET.name, r.value, key=r.key, headers=list(r.headers))
                for records in batches.values()
                for r in records
            ]
            if sent:
                await asyncio.gather(*sent)
                await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


@contextlib.asynccontextmanager
async def relay_process(settings: KafkaSettings) -> AsyncIterator[None]:
    """The relay in a process of its own, ready when this yields."""
    await ensure_topics(settings, [SOURCE, TARGET])
    env = {
        **os.environ,
        "HUB_KAFKA__BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "HUB_KAFKA__FETCH_MAX_WAIT_MS": str(settings.fetch_max_wait_ms),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.benchmark.relay",
        env=env,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(60):
            line = await process.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError("the relay process did not start")
        yield
    finally:
        process.terminate()
        await process.wait()


class RelayBench:
    """Drives the relay and collects what comes out of it."""

    def __init__(self, settings: KafkaSettings, record_bytes: int):
        self._settings = settings
        self._payload = os.urandom(record_bytes)
        self._arrivals: dict[str, float] = {}
        self._sent: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RelayBench]:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.bootstrap_servers,
            **producer_options(self._settings),
        )
        # The sink reads every partition without a consumer group: no join to wait for.
        sink = AIOKafkaConsumer(
            bootstrap_servers=self._settings.bootstrap_servers,
            fetch_max_wait_ms=self._settings.fetch_max_wait_ms,
        )
        await producer.start()
        await sink.start()
        self._producer = producer
        collecting: asyncio.Task[None] | None = None
        try:
            async with relay_process(self._settings):
                sink.assign([TopicPartition(TARGET.name, p) for p in range(TARGET.partitions)])
                await sink.seek_to_end()
                collecting = asyncio.create_task(self._collect(sink))
                await self._warm_up()
                yield self
        finally:
            if collecting is not None:
                collecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await collecting
            await sink.stop()
            await producer.stop()

    async def _collect(self, sink: AIOKafkaConsumer) -> None:
        while True:
            batches = await sink.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    self._arrivals[(record.key or b"").decode()] = now

    async def _send(self, key: str) -> None:
        self._sent[key] = time.perf_counter()
        await self._producer.send(SOURCE.name, self._payload, key=key.encode())

    async def _warm_up(self) -> None:
        """Until a record makes the round trip: the consumers have joined their groups."""
        async with asyncio.timeout(60):
            while not self._arrivals:
                await self._send(f"warm-{uuid.uuid4().hex}")
                await asyncio.sleep(0.5)

    async def measure(self, name: str, count: int, rate_per_s: float | None) -> LoadResult:
        run = uuid.uuid4().hex[:8]
        keys = [f"{run}-{n}" for n in range(count)]
        started = time.perf_counter()
        if rate_per_s is None:
            await at_once(count, lambda n: self._send(keys[n]), in_flight=64)
        else:
            await paced(rate_per_s, count, lambda n: self._send(keys[n]))
        await self._producer.flush()
        with contextlib.suppress(TimeoutError):
            await wait_for(lambda: all(k in self._arrivals for k in keys), max(30.0, count / 200))
        return LoadResult.of(name, rate_per_s, keys, self._sent, self._arrivals, started)


if __name__ == "__main__":
    asyncio.run(relay(HubSettings().kafka))
