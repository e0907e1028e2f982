"""Crash: thousands of mixed messages through `hub run` processes on the embedded
broker, the hub killed with SIGKILL at random moments many times, and at the end
every delivery the router decided has arrived at its partner simulator: 0 lost, 0
decided twice, 0 duplicate effects, each client's deliveries in order. Between the
kills the hub also gets SIGTERM while it works (``HUB_CHAOS_TERMS``: 2 in ``make
test``, 4 in ``make chaos``), and must be gone within 10 s each time, losing nothing
either.

It runs on tansu with SQLite and on Apache Kafka (idempotent producer) with PostgreSQL.
Sizes: ``HUB_CHAOS_CLIENTS`` times ``HUB_CHAOS_MESSAGES_PER_CLIENT`` messages and
``HUB_CHAOS_KILLS`` kills (``HUB_PRODUCTION_CHAOS_…`` on the production path). ``make
test`` runs 15 x 20 = 300 messages and 4 kills embedded, 8 x 20 = 160 and 3 kills on
the production path, to stay inside the suite's 25 minutes (the whole `hub up` tree is
killed 3 times in test_hub_up_crash.py besides); ``make chaos`` runs the issue's 5,000
(250 x 20) and 20 kills on both."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.bus.embedded import free_port
from hub.identity.pseudonym import Pseudonymiser
from hub.simulators.population import synthetic_bsns
from hub.simulators.runner import SimulatorSet
from tests.backends import Backend
from tests.chaos.rig import (
    Driver,
    HubRunner,
    messages_for,
    settled_accounts,
    size,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]
PER_CLIENT = int(os.environ.get("HUB_CHAOS_MESSAGES_PER_CLIENT", "20"))
TERMS = int(os.environ.get("HUB_CHAOS_TERMS", "2"))


@pytest.mark.timeout(1800)
def test_no_delivery_is_lost_or_doubled_when_the_hub_is_killed(
    tmp_path: Path, chaos_backend: Backend, report: Callable[[str], None]
) -> None:
    asyncio.run(_crash(tmp_path, chaos_backend, report))


async def _crash(tmp_path: Path, backend: Backend, report: Callable[[str], None]) -> None:
    clients_count = size(backend, "CHAOS_CLIENTS", 15, 8)
    kills = size(backend, "CHAOS_KILLS", 4, 3)
    rng = random.Random(20261129)
    port = free_port()
    sims = SimulatorSet(hub_url=f"http://127.0.0.1:{port}")
    await sims.start()
    hub = HubRunner(tmp_path, backend, sims, port=port)
    try:
        hub.upgrade()
        pseudonymiser = Pseudonymiser(active_key_id="ch1", keys={"ch1": bytes.fromhex(hub.key)})
        bsns = synthetic_bsns(clients_count)
        subjects = {pseudonymiser.pseudonym(b) for b in bsns}
        clients = [messages_for(b, PER_CLIENT) for b in bsns]
        driver = Driver(hub.url, sims.secrets)
        started = time.monotonic()
        driving = asyncio.create_task(driver.run(clients))
        await hub.chaos(kills, rng, alive_s=(0.3, 3.0), terms=TERMS)
        await hub.ready()
        await driving
        driven = time.monotonic() - started
        assert not driver.rejected, driver.rejected[:3]
        accounts = await settled_accounts(
            hub.database_url, subjects, sims, clients_count * PER_CLIENT, timeout_s=300
        )
        elapsed = time.monotonic() - started
        hub.stops.append(hub.terminate())
        stop_s = max(hub.stops)
        report(
            f"[chaos, {backend.name}] crash: {driver.sent} messages sent ({driver.resends} "
            f"re-sent after a refused connection), {hub.kills} kills, {accounts.events_decided}/"
            f"{accounts.events_expected} events decided, {accounts.delivered}/"
            f"{accounts.deliveries_expected} deliveries arrived, lost "
            f"{len(accounts.lost)}, decided twice {accounts.decisions_doubled}, "
            f"duplicate effects {accounts.duplicate_effects}, repeats refused by "
            f"idempotency key {accounts.duplicate_keys_refused}, out of order "
            f"{len(accounts.out_of_order)}; all sent after {driven:.0f} s, all arrived after "
            f"{elapsed:.0f} s; {len(hub.stops)} SIGTERMs, the slowest stop {stop_s:.1f} s"
        )
        assert hub.kills >= kills
        assert driver.sent == clients_count * PER_CLIENT
        assert accounts.events_decided == accounts.events_expected, hub.tail()
        assert accounts.lost == [], hub.tail()
        assert accounts.decisions_doubled == 0
        assert accounts.duplicate_effects == 0
        assert accounts.starts_taken_for_repeats == 0, "a START notice judged a repeat"
        assert accounts.out_of_order == []
        assert accounts.deliveries_expected >= clients_count * PER_CLIENT
        assert stop_s < 10
    finally:
        if hub.process is not None and hub.process.poll() is None:
            hub.process.kill()
            hub.process.wait()
        await sims.stop()
