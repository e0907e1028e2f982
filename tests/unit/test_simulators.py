"""A partner simulator behaves like a careful partner: it records, de-duplicates on the
idempotency key (and counts repeats), answers KEDO from the demo population, and obeys
its fault switches."""

from __future__ import annotations

import httpx

from hub.simulators.server import make_simulator


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
