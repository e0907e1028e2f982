"""A partner simulator behaves like a careful partner: it records, de-duplicates on the
idempotency key (and counts repeats), answers KEDO from the demo population, and obeys
its fault switches."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from hub.app import server_config
from hub.bus.embedded import free_port
from hub.connectors.crisis import CrisisContacten
from hub.connectors.runtime.inbound import InboundRuntime
from hub.connectors.runtime.signing import new_secret, signed_headers
from hub.connectors.runtime.webhook import webhook_router
from hub.connectors.testing.harness import Bus, Stores
from hub.connectors.zvh import ZvhEvents
from hub.core.errors import ConfigurationError
from hub.core.polling import wait_for
from hub.ops_api import Readiness, make_ops_app
from hub.settings import HttpSettings
from hub.simulators.population import zvh_events
from hub.simulators.runner import PARTNERS, SimulatorSet
from hub.simulators.server import SENDS_TO, make_simulator


def _client(name: str) -> httpx.AsyncClient:
    app = make_simulator(name)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")


async def test_it_records_once_per_idempotency_key_and_counts_repeats() -> None:
    async with _client("gemeente") as sim:
        first = await sim.post("/api/meldingen", json={"a": 1}, headers={"Idempotency-Key": "k1"})
        again = await sim.post("/api/meldingen", json={"a": 1}, headers={"Idempotency-Key": "k1"})
        seen = (await sim.get("/_sim/received")).json()
    assert (first.status_code, again.status_code) == (201, 409)
    assert len(seen["received"]) == 1
    assert seen["duplicates"] == 1
    assert seen["received"][0]["body"] == {"a": 1}


async def test_kedo_answers_from_the_demo_population() -> None:
    async with _client("kedo") as sim:
        included = await sim.get("/api/regie/111222333")
        unknown = await sim.get("/api/regie/123123123")
    assert included.json()["levensloopaanpak"]["geincludeerd"] is True
    assert unknown.status_code == 404


async def test_fault_switches_take_it_down_and_back() -> None:
    async with _client("zvh") as sim:
        await sim.post("/_sim/faults", json={"down": True})
        down = await sim.post("/api/meldingen", json={}, headers={"Idempotency-Key": "k"})
        await sim.post("/_sim/faults", json={"down": False, "error_rate": 0.0})
        up = await sim.post("/api/meldingen", json={}, headers={"Idempotency-Key": "k"})
    assert (down.status_code, up.status_code) == (503, 201)


async def test_a_simulator_without_a_hub_sends_nothing() -> None:
    async with _client("injus") as sim:
        answer = (await sim.post("/_sim/send", json={"bsn": "111222333"})).json()
    assert answer["sent"] is False


async def test_the_police_keep_each_notice_under_its_id_next_to_their_subscriptions() -> None:
    notice = {"meldingId": "dlv-1", "inhoud": {"assessment": "…"}, "toetsingVereist": True}
    async with _client("politie") as sim:
        await sim.put("/api/abonnementen/lla-1", json={"abonnementId": "lla-1"})
        posted = await sim.post("/api/meldingen", json=notice, headers={"Idempotency-Key": "dlv-1"})
        again = await sim.post("/api/meldingen", json=notice, headers={"Idempotency-Key": "dlv-1"})
        held = (await sim.get("/_sim/state")).json()["resources"]
    assert (posted.status_code, again.status_code) == (201, 409)
    assert held == {
        "/api/abonnementen/lla-1": {"abonnementId": "lla-1"},
        "/api/meldingen/dlv-1": notice,
    }


@contextlib.asynccontextmanager
async def _hub_webhooks(
    stores: Stores, configs: dict[str, dict[str, Any]], port: int = 0
) -> AsyncIterator[str]:
    """The hub's webhook for each of ``configs`` (connector name: its settings), served
    as the hub serves; yields its URL."""
    classes = {c.name: c for c in (ZvhEvents, CrisisContacten)}
    runtimes = {
        name: InboundRuntime(
            classes[name].from_config(conf),
            sessions=stores.sessions,
            send=Bus().send,
            pseudonymiser=stores.pseudonymiser,
            vault=stores.vault,
        )
        for name, conf in configs.items()
    }
    app = make_ops_app(_ready, "t", [webhook_router(runtimes)])
    server = uvicorn.Server(server_config(HttpSettings(port=port), app))
    task = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: server.started, 10)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def _ready() -> Readiness:
    return Readiness({"t": True})


def _unstarted() -> SimulatorSet:
    """A simulator set whose settings are wanted, not its servers."""
    return SimulatorSet(hub_url="http://127.0.0.1:1", urls={p: "http://sim" for p in PARTNERS})


async def test_each_partner_has_its_own_secret_and_cannot_sign_for_another() -> None:
    sims = _unstarted()
    given = sims.connectors()
    webhooks = {name: conf for name, conf in given.items() if "webhook_secret" in conf}
    assert set(webhooks) == set(SENDS_TO.values())
    assert len({conf["webhook_secret"] for conf in webhooks.values()}) == len(webhooks)
    assert all(conf["webhook_secret"].startswith("whsec_") for conf in webhooks.values())
    body = json.dumps(zvh_events()[0]).encode()
    async with (
        Stores() as stores,
        _hub_webhooks(stores, {n: given[n] for n in ("zvh-events", "crisis-contacten")}) as url,
        httpx.AsyncClient(base_url=url) as partner,
    ):
        path = "/connectors/zvh-events/messages"
        as_crisis = signed_headers(sims.secrets["crisis-contacten"], body)
        forged = await partner.post(path, content=body, headers=as_crisis)
        own = await partner.post(
            path, content=body, headers=signed_headers(sims.secrets["zvh-events"], body)
        )
    assert forged.status_code == 401
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert own.status_code == 202


async def test_a_secret_given_through_settings_is_the_one_the_seed_signs_with() -> None:
    """``HUB_CONNECTORS`` giving ``zvh-events`` its own secret (and other connectors other
    settings) is merged per connector, and the seed signs with that secret; before it is
    given, the hub's refusal names the connector and the reason (was: KeyError)."""
    port = free_port()
    sims = SimulatorSet(hub_url=f"http://127.0.0.1:{port}")
    own = new_secret()
    await sims.start()
    try:
        async with (
            Stores() as stores,
            _hub_webhooks(stores, {"zvh-events": {"webhook_secret": own}}, port),
        ):
            with pytest.raises(ConfigurationError) as refused:
                await sims.seed()
            merged = sims.configure(
                {"zvh-events": {"webhook_secret": own}, "kedo-regie": {"budget_s": 2.0}}
            )
            accepted = await sims.seed()
    finally:
        await sims.stop()
    assert "zvh-events" in str(refused.value)
    assert "401" in str(refused.value)
    assert "signature" in str(refused.value)
    assert merged["zvh-events"] == {"webhook_secret": own}
    assert merged["kedo-regie"]["budget_s"] == 2.0
    assert merged["kedo-regie"]["base_url"] == f"{sims.urls['kedo']}/api", "merged, not replaced"
    assert merged["crisis-contacten"]["webhook_secret"] == sims.secrets["crisis-contacten"]
    assert accepted > 0


def test_a_secret_file_given_through_settings_replaces_the_demo_secret(tmp_path: Path) -> None:
    secret_file = tmp_path / "zvh.secret"
    own = new_secret()
    secret_file.write_text(own + "\n", encoding="utf-8")
    sims = _unstarted()
    merged = sims.configure({"zvh-events": {"webhook_secret_file": str(secret_file)}})
    assert merged["zvh-events"] == {"webhook_secret_file": str(secret_file)}
    assert sims.secrets["zvh-events"] == own
    assert ZvhEvents.from_config(merged["zvh-events"]).config.webhook_secret is not None
    missing = {"crisis-contacten": {"webhook_secret_file": str(tmp_path / "nothing")}}
    assert "webhook_secret" not in sims.configure(missing)["crisis-contacten"]
    with pytest.raises(ConfigurationError, match="crisis-contacten"):
        CrisisContacten.from_config(sims.configure(missing)["crisis-contacten"])
