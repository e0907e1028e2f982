"""What the chaos tests share: `hub run` processes on an embedded broker of their own,
the partner simulators in the test process, a driver that sends each synthetic client's
messages in order (re-sending, signed anew, whatever the hub did not accept), and the
accounts: what was sent, decided and received, lost and doubled."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from hub.bus.admin import ensure_topics
from hub.bus.apache_kafka import ApacheKafka
from hub.bus.embedded import EmbeddedKafka, free_port
from hub.connectors.runtime.signing import signed_headers
from hub.core.topics import ALL_TOPICS
from hub.settings import KafkaSettings
from hub.simulators.population import inclusion, person
from hub.simulators.runner import SimulatorSet
from hub.simulators.server import SendCommand, injus_xml
from hub.state.database import make_engine
from tests.backends import (
    EMBEDDED,
    PRODUCTION,
    Backend,
    cluster_ready,
    fresh_database,
    production_kafka,
)

HUB = str(Path(sys.executable).with_name("hub"))
INBOUND = ("injus-detentie", "zvh-events", "crisis-contacten")
OUTBOUND = {
    "llc-communication": "llc",
    "gemeente-casusregisseur": "gemeente",
    "pi-backoffice": "pi",
    "zvh-notifications": "zvh",
}
"""The outbound connectors the chaos hub runs, and the simulator each delivers to."""
KIND_TO_SIMULATOR = {"llz": "llc", "gemeente": "gemeente", "pi": "pi", "zvh": "zvh"}
CYCLE = ("START", "contact", "OVERPLAATSING", "contact", "EINDE")


@contextlib.contextmanager
def own_backend(
    kind: str = EMBEDDED, postgres_admin_url: str | None = None, brokers: int = 1
) -> Iterator[Backend]:
    """A broker of its own for one chaos test, so its counts see nothing of the others:
    tansu (and SQLite in the test's folder), or Apache Kafka with ``brokers`` nodes (and
    a fresh PostgreSQL database)."""
    with quiet_http_logs():
        if kind == PRODUCTION:
            assert postgres_admin_url is not None
            with ApacheKafka(brokers) as cluster:
                settings = production_kafka(cluster)
                database = asyncio.run(fresh_database(postgres_admin_url))
                asyncio.run(cluster_ready(settings, brokers))
                yield Backend(PRODUCTION, settings, database, cluster)
        else:
            with EmbeddedKafka() as broker:
                settings = KafkaSettings(
                    bootstrap_servers=broker.bootstrap_servers,
                    session_timeout_ms=1500,
                    heartbeat_interval_ms=300,
                )
                asyncio.run(ensure_topics(settings, ALL_TOPICS))
                yield Backend(EMBEDDED, settings)


@contextlib.contextmanager
def quiet_http_logs() -> Iterator[None]:
    """The test process's HTTP client logs, quietened: a chaos run makes thousands of
    requests, many refused while the hub restarts."""
    quiet = [logging.getLogger(name) for name in ("httpcore", "httpx", "hpack")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


def size(backend: Backend, variable: str, embedded: int, production: int) -> int:
    """A run's size: ``HUB_<VARIABLE>`` on the embedded path, and
    ``HUB_PRODUCTION_<VARIABLE>`` on Apache Kafka and PostgreSQL, where ``make test``
    runs smaller (the JVMs and PostgreSQL share the two cores); ``make chaos`` sets both."""
    prefix = "HUB_PRODUCTION_" if backend.production else "HUB_"
    return int(
        os.environ.get(f"{prefix}{variable}", str(production if backend.production else embedded))
    )


@dataclass(frozen=True)
class Message:
    subject_bsn: str
    index: int
    connector: str
    body: bytes
    content_type: str


def messages_for(bsn: str, count: int) -> list[Message]:
    """The client's messages, in the order the partners send them: the ZVH's inclusion,
    then detention starts, transfers and ends with crisis contacts between."""
    found = person(bsn)
    assert found is not None
    out = [
        Message(
            bsn,
            0,
            "zvh-events",
            json.dumps(inclusion(found, f"CH-{bsn}-0")).encode(),
            "application/json",
        )
    ]
    for index in range(1, count):
        kind = CYCLE[(index - 1) % len(CYCLE)]
        source_id = f"CH-{bsn}-{index}"
        if kind == "contact":
            body = json.dumps(
                {
                    "schemaVersie": "1",
                    "contactId": source_id,
                    "regio": "amsterdam",
                    "bsn": bsn,
                    "tijdstip": "2026-11-20T03:10:00+01:00",
                    "politieAanwezig": False,
                    "beoordeling": "Onrustig; geen acuut gevaar.",
                    "uitkomst": "Thuis gelaten",
                    "crisisteam": {"naam": "Crisisteam Amsterdam", "telefoon": "020-5555555"},
                }
            ).encode()
            out.append(Message(bsn, index, "crisis-contacten", body, "application/json"))
        else:
            command = SendCommand(kind=kind, bsn=bsn, event_id=source_id)
            out.append(Message(bsn, index, "injus-detentie", injus_xml(command), "application/xml"))
    return out


@dataclass
class Driver:
    """Sends every client's messages in order, each until the hub accepts it."""

    hub_url: str
    secrets: Mapping[str, str]
    """Each webhook connector's secret (``SimulatorSet.secrets``)."""
    lanes: int = 12
    hold_at: int | None = None
    """After this many accepted messages the lanes wait for `release`: a failure a test
    injects then comes while messages still flow, however fast the hub has become."""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    sent: int = 0
    resends: int = 0
    rejected: list[str] = field(default_factory=list)

    async def run(self, clients: Sequence[Sequence[Message]]) -> None:
        queue: asyncio.Queue[Sequence[Message]] = asyncio.Queue()
        for client in clients:
            queue.put_nowait(client)
        async with httpx.AsyncClient(base_url=self.hub_url, timeout=10) as http:

            async def lane() -> None:
                while not queue.empty():
                    for message in queue.get_nowait():
                        if self.hold_at is not None and self.sent >= self.hold_at:
                            await self.release.wait()
                        await self._send(http, message)

            await asyncio.gather(*(lane() for _ in range(self.lanes)))

    async def _send(self, http: httpx.AsyncClient, message: Message) -> None:
        while True:
            headers = {
                **signed_headers(self.secrets[message.connector], message.body),
                "Content-Type": message.content_type,
            }
            try:
                answer = await http.post(
                    f"/connectors/{message.connector}/messages",
                    content=message.body,
                    headers=headers,
                )
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code < 300:
                self.sent += 1
                return
            if answer is not None and answer.status_code == 429:
                self.resends += 1
                await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
                continue
            if answer is not None and 400 <= answer.status_code < 500:
                self.rejected.append(f"{message.connector}: {answer.status_code} {answer.text}")
                return
            self.resends += 1
            await asyncio.sleep(0.1)


