"""The hub process: its Kafka consumers, its state store and its HTTP server, started
and stopped as one unit by ``hub up`` (embedded) and ``hub run`` (production)."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import ssl
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from aiokafka.errors import KafkaError
from fastapi import APIRouter
from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub import __version__, monitoring
from hub.bus.admin import cluster_health
from hub.bus.broker import make_broker, start_together
from hub.bus.deadletter import topic_publisher
from hub.bus.publisher import EventPublisher
from hub.clock import SYSTEM_CLOCK, Clock
from hub.connectors import registry
from hub.connectors.base import Connector, LookupConnector
from hub.connectors.http import HttpApiConfig
from hub.connectors.runtime.label_resend import resend_failed_labels
from hub.connectors.runtime.webhook import WEBHOOK_PREFIX
from hub.connectors.runtime.wiring import ConnectorSet, wire
from hub.console.api import management_router
from hub.console.oidc import OidcLogin
from hub.console.signin import SignIn
from hub.console.web import console_router
from hub.core.errors import ConfigurationError
from hub.core.polling import next_pause
from hub.core.topics import ROUTED_TOPICS, ROUTER_GROUP
from hub.event_loop import loop_name
from hub.http_edge import BodyDeadline, BodyLimit, HeaderLimit, edge_protocol
from hub.identity.keyfiles import KeyDirectory
from hub.identity.keyring import Keyring, MasterKeys, master_keys_from_settings
from hub.identity.pseudonym import Pseudonymiser
from hub.identity.rekeying import Rekeyer
from hub.identity.vault import IdentityVault
from hub.logs import get_logger
from hub.metrics import AUDIT_CHAIN_INTACT
from hub.ops_api import Readiness, make_ops_app
from hub.relay import Relay
from hub.retention import erase_due
from hub.routing.cedar_policy import policy_from_settings
from hub.routing.consumer import router_subscriber
from hub.routing.lookup import CaseLookup, LocalCaseLookup
from hub.routing.replay import Replayer
from hub.routing.router import Router
from hub.schemas.partners import hub_topics
from hub.settings import HttpSettings, HubSettings, KafkaSettings
from hub.state import audit
from hub.state.database import make_engine, sessionmaker
from hub.tracing import configure_tracing

log = get_logger(__name__)
ROUTER, CONNECTORS, CONSOLE = "router", "connectors", "console"
ALL_COMPONENTS = frozenset({ROUTER, CONNECTORS, CONSOLE})
"""The parts of the hub, each able to run in processes of its own (``hub run
--component``): the router with the case look-up and the retention clocks; the inbound
and outbound connectors with the label re-send; the console with the lag gauges."""


def build_broker(
    settings: HubSettings,
    engine: AsyncEngine,
    lookup: CaseLookup | None = None,
    pseudonymiser: Pseudonymiser | None = None,
    keyring: Keyring | None = None,
    components: frozenset[str] = ALL_COMPONENTS,
    clock: Clock = SYSTEM_CLOCK,
    *,
    own_groups: bool = False,
) -> tuple[KafkaBroker, Router, ConnectorSet]:
    """The broker with every consumer of this process attached: the router (with the
    case look-up connector) and the inbound and outbound connectors, as far as
    ``components`` asks (a misconfigured connector raises ConfigurationError naming it);
    ``clock`` times the outbound retries and is the inbound connectors' and the router's
    "now" (the router's starts the retention clock of a person in no case)."""
    broker = make_broker(settings.kafka)
    sessions = sessionmaker(engine)
    connectors = ConnectorSet()
    chosen = [
        c
        for c in registry.configured(settings.connectors)
        if (ROUTER if isinstance(c, LookupConnector) else CONNECTORS) in components
    ]
    if chosen:
        if pseudonymiser is None:
            raise ConfigurationError("connectors need the pseudonymiser")
        connectors = wire(
            chosen,
            broker=broker,
            kafka=settings.kafka,
            sessions=sessions,
            pseudonymiser=pseudonymiser,
            keyring=keyring,
            clock=clock,
            plausibility=settings.plausibility,
            own_groups=own_groups,
        )
    router = Router(
        sessions,
        policy_from_settings(settings.policy),
        lookup or connectors.lookup or LocalCaseLookup(sessions),
        EventPublisher(broker).send_all,
        bsn_kinds=frozenset(settings.routing.bsn_authorised),
        clock=clock.now,
        keyring=keyring,
        rekeyer=(
            Rekeyer(pseudonymiser, IdentityVault.for_pseudonymiser(pseudonymiser), keyring)
            if pseudonymiser is not None and keyring is not None
            else None
        ),
    )
    if ROUTER in components:
        broker.include_router(router_subscriber(router, settings.kafka, topic_publisher(broker)))
    return broker, router, connectors


def presented_certificates(
    http: HttpSettings, kafka: KafkaSettings, connectors: Iterable[Connector[Any]]
) -> dict[str, Path]:
    """The certificates this process shows others, by the name the expiry alert gives
    them: its HTTPS server's (``https``), its Kafka client's (``kafka-client``) and each
    connector's mutual-TLS client certificate (``connector-NAME``), since a partner
    refuses a lapsed one as surely as the broker does."""
    named: list[tuple[str, Path | None]] = [
        ("https", http.tls_certfile),
        ("kafka-client", kafka.ssl_certfile),
    ]
    named += [
        (f"connector-{c.name}", c.config.client_cert)
        for c in connectors
        if isinstance(c.config, HttpApiConfig)
    ]
    return {name: path for name, path in named if path is not None}


def server_config(http: HttpSettings, app: Any) -> uvicorn.Config:
    """The HTTP server: plain, HTTPS, or HTTPS that requires a partner client certificate
    signed by ``tls_client_ca`` (mutual TLS, beside the webhook signature).

    X-Forwarded-* is believed only from ``trusted_proxies`` (uvicorn's own default trusts
    loopback, which would let a local client pick the address it is limited by). Headers
    must arrive within ``header_timeout_s``, at most ``max_header_bytes`` of them, and a
    body within ``body_timeout_s``; one source holds at most
    ``max_connections_per_source`` connections (hub.http_edge)."""
    tls: dict[str, Any] = {}
    if http.tls_certfile is not None:
        tls = {"ssl_certfile": str(http.tls_certfile), "ssl_keyfile": str(http.tls_keyfile)}
    if http.tls_client_ca is not None:
        tls["ssl_ca_certs"] = str(http.tls_client_ca)
        tls["ssl_cert_reqs"] = ssl.CERT_REQUIRED
    return uvicorn.Config(
        HeaderLimit(
            BodyDeadline(
                BodyLimit(app, http.max_body_bytes, [WEBHOOK_PREFIX]), http.body_timeout_s
            ),
            http.max_header_bytes,
        ),
        host=http.host,
        port=http.port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=3,
        http=edge_protocol(
            http.header_timeout_s, http.max_connections_per_source, http.trusted_proxies
        ),
        h11_max_incomplete_event_size=http.max_header_bytes,
        proxy_headers=bool(http.trusted_proxies),
        forwarded_allow_ips=list(http.trusted_proxies),
        **tls,
    )


@dataclass
class HubProcess:
    settings: HubSettings
    pseudonymiser: Pseudonymiser
    engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    lookup: CaseLookup | None = None
    master_keys: MasterKeys | None = None
    """None: from settings, the key file made in the data directory if there is none
    (``hub run`` passes the keys it loaded, and never makes one)."""
    components: frozenset[str] = ALL_COMPONENTS
    fresh_broker: bool = False
    """The broker was started empty for this process (tansu under `hub up`): everything
    accepted and not yet routed or delivered is sent to it before anything new."""
    own_groups: bool = False
    """Each outbound connector reads in a consumer group of its own (``hub run
    --connector``, as a deployment under per-connector Kafka principals runs each), not
    in the one group of the process's connectors."""
    relay: bool = True
    """Run the relay here. `hub up` with the router apart runs one, in the parent: the
    relay works from the store, so one per hub is enough, and each costs polls at rest."""
    clock: Clock = SYSTEM_CLOCK
    """What times the outbound connectors' retries (``hub.clock``): a test's own clock
    runs a partner outage of minutes in seconds. It is also the "now" no fact in an
    inbound message may lie ahead of (``HUB_PLAUSIBILITY__*``), the router's and the
    retention clocks'."""
    keyring: Keyring = field(init=False)
    presented: dict[str, dt.datetime | None] = field(init=False)
    """When each certificate this process loaded at start expires: what it presents until
    it restarts, whatever the file says by then."""
    key_files: dict[str, KeyDirectory] = field(init=False)
    """The keys kept as files, by kind: their age is measured for the rotation alert."""
    broker: KafkaBroker = field(init=False)
    router: Router = field(init=False)
    connectors: ConnectorSet = field(init=False)
    _server: uvicorn.Server | None = field(default=None, init=False)
    _server_task: asyncio.Task[None] | None = field(default=None, init=False)
    _retry_task: asyncio.Task[None] | None = field(default=None, init=False)
    _relay_task: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        configure_tracing(self.settings.tracing)
        self.engine = make_engine(self.settings.database_url, echo=self.settings.database.echo)
        self.sessions = sessionmaker(self.engine)
        masters = self.master_keys or master_keys_from_settings(self.settings, create_key=True)
        self.keyring = Keyring(self.sessions, masters, cache_s=self.settings.crypto.key_cache_s)
        self.key_files = {
            kind: source
            for kind, source in (
                ("master", masters.source),
                ("pseudonym", self.pseudonymiser.source),
            )
            if isinstance(source, KeyDirectory)
        }
        self.broker, self.router, self.connectors = build_broker(
            self.settings,
            self.engine,
            self.lookup,
            self.pseudonymiser,
            self.keyring,
            self.components,
            self.clock,
            own_groups=self.own_groups,
        )
        presented = presented_certificates(
            self.settings.http, self.settings.kafka, self.connectors.connectors()
        )
        self.presented = {name: monitoring.not_after(path) for name, path in presented.items()}

    async def readiness(self) -> Readiness:
        """The database and the broker answer, and every partition of the hub's topics
        has a leader. A cluster that lost a broker but still takes every write stays
        ready, and says it is degraded."""
        checks: dict[str, bool] = {}
        details: dict[str, str] = {}
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            checks["database"] = True
        except Exception:  # any failure means not ready; the probe must not raise
            checks["database"] = False
        checks["kafka"] = bool(await self.broker.ping(timeout=2.0))
        if checks["kafka"]:
            try:
                health = await asyncio.wait_for(
                    cluster_health(self.settings.kafka, [t.name for t in hub_topics()]), 3.0
                )
            except (KafkaError, OSError, TimeoutError) as error:
                details["kafka_cluster"] = f"unknown: {type(error).__name__}"
            else:
                details["kafka_cluster"] = health.describe()
                checks["kafka_partitions_led"] = health.offline == 0
        return Readiness(checks, details)

    async def start(self) -> None:
        await start_together(self.broker)
        self.connectors.start_sources()
        self._retry_task = asyncio.create_task(self._housekeeping())
        if self.relay and self.components & {ROUTER, CONNECTORS}:
            relay = Relay(
                self.sessions,
                EventPublisher(self.broker).send_all,
                self.settings.kafka,
                router=ROUTER_GROUP,
                deliveries=self.connectors.consumer_groups(),
            )
            try:  # a broker new since the last run gets what it lost, before anything new
                if self.fresh_broker:
                    await relay.owe_redrive()
                await relay.check()
            except Exception as error:  # away for now: the relay's loop tries again
                log.warning("relay_check_failed", error=type(error).__name__)
            self._relay_task = asyncio.create_task(relay.run())
        if ROUTER in self.components:
            left = await self.router.flush()
            if left:
                log.info("outbox_flushed", deliveries=left)
        console = self._console() if CONSOLE in self.components else []
        routers = [*self.connectors.routers(self.settings.http), *console]
        app = make_ops_app(self.readiness, __version__, routers)
        self._server = uvicorn.Server(server_config(self.settings.http, app))
        self._server_task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._server_task.done():
                await self._server_task
                raise RuntimeError(f"HTTP server could not bind {self.http_address}")
            await asyncio.sleep(0.02)
        log.info(
            "hub_started",
            http=self.http_url,
            kafka=self.settings.kafka.bootstrap_servers,
            policy_version=self.router.policy.version,
            connectors=self.connectors.names,
            components=sorted(self.components),
            event_loop=loop_name(),
        )

    @property
    def http_address(self) -> str:
        return f"{self.settings.http.host}:{self.settings.http.port}"

    @property
    def http_url(self) -> str:
        if self._server is not None and self._server.servers:
            host, port = self._server.servers[0].sockets[0].getsockname()[:2]
            return f"{self._scheme}://{host}:{port}"
        return f"{self._scheme}://{self.http_address}"

    @property
    def _scheme(self) -> str:
        return "https" if self.settings.http.tls_certfile else "http"

    async def _housekeeping(self) -> None:
        """Every ``retry_interval_s`` (less often while nothing is due:
        :func:`~hub.core.polling.next_pause`) route what the router had to park; every
        ``metrics_interval_s`` refresh the state gauges; every ``label_resend_interval_s``
        offer failed label deliveries to partners that are back; every
        ``erasure_interval_s`` (an hour) run the retention clocks (:meth:`_erase_due`)."""
        routing = self.settings.routing
        erased_at = resent_at = measured_at = time.monotonic()
        erased_at -= routing.erasure_interval_s
        measured_at -= self.settings.ops.metrics_interval_s
        pause = routing.retry_interval_s
        while True:
            await asyncio.sleep(pause)
            routed = 0
            try:
                if ROUTER in self.components:
                    routed = await self.router.retry_parked()
                if time.monotonic() - measured_at >= self.settings.ops.metrics_interval_s:
                    measured_at = time.monotonic()
                    await self._measure()
                if time.monotonic() - resent_at >= routing.label_resend_interval_s:
                    resent_at = time.monotonic()
                    await resend_failed_labels(
                        self.sessions,
                        self.connectors.outbound,
                        EventPublisher(self.broker).send_all,
                    )
                if ROUTER in self.components and (
                    time.monotonic() - erased_at >= routing.erasure_interval_s
                ):
                    erased_at = time.monotonic()
                    await self._erase_due()
            except Exception:  # a failed round is logged and retried; the loop must live
                log.exception("housekeeping_failed")
                routed = 1
            pause = next_pause(pause, routing.retry_interval_s, busy=routed > 0)

    def _console(self) -> list[APIRouter]:
        """The console's pages and the management API, one sign-in for both."""
        console = self.settings.console
        secret = console.session_secret
        oidc = None
        if console.oidc_issuer is not None:
            key = secret.get_secret_value().encode() if secret else secrets.token_bytes(32)
            oidc = OidcLogin(console, key)
        gate = SignIn(self.sessions, console, SYSTEM_CLOCK)
        replayer = Replayer(
            self.sessions,
            self.router.policy,
            frozenset(self.settings.routing.bsn_authorised),
            self.keyring,
        )
        send = EventPublisher(self.broker).send_all
        return [
            console_router(
                self.sessions,
                console,
                self.connectors.connectors,
                replayer=replayer,
                send=send,
                oidc=oidc,
                signin=gate,
            ),
            management_router(
                self.sessions,
                self.connectors.connectors,
                gate=gate,
                replayer=replayer,
                send=send,
                incomplete_after_s=self.settings.routing.label_incomplete_after_s,
            ),
        ]

    async def _measure(self) -> None:
        groups: dict[str, tuple[str, ...]] = {
            ROUTER_GROUP: tuple(t.name for t in ROUTED_TOPICS),
            **self.connectors.consumer_groups(),
        }
        await monitoring.refresh(
            kafka=self.settings.kafka,
            groups=groups,
            sessions=self.sessions,
            connectors=self.connectors.connectors(),
            incomplete_after_s=self.settings.routing.label_incomplete_after_s,
            breakers={r.connector.name: r.breakers for r in self.connectors.outbound_runtimes},
            certificates=self.presented,
            keys=self.key_files,
        )

    async def _erase_due(self) -> None:
        """The retention clocks (:mod:`hub.retention`), on the hub's clock; then the
        audit chain is verified, for its gauge (an alert when broken)."""
        await erase_due(self.sessions, self.keyring, self.settings.routing, self.clock.now())
        async with self.sessions() as session:
            report = await audit.verify(session)
        AUDIT_CHAIN_INTACT.set(1 if report.intact else 0)
        if not report.intact:
            log.error("audit_chain_broken", first=report.broken.seq if report.broken else None)

    async def stop(self) -> None:
        """Stop taking input first (the webhook), then let the consumers finish the
        record in hand and commit it, then stop the background work. Whatever is not
        finished is not committed, and is redone after the restart."""
        if self._server is not None:
            self._server.should_exit = True
        if self._server_task is not None:
            await _bounded("webhook", self._server_task)
        await _bounded("consumers", self.broker.stop())
        for name, task in (("housekeeping", self._retry_task), ("relay", self._relay_task)):
            if task is not None:
                task.cancel()
                await _bounded(name, task)
        await _bounded("sources", self.connectors.stop_sources())
        await _bounded("database", self.engine.dispose())
        log.info("hub_stopped")

    def endpoints(self) -> dict[str, Any]:
        return {
            "kafka_bootstrap_servers": self.settings.kafka.bootstrap_servers,
            "http": self.http_url,
            "health": f"{self.http_url}/healthz",
            "readiness": f"{self.http_url}/readyz",
            "console": f"{self.http_url}/console",
            "database": _safe_url(self.settings.database_url),
            "data_dir": str(self.settings.data_dir.resolve()),
            "pseudonym_key_id": self.pseudonymiser.active_key_id,
        }


STOP_STEP_S = 30.0
"""How long one step of :meth:`HubProcess.stop` may take. A step that hangs (a consumer
that does not leave its group, a connection that does not close) is left behind with a
warning naming it, so a stop always ends: what it did not finish is redone after the
restart, as after a crash."""


async def _bounded(step: str, work: Awaitable[object]) -> None:
    """Wait for one step of a stop, at most :data:`STOP_STEP_S`."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=STOP_STEP_S)
    if not done:
        task.cancel()
        log.warning("stop_step_timed_out", step=step, after_s=STOP_STEP_S)
        return
    if not task.cancelled() and task.exception() is not None:
        log.warning("stop_step_failed", step=step, error=type(task.exception()).__name__)


def _safe_url(url: str) -> str:
    """The database URL without a password, fit to print."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
