"""The hub's pipeline under load: signed Injus webhooks in, through the inbound
connector, the router (KEDO look-up against its simulator, the policy, the audit) and
the outbound connectors, to the LLC's FHIR endpoint, timed from the POST to the LLC's
receipt of the Communication.

The hub is ``hub run`` in a process of its own; the partner simulators and the sender
are in the bench process, as the relay's producer and sink are.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from hub.benchmark.latency import LoadResult, at_once, paced
from hub.benchmark.processes import cpu_seconds, peak_rss_mb
from hub.bus.admin import consumer_lag
from hub.bus.embedded import free_port
from hub.connectors.runtime.signing import signed_headers
from hub.core.polling import wait_for
from hub.core.topics import (
    DELIVERIES_GROUP,
    DELIVERY_TOPICS,
    ROUTED_TOPICS,
    ROUTER_GROUP,
    TopicSpec,
)
from hub.settings import KafkaSettings
from hub.simulators.population import SYNTHETIC_PREFIX
from hub.simulators.runner import SimulatorSet
from hub.simulators.server import SendCommand, injus_xml

HUB = str(Path(sys.executable).with_name("hub"))
FLOW_A = (
    "injus-detentie",
    "kedo-regie",
    "llc-communication",
    "pi-backoffice",
    "gemeente-casusregisseur",
    "zvh-notifications",
)
"""The connectors of flow A: the detention in, the look-up, and its four recipients."""
DRAIN_WAIT_S = 120.0
"""The longest the bench waits for the hub to finish a run's deliveries."""
_BSN = re.compile(rf"\b{SYNTHETIC_PREFIX}\d{{7}}\b")


