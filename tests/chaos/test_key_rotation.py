"""Key rotation while messages flow: `hub keys rotate` turns both the pseudonym key and
the master key over under a running `hub run`, and every delivery the router decided
still arrives, exactly once. Afterwards every client is under the new pseudonym, every
data key under the new master key, the old keys can be retired, the hub still works
without them, and the audit chain is whole."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.bus.embedded import free_port
from hub.connectors.testing.harness import wait_until
from hub.core.polling import wait_for
from hub.identity.keyfiles import decode_key
from hub.identity.pseudonym import Pseudonymiser
from hub.simulators.population import synthetic_bsns
from hub.simulators.runner import SimulatorSet
from tests.backends import Backend
from tests.chaos.rig import (
    HUB,
    Driver,
    HubRunner,
    decisions,
    messages_for,
    query,
    settled_accounts,
    size,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration]
PER_CLIENT = 10


@pytest.mark.timeout(900)
def test_both_keys_rotate_while_messages_flow_and_none_is_lost(
    tmp_path: Path, chaos_backend: Backend, report: Callable[[str], None]
) -> None:
    asyncio.run(_rotate(tmp_path, chaos_backend, report))


async def _hub(hub: HubRunner, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [HUB, *args], env=hub.env(), capture_output=True, text=True
    )


async def _rotate(tmp_path: Path, backend: Backend, report: Callable[[str], None]) -> None:
    clients_count = size(backend, "ROTATION_CLIENTS", 30, 15)
    port = free_port()
    sims = SimulatorSet(hub_url=f"http://127.0.0.1:{port}")
    await sims.start()
    hub = HubRunner(tmp_path, backend, sims, port=port, key_files=True)
    database = hub.database_url
    try:
        hub.upgrade()
        hub.start()
        await hub.ready()
        bsns = synthetic_bsns(clients_count, first=500)
        clients = [messages_for(b, PER_CLIENT) for b in bsns]
        driver = Driver(hub.url, sims.secrets, lanes=6)
        driving = asyncio.create_task(driver.run(clients))
        await wait_for(lambda: driver.sent >= clients_count * PER_CLIENT // 3, timeout_s=120)
        sent_before = driver.sent
        rotation = await _hub(hub, "keys", "rotate")
        sent_during = driver.sent - sent_before
        assert rotation.returncode == 0, rotation.stderr
        await driving
        assert not driver.rejected, driver.rejected[:3]
        assert driver.sent == clients_count * PER_CLIENT

        keys = {
            key_id: decode_key((tmp_path / f"pseudonym-{key_id}.key").read_text())
            for key_id in ("ch1", "ch2")
        }
        both = Pseudonymiser(active_key_id="ch2", keys=keys)
        subjects = {p for b in bsns for p in both.all_pseudonyms(b)}
        accounts = await settled_accounts(
            database, subjects, sims, clients_count * PER_CLIENT, timeout_s=120
        )
        trail = [d for d in await decisions(database) if d.subject in subjects]
        under_new = sum(1 for d in trail if d.subject.startswith("psn-ch2-"))
        under_old = len(trail) - under_new
        known_before = {d.subject for d in trail if d.subject.startswith("psn-ch1-")}
        finish = await _hub(hub, "keys", "finish")
        vault_old = await query(
            database, "SELECT count(*) FROM identity_vault WHERE subject LIKE 'psn-ch1-%'"
        )
        cases_old = await query(
            database, "SELECT count(*) FROM case_state WHERE subject LIKE 'psn-ch1-%'"
        )
        moved = {
            str(row[0]) for row in await query(database, "SELECT subject FROM pseudonym_alias")
        }
        wrapped = {
            str(row[0]): row[1]
            for row in await query(
                database,
                "SELECT master_key_id, count(*) FROM data_key "
                "WHERE wrapped IS NOT NULL GROUP BY master_key_id",
            )
        }
        report(
            f"[rotation, {backend.name}] {driver.sent} messages from {clients_count} clients, "
            f"{sent_during} taken while `hub keys rotate` ran; {accounts.events_decided}/"
            f"{accounts.events_expected} events decided ({under_old} decisions under "
            f"psn-ch1, {under_new} under psn-ch2), {accounts.delivered}/"
            f"{accounts.deliveries_expected} deliveries arrived, lost {len(accounts.lost)}, "
            f"decided twice {accounts.decisions_doubled}, out of order "
            f"{len(accounts.out_of_order)}, STARTs judged repeats "
            f"{accounts.starts_taken_for_repeats}; {len(moved)} clients moved to the new "
            f"pseudonym; data keys by master key {wrapped}. rotate said: "
            + rotation.stdout.strip().replace("\n", " | ")
        )
        assert accounts.events_decided == accounts.events_expected, hub.tail()
        assert accounts.lost == [], hub.tail()
        assert accounts.decisions_doubled == 0
        assert accounts.duplicate_effects == 0
        assert accounts.out_of_order == []
        assert accounts.starts_taken_for_repeats == 0, "a START notice judged a repeat"
        assert under_old > 0
        assert under_new > 0
        assert finish.returncode == 0, finish.stderr
        assert vault_old == [(0,)]
        assert cases_old == [(0,)]
        assert known_before
        assert known_before <= moved
        assert set(wrapped) == {"m2"}

        for kind, old in (("pseudonym", "ch1"), ("master", "m1")):
            retired = await _hub(hub, "keys", "retire", kind, old)
            assert retired.returncode == 0, retired.stderr
        assert not (tmp_path / "pseudonym-ch1.key").exists()
        assert not (tmp_path / "master-m1.key").exists()

        # Without the old keys the hub still takes and delivers a client's next message,
        # under the new pseudonym and next to the state that moved there.
        await asyncio.sleep(1.5)
        extra = messages_for(bsns[0], PER_CLIENT + 1)[-1]
        before = len(await decisions(database))
        await Driver(hub.url, sims.secrets).run([[extra]])
        started = time.monotonic()

        async def decided() -> bool:
            return len(await decisions(database)) > before

        await wait_until(decided, timeout_s=30)
        newest = (await decisions(database))[before:]
        assert {d.subject for d in newest} == {both.pseudonym(bsns[0])}
        assert any(d.action == "disclose" for d in newest), newest
        took = time.monotonic() - started
        report(f"[rotation] after retiring both old keys: the next message decided in {took:.1f} s")
        verify = await _hub(hub, "audit", "verify")
        assert verify.returncode == 0, verify.stderr
    finally:
        if hub.process is not None and hub.process.poll() is None:
            hub.process.kill()
            hub.process.wait()
        await sims.stop()
