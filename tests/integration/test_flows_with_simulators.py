"""Flows A, D and E through real HTTP partner simulators on loopback: each starts with
the partner's own message and ends in the simulators' received lists."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from hub.connectors.testing.harness import wait_until
from hub.state import audit
from hub.state.cases import load_case
from hub.state.database import sessionmaker
from tests.backends import Backend
from tests.integration.simulated_chain import Chain, simulated_chain, today

pytestmark = pytest.mark.integration
INCLUDED, UNKNOWN = "111222333", "999999990"


class DetentionChain(Chain):
    """The detention flows: Injus sends, and only this test's client counts."""

    async def received(self, partner: str, *needles: str) -> list[dict[str, Any]]:
        return await super().received(partner, *(needles or (INCLUDED,)))

    async def send(
        self, partner: str = "injus", message: Mapping[str, Any] | None = None, **command: Any
    ) -> dict[str, Any]:
        return await super().send(partner, message or command)


@pytest.fixture
async def chain(backend: Backend, tmp_path: Path) -> AsyncIterator[DetentionChain]:
    async with simulated_chain(
        backend.kafka, tmp_path, database_url=backend.database_url
    ) as running:
        yield DetentionChain(running.hub, running.sims, running.client)


async def test_flow_a_intake_reaches_all_four_and_no_case_reaches_no_one(
    chain: DetentionChain, report: Callable[[str], None]
) -> None:
    started = time.perf_counter()
    await chain.send(kind="START", bsn=INCLUDED, event_id="SIM-A-1")
    (communication,) = await chain.until("llc", 1)
    latency = time.perf_counter() - started
    report(f"[flow A, simulators] Injus send to the LLC's Communication: {latency * 1000:.0f} ms")
    assert communication["path"] == "/fhir/Communication"
    assert communication["body"]["resourceType"] == "Communication"
    for partner in ("gemeente", "zvh", "pi"):
        (notice,) = await chain.until(partner, 1)
        assert notice["idempotency_key"]
    (pi,) = await chain.received("pi")
    assert pi["body"]["melding"] == "in-levensloopaanpak"
    await chain.send(kind="START", bsn=INCLUDED, event_id="SIM-A-1")  # Injus sends it again
    await chain.send(kind="START", bsn=UNKNOWN, event_id="SIM-A-2")

    async def no_case_audited() -> bool:
        async with sessionmaker(chain.hub.engine)() as session:
            query = audit.AuditQuery(outcome="NO_CASE")
            return bool([r async for r in audit.search(session, query)])

    await wait_until(no_case_audited)
    for partner in ("gemeente", "zvh", "pi", "llc"):
        assert len(await chain.received(partner)) == 1, f"{partner} got a second notice"


async def test_flow_d_transfer_reaches_the_receiving_pi_the_llc_and_the_zvh(
    chain: DetentionChain,
) -> None:
    await chain.send(kind="START", bsn=INCLUDED, event_id="SIM-D-1")
    await chain.until("pi", 1)
    await chain.send(
        kind="OVERPLAATSING",
        bsn=INCLUDED,
        event_id="SIM-D-2",
        facility_code="PI-VUG",
        facility_name="PI Vught",
        previous_facility_code="PI-AMS",
    )
    pi = await chain.until("pi", 2)
    assert pi[1]["body"]["inrichting"] == "pi:pi-vug"
    assert pi[1]["body"]["levensloopcoordinator"]["partner"] == "llz:fivoor"
    assert len(await chain.until("llc", 2)) == 2
    assert len(await chain.until("zvh", 2)) == 2


async def test_flow_e_release_reaches_the_municipality_of_release(chain: DetentionChain) -> None:
    await chain.send(kind="START", bsn=INCLUDED, event_id="SIM-E-1")
    await chain.until("gemeente", 1)
    await chain.send(kind="EINDE", bsn=INCLUDED, event_id="SIM-E-2", release_municipality="GM0344")
    gemeente = await chain.until("gemeente", 3)
    recipients = sorted(n["body"]["ontvanger"] for n in gemeente[1:])
    assert recipients == ["gemeente:GM0344", "gemeente:GM0363"]
    assert len(await chain.until("llc", 2)) == 2
    assert len(await chain.until("zvh", 2)) == 2
    assert len(await chain.received("pi")) == 1, "the PI has left the team at release"