class HubUnderTest:
    """``hub run`` on the bench's broker and database, its partners simulated."""

    def __init__(
        self,
        directory: Path,
        kafka: KafkaSettings,
        sims: SimulatorSet,
        port: int,
        database_url: str | None = None,
    ):
        """``database_url``: the hub's store; a SQLite file in ``directory`` unless given."""
        self.directory = directory
        self.database_url = database_url or f"sqlite+aiosqlite:///{directory / 'hub.db'}"
        self._kafka = kafka
        self._sims = sims
        self.port = port
        self.pseudonym_key = secrets.token_hex(32)
        self._master_key = secrets.token_hex(32)
        self.processes: list[asyncio.subprocess.Process] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        connectors = {n: c for n, c in self._sims.connectors().items() if n in FLOW_A}
        # The bench measures the pipeline, not the webhook limits (per partner, and per
        # address before the signature: every intake comes from 127.0.0.1).
        connectors["injus-detentie"] |= {"rate_per_s": 100_000, "burst": 100_000}
        connectors["injus-detentie"] |= {"max_in_flight": 1024}
        return {
            **os.environ,
            "HUB_HTTP__WEBHOOK_SOURCE_RATE_PER_S": "100000",
            "HUB_HTTP__WEBHOOK_SOURCE_BURST": "100000",
            "HUB_HTTP__WEBHOOK_SOURCE_MAX_IN_FLIGHT": "1024",
            "HUB_HTTP__WEBHOOK_MAX_UNAUTHENTICATED": "1024",
            "HUB_DATA_DIR": str(self.directory),
            "HUB_DATABASE__URL": self.database_url,
            "HUB_KAFKA__BOOTSTRAP_SERVERS": self._kafka.bootstrap_servers,
            "HUB_KAFKA__FETCH_MAX_WAIT_MS": str(self._kafka.fetch_max_wait_ms),
            "HUB_KAFKA__IDEMPOTENT_PRODUCER": str(self._kafka.idempotent_producer).lower(),
            "HUB_KAFKA__REPLICATION_FACTOR": str(self._kafka.replication_factor),
            "HUB_HTTP__PORT": str(self.port),
            "HUB_PSEUDONYM__KEY": self.pseudonym_key,
            "HUB_CRYPTO__KEY": self._master_key,
            "HUB_CONNECTORS": json.dumps(connectors),
            "HUB_LOG__FORMAT": "json",
            "HUB_LOG__LEVEL": "WARNING",
        }

    async def upgrade(self) -> None:
        process = await asyncio.create_subprocess_exec(
            HUB, "db", "upgrade", env=self.env(), stdout=subprocess.DEVNULL
        )
        if await process.wait() != 0:
            raise RuntimeError("hub db upgrade failed")

    @contextlib.asynccontextmanager
    async def running(self, *, apart: bool = False) -> AsyncIterator[HubUnderTest]:
        """``hub run`` as one process; or, ``apart``, as the production layout runs it:
        the router in a process of its own beside the connectors (``--component``)."""
        layout = (
            [
                ("router", ["--component", "router"], free_port()),
                ("connectors", ["--component", "connectors"], self.port),
            ]
            if apart
            else [("hub", [], self.port)]
        )
        with contextlib.ExitStack() as logs:
            self.processes = []
            try:
                for name, args, port in layout:
                    log = logs.enter_context((self.directory / f"{name}.log").open("ab"))
                    self.processes.append(
                        await asyncio.create_subprocess_exec(
                            HUB,
                            "run",
                            *args,
                            env={**self.env(), "HUB_HTTP__PORT": str(port)},
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
                await asyncio.gather(
                    *(
                        self._ready(process, port)
                        for process, (_, _, port) in zip(self.processes, layout, strict=True)
                    )
                )
                yield self
            finally:
                for process in self.processes:
                    await _stop(process)
                self.processes = []

    async def _ready(self, process: asyncio.subprocess.Process, port: int) -> None:
        async with httpx.AsyncClient(timeout=2) as http, asyncio.timeout(90):
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"the hub stopped; see the logs in {self.directory}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)

    async def drained(self, timeout_s: float = DRAIN_WAIT_S) -> None:
        """Wait until the hub has handled everything on its topics: its router and its
        connectors have committed every record (each delivery made, or held back). The
        LLC is only one of flow A's four recipients; an intake's cost ends with the last."""
        groups = {
            ROUTER_GROUP: tuple(t.name for t in ROUTED_TOPICS),
            DELIVERIES_GROUP: tuple(t.name for t in DELIVERY_TOPICS.values()),
        }
        async with asyncio.timeout(timeout_s):
            while any((await consumer_lag(self._kafka, groups)).values()):  # noqa: ASYNC110 (the broker holds the state)
                await asyncio.sleep(0.2)

    def cpu_seconds(self) -> float:
        """The CPU time the hub's processes have used (user and system)."""
        return sum(cpu_seconds(process.pid) for process in self.processes)

    def peak_rss_mb(self) -> float:
        """The hub process's peak resident set (VmHWM), in MB."""
        (process,) = self.processes
        return peak_rss_mb(process.pid)


class PipelineBench:
    """Sends intakes to the hub and times each one until the LLC has it."""

    def __init__(self, hub: HubUnderTest, sims: SimulatorSet, bsns: list[str]):
        self._hub = hub
        self._sims = sims
        self._bsns = iter(bsns)
        self._secret = sims.secrets["injus-detentie"]
        self._seen = 0
        self._arrivals: dict[str, float] = {}
        self.resent = 0
        """Intakes the hub asked to have sent again (503 or 429), over every run."""

    def _collect(self) -> None:
        received = self._sims.state("llc").received
        for item in received[self._seen :]:
            found = _BSN.search(json.dumps(item["body"]))
            if found is not None:
                at = dt.datetime.fromisoformat(item["received_at"]).timestamp()
                self._arrivals.setdefault(found.group(0), at)
        self._seen = len(received)

    async def measure(
        self,
        name: str,
        count: int,
        rate_per_s: float | None,
        *,
        in_flight: int = 32,
        wait_s: float | None = None,
    ) -> LoadResult:
        """``count`` intakes, at once through ``in_flight`` senders or paced at
        ``rate_per_s``; then a wait for the LLC to have them, of at most ``wait_s`` (by
        default one second for every four intakes, and a minute at least). What has not
        arrived by then counts as arriving then (``LoadResult.of``)."""
        bsns = [next(self._bsns) for _ in range(count)]
        sent: dict[str, float] = {}
        refused: list[int] = []
        async with httpx.AsyncClient(base_url=self._hub.url, timeout=60) as http:

            async def send(index: int) -> None:
                """As a partner sends: again, signed anew, after a 503 or a 429."""
                bsn = bsns[index]
                command = SendCommand(kind="START", bsn=bsn, event_id=f"BENCH-{uuid.uuid4().hex}")
                body = injus_xml(command)
                sent[bsn] = time.time()
                while True:
                    headers = {
                        **signed_headers(self._secret, body),
                        "Content-Type": "application/xml",
                    }
                    answer = await http.post(
                        "/connectors/injus-detentie/messages", content=body, headers=headers
                    )
                    if answer.status_code not in (429, 503):
                        break
                    self.resent += 1
                    await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
                if answer.status_code >= 300:
                    refused.append(answer.status_code)

            started = time.time()
            if rate_per_s is None:
                await at_once(count, send, in_flight=in_flight)
            else:
                await paced(rate_per_s, count, send)

        def complete() -> bool:
            self._collect()
            return all(b in self._arrivals for b in bsns)

        with contextlib.suppress(TimeoutError):
            await wait_for(complete, max(60.0, count / 4) if wait_s is None else wait_s)
        gave_up = time.time()
        if refused:
            raise RuntimeError(f"the hub refused {len(refused)} intakes: {sorted(set(refused))}")
        return LoadResult.of(name, rate_per_s, bsns, sent, self._arrivals, started, gave_up=gave_up)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        async with asyncio.timeout(20):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()


async def mean_record_bytes(kafka: KafkaSettings, topic: TopicSpec, *, at_least: int) -> int:
    """The mean size of the records on ``topic`` (key, headers and value): the relay
    carries records of that size. Its partitions are read without a consumer group, whose
    join would take seconds on tansu."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    sizes: list[int] = []
    try:
        consumer.assign([TopicPartition(topic.name, p) for p in range(topic.partitions)])
        await consumer.seek_to_beginning()
        async with asyncio.timeout(30):
            while len(sizes) < at_least:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    sizes.extend(
                        len(r.key or b"")
                        + len(r.value or b"")
                        + sum(len(k) + len(v) for k, v in r.headers)
                        for r in records
                    )
    finally:
        await consumer.stop()
    return round(sum(sizes) / len(sizes))


@contextlib.asynccontextmanager
async def hub_with_partners(
    directory: Path, kafka: KafkaSettings, database_url: str | None = None
) -> AsyncIterator[tuple[HubUnderTest, SimulatorSet]]:
    port = free_port()
    sims = SimulatorSet(hub_url=f"http://127.0.0.1:{port}")
    await sims.start()
    try:
        yield HubUnderTest(directory, kafka, sims, port, database_url), sims
    finally:
        await sims.stop()
