"""The I/O floor: one intake's I/O and nothing else, on the fastest Python stack measured
on this machine, run beside the hub in the same ``hub bench`` (issue 24).

One intake of flow A does this much I/O in the hub, and the floor does exactly this:

- a signed webhook in, verified (the hub's own Standard Webhooks check) and answered 202
  once its record is on the bus: **1 produce**;
- a routing stage: **1 consume**, **1 look-up** call to a partner, **4 produces** (one per
  recipient's delivery topic) and **a write transaction**;
- a delivery stage: **4 consumes**, **4 delivery calls** and **a write transaction** of
  receipts.

The stack: uvloop; aiohttp's server for the webhook (a bare httptools protocol saves
0.05 ms of CPU a request, about 1 % of the floor, and is no server anyone would run);
aiohttp's client for the partner calls; aiokafka consumers that take a fetch as one
batch (``getmany``, the hub's batch size, fetch wait and batch wait); one
``executemany`` transaction per batch per stage, in sqlite3 on the event loop with the
hub's pragmas (aiosqlite costs 0.1 to 0.15 ms more a transaction, in its thread
hand-offs), or, for ``hub bench --store postgres``, in asyncpg, the hub's PostgreSQL
driver.

The floor runs as a process of its own (``python -m hub.benchmark.floor``) so that its
CPU is read from /proc as the hub's is. Its partners are small aiohttp handlers in the
bench process (:class:`FloorBench`), whose CPU is not counted, as the simulators' is not
for the hub.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import asyncpg
import httpx
import uvloop
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from hub.benchmark.latency import LoadResult, at_once, paced
from hub.benchmark.processes import cpu_seconds
from hub.bus.admin import ensure_topics
from hub.bus.broker import producer_options
from hub.connectors.runtime.signing import key, new_secret, precheck, signed_headers, verify
from hub.core.errors import AuthenticationError
from hub.core.polling import wait_for
from hub.core.topics import CANONICAL_PARTITIONS, TopicSpec
from hub.settings import HubSettings, KafkaSettings

RECIPIENTS = ("llc", "pi", "gemeente", "zvh")
"""Flow A's four recipients: the levensloopcoördinator, the PI, the gemeente, the ZVH."""
INTAKES = TopicSpec(
    "bench.floor.intakes.v1", CANONICAL_PARTITIONS, 3_600_000, "Floor benchmark: intakes."
)
DELIVERIES = {
    recipient: TopicSpec(
        f"bench.floor.deliveries.{recipient}.v1",
        CANONICAL_PARTITIONS,
        3_600_000,
        f"Floor benchmark: deliveries to {recipient}.",
    )
    for recipient in RECIPIENTS
}
TOPICS = (INTAKES, *DELIVERIES.values())
WEBHOOK = "/webhook"
SECRET_VARIABLE = "HUB_BENCH_FLOOR_SECRET"  # noqa: S105 - the variable's name, not a secret
WINDOW_S = 300
"""The webhook signature's replay window, the hub's default."""
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS routed (intake TEXT PRIMARY KEY, lookup BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS receipts (intake TEXT NOT NULL, recipient TEXT NOT NULL, "
    "status INTEGER NOT NULL, PRIMARY KEY (intake, recipient))",
)
Record = Any
"""An aiokafka ConsumerRecord (aiokafka ships no types)."""


Row = tuple[str | bytes | int, ...]


class FloorStore(Protocol):
    """Where the floor writes a batch: one ``executemany`` transaction."""

    async def routed(self, rows: Sequence[Row]) -> None: ...
    async def receipts(self, rows: Sequence[Row]) -> None: ...
    async def close(self) -> None: ...


class SqliteStore:
    """sqlite3 on the event loop, with the pragmas the hub gives SQLite (WAL,
    synchronous=NORMAL)."""

    def __init__(self, path: Path) -> None:
        self._database = sqlite3.connect(path)
        self._database.execute("PRAGMA journal_mode=WAL")
        self._database.execute("PRAGMA synchronous=NORMAL")
        self._database.execute("PRAGMA busy_timeout=5000")
        for statement in SCHEMA:
            self._database.execute(statement)
        self._database.commit()

    async def routed(self, rows: Sequence[Row]) -> None:
        with self._database:
            self._database.executemany("INSERT OR IGNORE INTO routed VALUES (?, ?)", rows)

    async def receipts(self, rows: Sequence[Row]) -> None:
        with self._database:
            self._database.executemany("INSERT OR IGNORE INTO receipts VALUES (?, ?, ?)", rows)

    async def close(self) -> None:
        self._database.close()


class PostgresStore:
    """asyncpg, the hub's PostgreSQL driver: the production store's floor (``hub bench
    --store postgres``). A connection for each of the two stages, which write at the
    same time."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PostgresStore:
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=2)
        for statement in SCHEMA:
            await pool.execute(statement.replace("BLOB", "BYTEA"))
        return cls(pool)

    async def routed(self, rows: Sequence[Row]) -> None:
        await self._write("INSERT INTO routed VALUES ($1, $2) ON CONFLICT DO NOTHING", rows)

    async def receipts(self, rows: Sequence[Row]) -> None:
        await self._write("INSERT INTO receipts VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", rows)

    async def _write(self, statement: str, rows: Sequence[Row]) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.executemany(statement, rows)

    async def close(self) -> None:
        await self._pool.close()


async def open_store(database: str) -> FloorStore:
    """A SQLite file, or a PostgreSQL database given by its URL (SQLAlchemy's or
    libpq's)."""
    if database.startswith("postgresql"):
        return await PostgresStore.open(database.replace("postgresql+asyncpg:", "postgresql:", 1))
    return SqliteStore(Path(database))


def consumer(*topics: str, group: str, kafka: KafkaSettings) -> AIOKafkaConsumer:
    """A consumer configured as the hub's batch consumers are."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
    )


async def fetch(source: AIOKafkaConsumer, kafka: KafkaSettings) -> list[Record]:
    """One fetch, as one batch of at most the hub's batch size."""
    batches = await source.getmany(
        timeout_ms=kafka.batch_wait_ms, max_records=kafka.batch_max_records
    )
    return [record for records in batches.values() for record in records]


class Floor:
    """The three steps of an intake's I/O; no logic between them."""

    def __init__(
        self,
        kafka: KafkaSettings,
        producer: AIOKafkaProducer,
        http: aiohttp.ClientSession,
        store: FloorStore,
        partners: str,
        secret: bytes,
        record_bytes: int,
    ):
        self._kafka = kafka
        self._producer = producer
        self._http = http
        self._store = store
        self._partners = partners
        self._secret = secret
        self._record_bytes = record_bytes
        self._recipient = {spec.name: recipient for recipient, spec in DELIVERIES.items()}

    async def webhook(self, request: web.Request) -> web.Response:
        """Verify the signature, put the intake on the bus, answer 202 once it is there."""
        try:
            claim = precheck(request.headers, window_s=WINDOW_S)
            body = await request.read()
            verify(self._secret, body, claim)
        except AuthenticationError:
            return web.Response(status=401)
        # The record is the size of the hub's detention records, as the relay's are.
        value = body.ljust(self._record_bytes, b" ")
        await self._producer.send_and_wait(INTAKES.name, value, key=claim.message_id.encode())
        return web.Response(status=202)

    async def route(self, source: AIOKafkaConsumer) -> None:
        """Per batch: the look-ups at once, one transaction, four produces per intake
        acknowledged together, then the offsets."""
        while True:
            records = await fetch(source, self._kafka)
            if not records:
                continue
            answers = await asyncio.gather(*(self._look_up(r.key) for r in records))
            await self._store.routed(
                [(r.key.decode(), answer) for r, answer in zip(records, answers, strict=True)]
            )
            acknowledgements = [
                await self._producer.send(spec.name, r.value, key=r.key)
                for r in records
                for spec in DELIVERIES.values()
            ]
            await asyncio.gather(*acknowledgements)
            await source.commit()

    async def deliver(self, source: AIOKafkaConsumer) -> None:
        """Per batch: the deliveries at once, one transaction of receipts, the offsets."""
        while True:
            records = await fetch(source, self._kafka)
            if not records:
                continue
            statuses = await asyncio.gather(*(self._deliver(r) for r in records))
            await self._store.receipts(
                [
                    (r.key.decode(), self._recipient[r.topic], status)
                    for r, status in zip(records, statuses, strict=True)
                ]
            )
            await source.commit()

    async def _look_up(self, intake: bytes) -> bytes:
        async with self._http.get(f"{self._partners}/lookups/{intake.decode()}") as answer:
            answer.raise_for_status()
            return await answer.read()

    async def _deliver(self, record: Record) -> int:
        async with self._http.post(
            f"{self._partners}/deliveries/{self._recipient[record.topic]}",
            data=record.value,
            headers={"idempotency-key": record.key.decode()},
        ) as answer:
            answer.raise_for_status()
            await answer.read()
            return answer.status


async def serve(
    kafka: KafkaSettings, partners: str, database: str, secret: str, record_bytes: int
) -> None:
    """Run the floor until the process is stopped; prints ``ready <port>`` when the
    webhook listens and both consumers have started."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, **producer_options(kafka)
    )
    router = consumer(INTAKES.name, group="bench-floor-router", kafka=kafka)
    deliveries = consumer(
        *(spec.name for spec in DELIVERIES.values()), group="bench-floor-deliveries", kafka=kafka
    )
    store = await open_store(database)
    # The two groups join side by side: each join takes seconds on tansu.
    await asyncio.gather(producer.start(), router.start(), deliveries.start())
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        floor = Floor(kafka, producer, http, store, partners, key(secret), record_bytes)
        app = web.Application()
        app.router.add_post(WEBHOOK, floor.webhook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            print(f"ready {port}", flush=True)
            async with asyncio.TaskGroup() as stages:
                stages.create_task(floor.route(router))
                stages.create_task(floor.deliver(deliveries))
        finally:
            await runner.cleanup()
            await deliveries.stop()
            await router.stop()
            await producer.stop()
            await store.close()


@dataclass
class _Partners:
    """The floor's partners, in the bench process: a look-up that answers at once, and
    four recipients that note when each intake has reached all four."""

    sent: dict[str, float]
    arrived: dict[str, float]
    reached: dict[str, set[str]]
    look_ups: int = 0

    async def look_up(self, request: web.Request) -> web.Response:
        self.look_ups += 1
        return web.json_response({"casusregisseur": "C. Regisseur", "gemeente": "GM0363"})

    async def receive(self, request: web.Request) -> web.Response:
        await request.read()
        intake = request.headers["idempotency-key"]
        reached = self.reached.setdefault(intake, set())
        reached.add(request.match_info["recipient"])
        if len(reached) == len(RECIPIENTS):
            self.arrived.setdefault(intake, time.perf_counter())
        return web.Response(status=200)


class FloorBench:
    """Starts the floor and its partners, sends it signed intakes (with the same sender
    as the hub's) and times each intake until all four of its deliveries arrived."""

    def __init__(
        self,
        kafka: KafkaSettings,
        directory: Path,
        record_bytes: int,
        body: bytes,
        *,
        database: str | None = None,
    ):
        """``database``: a PostgreSQL URL for the floor of the production store;
        ``floor.db`` in ``directory`` unless given."""
        self._kafka = kafka
        self._database = database or str(directory / "floor.db")
        self._record_bytes = record_bytes
        self._body = body
        self._secret = new_secret()
        self._partners = _Partners(sent={}, arrived={}, reached={})
        self._process: asyncio.subprocess.Process | None = None
        self._url = ""

    @property
    def look_ups(self) -> int:
        """Look-up calls the partners answered, over every run."""
        return self._partners.look_ups

    def reached(self, intake: str) -> set[str]:
        """The recipients that have ``intake``'s delivery; raises when the floor process
        has stopped, so that a wait for deliveries ends at once."""
        self._raise_if_stopped()
        return self._partners.reached.get(intake, set())

    def _all_arrived(self, intakes: Sequence[str]) -> bool:
        self._raise_if_stopped()
        return all(intake in self._partners.arrived for intake in intakes)

    def _raise_if_stopped(self) -> None:
        if self._process is not None and self._process.returncode is not None:
            raise RuntimeError(
                f"the floor process stopped ({self._process.returncode}); see its stderr"
            )

    def cpu_seconds(self) -> float:
        """The CPU time the floor's process has used (user and system)."""
        assert self._process is not None, "the floor is not running"
        return cpu_seconds(self._process.pid)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FloorBench]:
        await ensure_topics(self._kafka, TOPICS)
        app = web.Application()
        app.router.add_get("/lookups/{intake}", self._partners.look_up)
        app.router.add_post("/deliveries/{recipient}", self._partners.receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            partners = f"http://127.0.0.1:{runner.addresses[0][1]}"
            async with self._floor_process(partners):
                yield self
        finally:
            await runner.cleanup()

    @contextlib.asynccontextmanager
    async def _floor_process(self, partners: str) -> AsyncIterator[None]:
        shared = (
            "bootstrap_servers",
            "fetch_max_wait_ms",
            "batch_max_records",
            "batch_wait_ms",
            "session_timeout_ms",
            "heartbeat_interval_ms",
        )
        env = {
            **os.environ,
            **{f"HUB_KAFKA__{name.upper()}": str(getattr(self._kafka, name)) for name in shared},
            SECRET_VARIABLE: self._secret,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "hub.benchmark.floor",
            "--partners",
            partners,
            "--database",
            self._database,
            "--record-bytes",
            str(self._record_bytes),
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            async with asyncio.timeout(60):
                line = (await process.stdout.readline()).decode().split()
            if len(line) != 2 or line[0] != "ready":
                raise RuntimeError("the floor process did not start")
            self._url = f"http://127.0.0.1:{line[1]}"
            self._process = process
            yield
        finally:
            self._process = None
            if process.returncode is None:
                process.terminate()
            await process.wait()

    async def post(self, intake: str, *, secret: str | None = None) -> int:
        """One intake, signed (with ``secret`` instead of the floor's: a forgery); the
        webhook's status."""
        async with httpx.AsyncClient(base_url=self._url, timeout=60) as http:
            return await self._post(http, intake, secret or self._secret)

    async def _post(self, http: httpx.AsyncClient, intake: str, secret: str) -> int:
        headers = signed_headers(secret, self._body, message_id=intake)
        answer = await http.post(WEBHOOK, content=self._body, headers=headers)
        return answer.status_code

    async def measure(
        self, name: str, count: int, rate_per_s: float | None, *, in_flight: int = 32
    ) -> LoadResult:
        """``count`` intakes, at once through ``in_flight`` senders or paced; the wait for
        their deliveries is bounded, and what never arrived is reported as missing."""
        run = uuid.uuid4().hex[:8]
        keys = [f"floor_{run}_{n}" for n in range(count)]
        sent = self._partners.sent
        refused: list[int] = []
        async with httpx.AsyncClient(base_url=self._url, timeout=60) as http:

            async def send(index: int) -> None:
                sent[keys[index]] = time.perf_counter()
                status = await self._post(http, keys[index], self._secret)
                if status != 202:
                    refused.append(status)

            started = time.perf_counter()
            if rate_per_s is None:
                await at_once(count, send, in_flight=in_flight)
            else:
                await paced(rate_per_s, count, send)
        if refused:
            raise RuntimeError(f"the floor refused {len(refused)} intakes: {sorted(set(refused))}")
        with contextlib.suppress(TimeoutError):
            await wait_for(lambda: self._all_arrived(keys), max(30.0, count / 20))
        gave_up = time.perf_counter()
        arrived = self._partners.arrived
        return LoadResult.of(name, rate_per_s, keys, sent, arrived, started, gave_up=gave_up)


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m hub.benchmark.floor")
    parser.add_argument("--partners", required=True, help="Base URL of the partners.")
    parser.add_argument(
        "--database", required=True, help="A SQLite file, or a PostgreSQL database's URL."
    )
    parser.add_argument("--record-bytes", required=True, type=int, help="Size of a record.")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = _arguments(sys.argv[1:])
    uvloop.run(
        serve(
            HubSettings().kafka,
            arguments.partners,
            arguments.database,
            os.environ[SECRET_VARIABLE],
            arguments.record_bytes,
        )
    )
