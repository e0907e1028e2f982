"""The broker alone lost: `hub run` keeps running while its embedded broker (tansu, in
memory) is killed with SIGKILL in the middle of a run and a new, empty one starts on the
same address. The relay sees the topics hold fewer records than the store saw, creates
them again and sends the new broker every accepted event the router does not have and
every delivery no connector has. Nothing answered 202 is lost. Order per client is not
promised here: what was in flight in the seconds before the relay noticed the new
broker (it looks every 2 s) can arrive after what came next (docs/reliability.md); the
test prints how much did.

The shipped Kafka defaults. Size: ``HUB_BROKER_RESTART_CLIENTS`` times 20 messages;
``make test`` runs 8 x 20 = 160, ``make chaos`` 20 x 20 = 400."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.bus.embedded import EmbeddedKafka, free_port
from hub.core.polling import wait_for
from hub.identity.pseudonym import Pseudonymiser
from hub.settings import KafkaSettings
from hub.simulators.population import synthetic_bsns
from hub.simulators.runner import SimulatorSet
from tests.backends import EMBEDDED, Backend
from tests.chaos.rig import (
    Driver,
    HubRunner,
    messages_for,
    quiet_http_logs,
    settled_accounts,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]
CLIENTS = int(os.environ.get("HUB_BROKER_RESTART_CLIENTS", "8"))
PER_CLIENT = 20


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "deaths",
    [
        pytest.param((3.0,), id="one death, a new broker 3 s later"),
        pytest.param((0.5, 0.5), id="two deaths within a second"),
    ],
)
def test_a_new_empty_broker_is_sent_everything_it_lost(
    tmp_path: Path, report: Callable[[str], None], deaths: tuple[float, ...]
) -> None:
    """``deaths``: per death, how long until the new broker starts. Two deaths within a
    second are what cost START notices before the router took each client's events in
    the order accepted: an END the first broker took, and the next START on the second
    before the relay sent the END again (the outside look, killing `hub up`'s tansu)."""
    port = free_port()
    broker = EmbeddedKafka(port=port).start()
    try:
        with quiet_http_logs():
            asyncio.run(_restart(tmp_path, broker, report, deaths))
    finally:
        broker.stop()


async def _restart(
    tmp_path: Path, broker: EmbeddedKafka, report: Callable[[str], None], deaths: tuple[float, ...]
) -> None:
    port = free_port()
    sims = SimulatorSet(hub_url=f"http://127.0.0.1:{port}")
    await sims.start()
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
    hub = HubRunner(tmp_path, Backend(EMBEDDED, kafka), sims, port=port)
    try:
        hub.upgrade()
        hub.start()  # the relay creates the topics on this first, empty broker
        await hub.ready(timeout_s=60)
        pseudonymiser = Pseudonymiser(active_key_id="ch1", keys={"ch1": bytes.fromhex(hub.key)})
        bsns = synthetic_bsns(CLIENTS, first=11000)
        subjects = {pseudonymiser.pseudonym(b) for b in bsns}
        expected = CLIENTS * PER_CLIENT
        # Held at two thirds until the last broker is up: the deaths come while messages
        # still flow, however fast the hub is.
        driver = Driver(hub.url, sims.secrets, lanes=4, hold_at=expected * 2 // 3)
        started = time.monotonic()
        driving = asyncio.create_task(driver.run([messages_for(b, PER_CLIENT) for b in bsns]))
        await wait_for(lambda: driver.sent >= expected // 3, timeout_s=300)
        killed_at = driver.sent
        for gap in deaths:
            broker.kill()
            await asyncio.sleep(gap)
            broker.start()  # the same address, nothing on it
            await asyncio.sleep(gap)
        driver.release.set()
        await driving
        assert not driver.rejected, driver.rejected[:3]
        accounts = await settled_accounts(hub.database_url, subjects, sims, expected, timeout_s=300)
        report(
            f"[chaos] broker restarted empty: {driver.sent} messages answered 202, the "
            f"broker killed {len(deaths)} time(s) from {killed_at} on, each new one "
            f"started {deaths[0]} s later; "
            f"{accounts.events_decided}/{accounts.events_expected} events decided, "
            f"{accounts.delivered}/{accounts.deliveries_expected} deliveries arrived, lost "
            f"{len(accounts.lost)}, decided twice {accounts.decisions_doubled}, duplicate "
            f"effects {accounts.duplicate_effects}, repeats refused by idempotency key "
            f"{accounts.duplicate_keys_refused}, out of order {len(accounts.out_of_order)}, "
            f"STARTs judged repeats {accounts.starts_taken_for_repeats}; "
            f"{time.monotonic() - started:.0f} s"
        )
        assert driver.sent == expected
        assert accounts.events_decided == expected, hub.tail()
        assert accounts.lost == [], hub.tail()
        assert accounts.decisions_doubled == 0
        assert accounts.duplicate_effects == 0
        assert accounts.starts_taken_for_repeats == 0, "a START notice judged a repeat"
    finally:
        if hub.process is not None and hub.process.poll() is None:
            hub.terminate()
        await sims.stop()
