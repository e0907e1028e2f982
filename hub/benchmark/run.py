"""One benchmark run: an embedded broker of its own, the hub and its simulated partners,
the raw relay, the I/O floor, the policy and the memory, measured in one process tree.

Sizes (``Sizes``) are the full run's; ``--quick`` runs a fraction of them so that it
ends within three minutes, and the smoke test a smaller one still.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hub.benchmark.floor import FloorBench
from hub.benchmark.latency import LoadResult
from hub.benchmark.pipeline import (
    PipelineBench,
    hub_with_partners,
    mean_record_bytes,
)
from hub.benchmark.population import populate
from hub.benchmark.relay import RelayBench
from hub.bus.admin import ensure_topics
from hub.bus.apache_kafka import ApacheKafka, unavailable
from hub.bus.embedded import EmbeddedKafka
from hub.core.errors import HubError
from hub.core.topics import ALL_TOPICS, DETENTION
from hub.identity.pseudonym import Pseudonymiser
from hub.routing import policy_benchmark
from hub.settings import KafkaSettings
from hub.simulators.population import synthetic_bsns
from hub.simulators.server import SendCommand, injus_xml
from hub.state.embedded_postgres import EmbeddedPostgres

TANSU, KAFKA = "tansu", "kafka"
SQLITE, POSTGRES = "sqlite", "postgres"
TANSU_FETCH_WAIT_MS = 20
Step = Callable[[str], None]
Measure = Callable[[str, int, float | None], Awaitable[LoadResult]]
TARGETS = {
    "cpu_over_floor": ("<=", 2.0),
    "hub_cpu_ms_per_intake": ("<=", 10.0),
    "hub_max_msgs_per_s": (">=", 100.0),
    "intake_p99_ms_at_50": ("<=", 250.0),
    "idle_cpu_pct": ("<=", 2.0),
    "policy_decisions_per_s": (">=", 20_000.0),
    "rss_mb_100k_subjects": ("<=", 300.0),
}
"""Issue 24's targets. The relay's figures (the broker's limit) have none."""


@dataclass(frozen=True)
class Sizes:
    relay_max: int = 20_000
    relay_at_100: int = 2_000
    relay_at_500: int = 5_000
    hub_max: int = 300
    hub_at_100: int = 300
    hub_at_500: int = 300
    floor_max: int = 1_000
    intakes: int = 500
    """Flow A at ``INTAKE_RATE``: the intake figures."""
    policy_decisions: int = 5_000
    subjects: int = 100_000
    idle_s: float = 15.0
    """How long the hub is watched at rest: as long as its longest periodic work (the
    state gauges' refresh, every 15 s), so the window holds exactly one round of it."""

    def scaled(self, factor: float, subjects: int | None = None) -> Sizes:
        def n(value: int) -> int:
            return max(20, round(value * factor))

        return Sizes(
            relay_max=n(self.relay_max),
            relay_at_100=n(self.relay_at_100),
            relay_at_500=n(self.relay_at_500),
            hub_max=n(self.hub_max),
            hub_at_100=n(self.hub_at_100),
            hub_at_500=n(self.hub_at_500),
            floor_max=n(self.floor_max),
            intakes=n(self.intakes),
            policy_decisions=n(self.policy_decisions),
            subjects=subjects if subjects is not None else self.subjects,
            idle_s=max(2.0, self.idle_s * factor),
        )


QUICK = replace(
    Sizes().scaled(0.25), hub_at_100=80, hub_at_500=40, hub_max=80, intakes=100, idle_s=15.0
)
WARM_UP = 20
"""Intakes before anything is measured: the consumers have joined, the caches are warm."""
INTAKE_RATE = 50.0
"""Intakes a second offered for the flow-A figure (open loop): issue 24's load."""
INTAKE_RUN = f"intake {INTAKE_RATE:g}/s"
INTAKE_WAIT_S = 60.0
"""After the last flow-A intake is sent, the longest the run waits for the LLC: a hub
that cannot keep up still ends the run, and what had not arrived counts at the cut-off."""
SETTLE_S = 1.0
"""Before the idle window: the last receipts of the run before it are written."""


def _ratio(numerator: float, denominator: float) -> float:
    """Four significant digits: a ratio of 0.0016 must not read as 0.002."""
    return float(f"{numerator / denominator:.4g}") if denominator else float("nan")


def _run(result: LoadResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "offered_per_s": result.offered_per_s,
        "sent": result.sent,
        "arrived": result.arrived,
        "seconds": round(result.seconds, 3),
        "per_s": round(result.per_s, 1),
        "p50_ms": round(result.p50_ms, 2),
        "p99_ms": round(result.p99_ms, 2),
    }


@dataclass(frozen=True)
class Backing:
    """What the hub and the floor run on: the broker, and the store's URLs (None: a
    SQLite file each in the run's folder)."""

    kafka: KafkaSettings
    hub_database: str | None
    floor_database: str | None
    broker: str
    store: str


@contextlib.asynccontextmanager
async def backing(
    directory: Path, broker: str, store: str, fetch_max_wait_ms: int | None
) -> AsyncIterator[Backing]:
    """tansu or Apache Kafka (one node, on loopback); SQLite or PostgreSQL (a throw-away
    embedded server). The fetch wait unless given: 20 ms on tansu, which waits it out on
    every fetch; on Apache Kafka, which answers a fetch the moment records arrive, the
    shipped 500 ms."""
    with contextlib.ExitStack() as stack:
        if broker == KAFKA:
            missing = unavailable()
            if missing is not None:
                raise HubError("Apache Kafka cannot run here", detail=missing)
            cluster = stack.enter_context(ApacheKafka(1, data_dir=directory / "kafka"))
            kafka = KafkaSettings(
                bootstrap_servers=cluster.bootstrap_servers,
                fetch_max_wait_ms=fetch_max_wait_ms or KafkaSettings().fetch_max_wait_ms,
                idempotent_producer=True,
                replication_factor=cluster.replication_factor,
            )
            name = "Apache Kafka (one node, KRaft, on loopback)"
        else:
            tansu = stack.enter_context(EmbeddedKafka())
            kafka = KafkaSettings(
                bootstrap_servers=tansu.bootstrap_servers,
                fetch_max_wait_ms=fetch_max_wait_ms or TANSU_FETCH_WAIT_MS,
            )
            name = "tansu (embedded, in memory)"
        hub_database = floor_database = None
        if store == POSTGRES:
            server = stack.enter_context(EmbeddedPostgres(directory / "postgres", throwaway=True))
            hub_database = await server.ensure_database("ketenhub")
            floor_database = await server.ensure_database("floor")
        await ensure_topics(kafka, ALL_TOPICS)
        yield Backing(kafka, hub_database, floor_database, name, store)


async def benchmark(
    sizes: Sizes,
    step: Step,
    *,
    fetch_max_wait_ms: int | None = None,
    broker: str = TANSU,
    store: str = SQLITE,
) -> tuple[dict[str, Any], list[LoadResult]]:
    """Every figure of ``hub bench``, and the runs behind them (for the plot)."""
    step("policy: field decisions on one core")
    policy = {
        r.name: r for r in policy_benchmark.run(decisions=sizes.policy_decisions, uncached=False)
    }
    runs: list[LoadResult] = []
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        async with (
            backing(Path(tmp), broker, store, fetch_max_wait_ms) as backed,
            hub_with_partners(Path(tmp), backed.kafka, backed.hub_database) as (hub, sims),
        ):
            kafka = backed.kafka
            await hub.upgrade()
            step(f"state: {sizes.subjects:,} clients with a case, a team and a consent")
            names = Pseudonymiser("k1", {"k1": bytes.fromhex(hub.pseudonym_key)})
            intakes = (
                2 * (WARM_UP + sizes.hub_max) + sizes.hub_at_100 + sizes.hub_at_500 + sizes.intakes
            )
            bsns = synthetic_bsns(max(sizes.subjects, intakes))
            rows = await populate(hub.database_url, names, bsns[: sizes.subjects])
            pipeline = PipelineBench(hub, sims, bsns)
            async with hub.running():
                step("hub: warming up")
                await pipeline.measure("warm-up", WARM_UP, None)
                record_bytes = await mean_record_bytes(kafka, DETENTION, at_least=20)
                relay = RelayBench(kafka, record_bytes)
                async with relay.running():
                    step(f"relay: maximum over {sizes.relay_max:,} records of {record_bytes} B")
                    runs.append(await relay.measure("relay max", sizes.relay_max, None))
                    step("relay: 100 records a second")
                    runs.append(await relay.measure("relay 100/s", sizes.relay_at_100, 100))
                    step("relay: 500 records a second")
                    runs.append(await relay.measure("relay 500/s", sizes.relay_at_500, 500))
                step("hub: 100 intakes a second")
                runs.append(await pipeline.measure("hub 100/s", sizes.hub_at_100, 100))
                step("hub: 500 intakes a second")
                runs.append(await pipeline.measure("hub 500/s", sizes.hub_at_500, 500))
                step(f"hub: maximum over {sizes.hub_max:,} intakes")
                cpu_ms = await _at_maximum(
                    hub.cpu_seconds, pipeline.measure, runs, "hub max", sizes.hub_max, hub.drained
                )
                step("floor: starting, warming up")
                body = injus_xml(SendCommand(kind="START", bsn=bsns[0], event_id="BENCH-FLOOR"))
                floor = FloorBench(
                    kafka, Path(tmp), record_bytes, body, database=backed.floor_database
                )
                async with floor.running():
                    await floor.measure("warm-up floor", WARM_UP, None)
                    step(f"floor: maximum over {sizes.floor_max:,} intakes")
                    floor_cpu_ms = await _at_maximum(
                        floor.cpu_seconds, floor.measure, runs, "floor max", sizes.floor_max
                    )
                    step(f"at rest: the hub and the floor for {sizes.idle_s:g} s")
                    await hub.drained()
                    idle, floor_idle = await _at_rest(
                        (hub.cpu_seconds, floor.cpu_seconds), sizes.idle_s
                    )
                step(f"flow A: {sizes.intakes:,} intakes at {INTAKE_RATE:g} a second")
                runs.append(
                    await pipeline.measure(
                        INTAKE_RUN, sizes.intakes, INTAKE_RATE, wait_s=INTAKE_WAIT_S
                    )
                )
                rss = hub.peak_rss_mb()
            step(f"hub, the router in a process of its own: maximum over {sizes.hub_max:,}")
            async with hub.running(apart=True):
                await pipeline.measure("warm-up apart", WARM_UP, None)
                apart_cpu_ms = await _at_maximum(
                    hub.cpu_seconds,
                    pipeline.measure,
                    runs,
                    "hub max, router apart",
                    sizes.hub_max,
                    hub.drained,
                )
    named = {run.name: run for run in runs}
    relay_max, relay_100 = named["relay max"], named["relay 100/s"]
    hub_max, hub_100, apart = named["hub max"], named["hub 100/s"], named["hub max, router apart"]
    floor_max, intake = named["floor max"], named[INTAKE_RUN]
    figures: dict[str, Any] = {
        "hub_cpu_ms_per_intake": round(cpu_ms, 2),
        "floor_cpu_ms_per_intake": round(floor_cpu_ms, 2),
        "cpu_over_floor": _ratio(cpu_ms, floor_cpu_ms),
        "hub_max_msgs_per_s": round(hub_max.per_s, 1),
        "floor_max_msgs_per_s": round(floor_max.per_s, 1),
        "intake_p50_ms_at_50": round(intake.p50_ms, 2),
        "intake_p99_ms_at_50": round(intake.p99_ms, 2),
        "intakes_at_50": intake.sent,
        "intakes_arrived_at_50": intake.arrived,
        "idle_cpu_pct": round(idle, 2),
        "floor_idle_cpu_pct": round(floor_idle, 2),
        "hub_max_msgs_per_s_router_apart": round(apart.per_s, 1),
        "hub_cpu_ms_per_intake_router_apart": round(apart_cpu_ms, 2),
        "relay_max_msgs_per_s": round(relay_max.per_s, 1),
        "throughput_ratio": _ratio(hub_max.per_s, relay_max.per_s),
        "relay_p99_ms_at_100": round(relay_100.p99_ms, 2),
        "hub_p99_ms_at_100": round(hub_100.p99_ms, 2),
        "p99_ratio_at_100": _ratio(hub_100.p99_ms, relay_100.p99_ms),
        "policy_decisions_per_s": round(policy["decide_per_field"].per_second),
        "rss_mb_100k_subjects": round(rss, 1),
        "subjects_in_state": sizes.subjects,
        "state_rows": rows,
        "record_bytes": record_bytes,
        "hub_asked_to_resend": pipeline.resent,
        "fetch_max_wait_ms": kafka.fetch_max_wait_ms,
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "broker": backed.broker,
            "store": backed.store,
        },
        "runs": [_run(r) for r in runs],
    }
    figures["targets"] = {
        key: {"target": f"{op} {bound:g}", "met": _meets(figures[key], op, bound)}
        for key, (op, bound) in TARGETS.items()
    }
    return figures, runs


