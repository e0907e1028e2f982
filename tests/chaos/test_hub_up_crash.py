"""The whole `hub up` tree killed: the hub and its embedded broker (tansu, in memory) get
SIGKILL together, ten times while intakes flow, and each time `hub up` starts again on
a new, empty broker. Every message the hub answered 202 reaches every partner it was
decided for: the state store kept it, and the relay sent it to the new broker. No
broker is left without its hub.

The shipped Kafka defaults (a group join on tansu takes about two thirds of the 6 s
session timeout, so each restart is slow on purpose). Size: ``HUB_TREE_CLIENTS`` times
20 messages and ``HUB_TREE_KILLS`` kills; ``make test`` runs 15 x 20 = 300 and 3,
``make chaos`` 50 x 20 = 1,000 and 20."""

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
from hub.settings import KafkaSettings
from hub.simulators.population import synthetic_bsns
from hub.simulators.runner import SimulatorSet
from tests.backends import EMBEDDED, Backend
from tests.chaos.rig import (
    Driver,
    HubRunner,
    alive,
    messages_for,
    quiet_http_logs,
    settled_accounts,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]
CLIENTS = int(os.environ.get("HUB_TREE_CLIENTS", "15"))
KILLS = int(os.environ.get("HUB_TREE_KILLS", "3"))
PER_CLIENT = 20


@pytest.mark.timeout(1200)
def test_nothing_answered_202_is_lost_when_the_whole_hub_up_tree_is_killed(
    tmp_path: Path, report: Callable[[str], None]
) -> None:
    with quiet_http_logs():
        asyncio.run(_tree(tmp_path, report))


async def _tree(tmp_path: Path, report: Callable[[str], None]) -> None:
    rng = random.Random(20261201)
    port = free_port()
    sims = SimulatorSet(hub_url=f"http://127.0.0.1:{port}")
    await sims.start()
    hub = HubRunner(tmp_path, Backend(EMBEDDED, KafkaSettings()), sims, port=port, command="up")
    try:
        pseudonymiser = Pseudonymiser(active_key_id="ch1", keys={"ch1": bytes.fromhex(hub.key)})
        bsns = synthetic_bsns(CLIENTS, first=9000)
        subjects = {pseudonymiser.pseudonym(b) for b in bsns}
        expected = CLIENTS * PER_CLIENT
        driver = Driver(hub.url, sims.secrets)
        started = time.monotonic()
        driving = asyncio.create_task(driver.run([messages_for(b, PER_CLIENT) for b in bsns]))
        orphans = 0
        plan = [rng.uniform(0.5, 4.0) for _ in range(KILLS)]
        for alive_s in plan:
            hub.start()
            await hub.ready(timeout_s=120)
            await asyncio.sleep(alive_s)
            tree = hub.kill()
            assert tree, "hub up runs its broker as a child"
            await asyncio.sleep(1.0)
            orphans += sum(1 for pid in tree if alive(pid))
        hub.start()
        await hub.ready(timeout_s=120)
        await driving
        assert not driver.rejected, driver.rejected[:3]
        accounts = await settled_accounts(hub.database_url, subjects, sims, expected, timeout_s=300)
        elapsed = time.monotonic() - started
        report(
            f"[chaos] hub up tree: {driver.sent} messages answered 202 ({driver.resends} "
            f"re-sent after a refused connection), {hub.kills} kills of hub up with its "
            f"broker; {accounts.events_decided}/{accounts.events_expected} events decided, "
            f"{accounts.delivered}/{accounts.deliveries_expected} deliveries arrived, lost "
            f"{len(accounts.lost)}, decided twice {accounts.decisions_doubled}, duplicate "
            f"effects {accounts.duplicate_effects}, repeats refused by idempotency key "
            f"{accounts.duplicate_keys_refused}, out of order {len(accounts.out_of_order)}; "
            f"brokers left without their hub: {orphans}; {elapsed:.0f} s"
        )
        assert hub.kills == KILLS
        assert driver.sent == expected
        assert orphans == 0
        assert accounts.events_decided == expected, hub.tail()
        assert accounts.lost == [], hub.tail()
        assert accounts.decisions_doubled == 0
        assert accounts.duplicate_effects == 0
        assert accounts.starts_taken_for_repeats == 0, "a START notice judged a repeat"
        assert accounts.out_of_order == []
    finally:
        if hub.process is not None and hub.process.poll() is None:
            hub.terminate()
        await sims.stop()