async def test_the_demo_population_is_seeded_with_inclusions_a_consent_and_a_title(
    chain: DetentionChain,
) -> None:
    assert await chain.sims.seed() == 5

    async def recorded() -> bool:
        async with sessionmaker(chain.hub.engine)() as session:
            query = audit.AuditQuery(outcome="RECORDED")
            found = [r async for r in audit.search(session, query)]
        return len(found) >= 5

    await wait_until(recorded)
    async with sessionmaker(chain.hub.engine)() as session:
        records = [r async for r in audit.search(session, audit.AuditQuery(outcome="RECORDED"))]
        included = await load_case(session, chain.hub.pseudonymiser.pseudonym(INCLUDED))
    objects = [r["object"] for r in records]
    assert sum(o.startswith("case included") for o in objects) == 3
    assert "consent demo-consent-0 recorded" in objects
    assert any(o.startswith("zorgmachtiging ZM-DEMO-1") for o in objects)
    assert included is not None
    assert included.included
    assert await chain.sims.seed() == 0, "seeding twice changes nothing"


async def test_the_pi_simulator_sends_a_transfer_notice_that_reaches_the_receiving_pi(
    chain: DetentionChain,
) -> None:
    await chain.send(kind="START", bsn=INCLUDED, event_id="SIM-PI-1")
    await chain.until("pi", 1)
    transfer = {
        "schemaVersie": "1",
        "id": "PI-AMS-SIM-1",
        "bsn": INCLUDED,
        "gemeente": "GM0363",
        "van": {"code": "PI-AMS", "naam": "PI Amsterdam"},
        "naar": {"code": "PI-ZWL", "naam": "PI Zwolle"},
        "datum": "2026-12-01",
    }
    answer = await chain.client.post(f"{chain.sims.urls['pi']}/_sim/send", json=transfer)
    assert answer.json()["status"] == 202
    pi = await chain.until("pi", 2)
    assert pi[1]["body"]["inrichting"] == "pi:pi-zwl"


async def test_kedo_still_answering_included_after_an_exclusion_reaches_only_the_zvh(
    chain: DetentionChain,
) -> None:
    """The KEDO simulator keeps the demo client included; the ZVH excluded them today.
    The detention goes to nobody; the ZVH gets a notice to resolve the dispute."""
    await chain.sims.seed()
    await chain.recorded(INCLUDED, 1)
    await chain.send(
        "zvh",
        {
            "schemaVersie": "1",
            "id": "SIM-X-1",
            "soort": "EXCLUSIE",
            "bsn": INCLUDED,
            "zvh": "zvh:amsterdam",
            "datum": today(),
            "reden": "stable-two-years",
        },
    )

    async def closed() -> bool:
        # The seed also records a consent for this client: wait for the exclusion itself.
        return any(o.startswith("case closed") for o in await chain.recorded(INCLUDED, 1))

    await wait_until(closed)
    await chain.send(kind="START", bsn=INCLUDED, event_id="SIM-X-2")
    (notice,) = await chain.until("zvh", 1)
    body = notice["body"]
    assert body["over"] == "nl.ketenhub.case.disputed.v1"
    assert (body["inhoud"]["hub_says"], body["inhoud"]["kedo_says"]) == ("excluded", "included")
    assert "inrichting" not in json.dumps(body)
    assert "facility" not in body["inhoud"]

    async def disputed() -> bool:
        async with sessionmaker(chain.hub.engine)() as session:
            query = audit.AuditQuery(outcome="DISPUTED")
            return bool([r async for r in audit.search(session, query)])

    await wait_until(disputed)
    for partner in ("gemeente", "pi", "llc"):
        assert await chain.received(partner) == [], f"{partner} heard of the detention"