async def _at_maximum(
    cpu_seconds: Callable[[], float],
    measure: Measure,
    runs: list[LoadResult],
    name: str,
    count: int,
    drained: Callable[[], Awaitable[None]] | None = None,
) -> float:
    """Run the hub or the floor at its maximum into ``runs``; returns the CPU
    milliseconds per intake of its processes (``cpu_seconds``) over that run: from
    ``drained`` (what the runs before left is done) until ``drained`` again (every
    delivery of the run made, not only the one that is timed)."""
    if drained is not None:
        await drained()
    used = cpu_seconds()
    runs.append(await measure(name, count, None))
    if drained is not None:
        await drained()
    return (cpu_seconds() - used) * 1000 / runs[-1].arrived


async def _at_rest(cpu_seconds: tuple[Callable[[], float], ...], seconds: float) -> list[float]:
    """Each process group's CPU over ``seconds`` with no load offered, in % of one core."""
    await asyncio.sleep(SETTLE_S)
    before = [read() for read in cpu_seconds]
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - started
    return [(read() - used) * 100 / elapsed for read, used in zip(cpu_seconds, before, strict=True)]


def _meets(value: float, op: str, bound: float) -> bool:
    if op == ">=":
        return value >= bound
    if op == "<=":
        return value <= bound
    return value < bound


def plot(runs: list[LoadResult], path: Path) -> None:
    """The latency CDF of every run at a fixed load, hub and relay side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    for run in runs:
        if run.offered_per_s is None or not run.latencies_ms:
            continue
        ordered = sorted(run.latencies_ms)
        share = [(n + 1) / len(ordered) for n in range(len(ordered))]
        axes.step(ordered, share, where="post", label=f"{run.name} (p99 {run.p99_ms:.0f} ms)")
    axes.set_xscale("log")
    axes.set_xlabel("latency, ms (log)")
    axes.set_ylabel("share of messages")
    axes.set_title("Ketenhub: intake to LLC, against a raw Kafka relay")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