@dataclass
class HubRunner:
    """`hub run` as a separate process, started, killed and stopped at will."""

    tmp: Path
    backend: Backend
    sims: SimulatorSet
    port: int = field(default_factory=free_port)
    extra_connector_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    name: str = "hub"
    """Its log is ``<name>.log`` in the data directory."""
    args: tuple[str, ...] = ()
    """What follows the command: ``("--component", "router")`` for a router process."""
    command: str = "run"
    """``run`` (the configured broker), or ``up`` (an embedded broker of its own, which
    dies with it)."""
    key_files: bool = False
    """Keys as files in the data directory (rotated live by ``hub keys rotate``) rather
    than values in the environment."""
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0
    stops: list[float] = field(default_factory=list)
    """How long each SIGTERM took to stop the hub."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kafka(self) -> KafkaSettings:
        return self.backend.kafka

    @property
    def database_url(self) -> str:
        return self.backend.sqlite_or(self.tmp)

    def env(self) -> dict[str, str]:
        wanted = {*INBOUND, *OUTBOUND, "kedo-regie"}
        connectors = {
            name: {**conf, **self.extra_connector_settings.get(name, {})}
            for name, conf in self.sims.connectors().items()
            if name in wanted
        }
        keys = (
            {}
            if self.key_files
            else {
                "HUB_PSEUDONYM__KEY": self.key,
                "HUB_CRYPTO__KEY": self.master_key,
            }
        )
        return {
            **os.environ,
            **keys,
            "HUB_PSEUDONYM__KEY_ID": "ch1",
            "HUB_DATA_DIR": str(self.tmp),
            "HUB_DATABASE__URL": self.database_url,
            "HUB_KAFKA__BOOTSTRAP_SERVERS": self.kafka.bootstrap_servers,
            "HUB_KAFKA__IDEMPOTENT_PRODUCER": str(self.kafka.idempotent_producer),
            "HUB_KAFKA__REPLICATION_FACTOR": str(self.kafka.replication_factor),
            "HUB_KAFKA__SESSION_TIMEOUT_MS": str(self.kafka.session_timeout_ms),
            "HUB_KAFKA__HEARTBEAT_INTERVAL_MS": str(self.kafka.heartbeat_interval_ms),
            "HUB_HTTP__PORT": str(self.port),
            "HUB_CONNECTORS": json.dumps(connectors),
            "HUB_LOG__FORMAT": "json",
            "HUB_LOG__LEVEL": "WARNING",
            "HUB_ROUTING__LABEL_RESEND_INTERVAL_S": "3600",
        }

    def __post_init__(self) -> None:
        self.key = secrets.token_hex(32)
        self.master_key = secrets.token_hex(32)
        self.log = (self.tmp / f"{self.name}.log").open("ab")
        if self.key_files:
            (self.tmp / "pseudonym-ch1.key").write_text(self.key)
            (self.tmp / "master-m1.key").write_text(self.master_key)

    def upgrade(self) -> None:
        subprocess.run([HUB, "db", "upgrade"], env=self.env(), check=True, capture_output=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [HUB, self.command, *self.args],
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1

    def kill(self) -> list[int]:
        """SIGKILL to the hub and, at the same moment, to its children (an embedded
        broker): the whole tree, as a machine that dies takes it. Returns the
        children's process ids."""
        assert self.process is not None
        children = _children(self.process.pid)
        self.process.send_signal(signal.SIGKILL)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        self.process.wait()
        self.kills += 1
        return children

    def terminate(self) -> float:
        """SIGTERM; returns how long the hub took to exit."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return time.monotonic() - started

    async def ready(self, timeout_s: float = 60) -> None:
        async with httpx.AsyncClient(timeout=2) as http:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                assert self.process is not None
                assert self.process.poll() is None, self.tail()
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise TimeoutError(f"hub not ready: {self.tail()}")

    async def chaos(
        self, kills: int, rng: random.Random, *, alive_s: tuple[float, float], terms: int = 0
    ) -> None:
        """Kill -9 the hub ``kills`` times at random moments, restarting it each time:
        mostly while it works (a random time after it is ready), one in five while it
        is still starting. ``terms`` more times it gets SIGTERM while it works instead,
        and must be gone within 10 s (``stops``)."""
        plan = ["kill"] * kills + ["term"] * terms
        rng.shuffle(plan)
        for how in plan:
            self.start()
            if how == "kill" and rng.random() < 0.2:
                await asyncio.sleep(rng.uniform(0.2, 2.0))
            else:
                await self.ready()
                await asyncio.sleep(rng.uniform(*alive_s))
            if how == "kill":
                self.kill()
            else:
                self.stops.append(self.terminate())
        self.start()

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = (self.tmp / f"{self.name}.log").read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] != "Z"


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass(frozen=True)
class Decision:
    seq: int
    event_id: str
    subject: str
    action: str
    recipient: str | None
    delivery_id: str | None
    outcome: str


async def query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows straight from the hub's database, SQLite or PostgreSQL (the hub may be dead)."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(sql))]
    finally:
        await engine.dispose()


async def decisions(database_url: str) -> list[Decision]:
    """The audit trail, oldest first."""
    rows = await query(
        database_url,
        "SELECT seq, event_id, subject, action, recipient, delivery_id, outcome "
        "FROM audit_record ORDER BY seq",
    )
    return [Decision(*row) for row in rows]


async def received(sims: SimulatorSet) -> dict[str, dict[str, Any]]:
    """Per simulator: what it received (oldest first) and its duplicate count."""
    out = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for name in KIND_TO_SIMULATOR.values():
            out[name] = (await http.get(f"{sims.urls[name]}/_sim/received")).json()
    return out


@dataclass
class Accounts:
    events_expected: int
    events_decided: int = 0
    decisions_doubled: int = 0
    deliveries_expected: int = 0
    delivered: int = 0
    lost: list[str] = field(default_factory=list)
    duplicate_effects: int = 0
    duplicate_keys_refused: int = 0
    unexpected: int = 0
    out_of_order: list[str] = field(default_factory=list)
    starts_taken_for_repeats: int = 0
    """STARTs the router judged repeats of an open stay: the driver sends every START
    once, after the stay before it ended, so each of these is a notice never sent."""

    @property
    def complete(self) -> bool:
        return self.events_decided == self.events_expected and not self.lost


def account(
    subjects: set[str], trail: list[Decision], arrived: dict[str, dict[str, Any]], expected: int
) -> Accounts:
    """Compare what the router decided for ``subjects`` with what the partners received."""
    mine = [d for d in trail if d.subject in subjects]
    accounts = Accounts(events_expected=expected)
    accounts.events_decided = len({d.event_id for d in mine})
    accounts.starts_taken_for_repeats = sum(d.outcome == "DUPLICATE_START" for d in mine)
    disclosed = [
        d
        for d in mine
        if d.action == "disclose"
        and d.recipient is not None
        and d.recipient.split(":", 1)[0] in KIND_TO_SIMULATOR
    ]
    per_key = collections.Counter(d.delivery_id for d in disclosed)
    accounts.decisions_doubled = sum(n - 1 for n in per_key.values())
    accounts.deliveries_expected = len(per_key)
    arrivals: dict[str, list[str]] = {}
    for name, answer in arrived.items():
        keys = [r["idempotency_key"] for r in answer["received"]]
        arrivals[name] = keys
        accounts.duplicate_keys_refused += int(answer["duplicates"])
        counts = collections.Counter(keys)
        accounts.duplicate_effects += sum(n - 1 for k, n in counts.items() if k in per_key)
    seen = {k for keys in arrivals.values() for k in keys}
    accounts.delivered = len(set(per_key) & seen)
    accounts.lost = sorted(k for k in per_key if k not in seen)  # type: ignore[misc]
    order = {d.delivery_id: n for n, d in enumerate(disclosed)}
    for name, keys in arrivals.items():
        last: dict[tuple[str, str], int] = {}
        by_key = {d.delivery_id: d for d in disclosed}
        for key in keys:
            if key not in by_key:
                continue
            decision = by_key[key]
            lane = (decision.subject, str(decision.recipient))
            if order[key] < last.get(lane, -1):
                accounts.out_of_order.append(f"{name}: {key}")
            last[lane] = order[key]
    return accounts


async def settled_accounts(
    database_url: str, subjects: set[str], sims: SimulatorSet, expected: int, timeout_s: float
) -> Accounts:
    """Wait until every event was decided and every decided delivery arrived (or the
    time is up); the accounts as they then stand."""
    accounts = Accounts(events_expected=expected)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        trail = await decisions(database_url)
        accounts = account(subjects, trail, await received(sims), expected)
        if accounts.complete:
            break
        await asyncio.sleep(0.2)
    return accounts
