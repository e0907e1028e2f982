"""Bad input at every inbound interface of a running hub, over real HTTP on loopback:
each gets application/problem+json, and none leaves a trace on the bus."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hub.app import HubProcess
from hub.connectors.runtime.signing import signed_headers
from hub.connectors.testing.scenarios import XML_BOMB, XXE
from hub.identity.pseudonym import Pseudonymiser
from hub.settings import DatabaseSettings, HttpSettings, HubSettings, KafkaSettings
from hub.state import audit
from hub.state.database import migrate, sessionmaker
from tests.connectors.test_injus_kit import gebeurtenis
from tests.connectors.test_label_partner_kits import crisis_contact
from tests.connectors.test_pi_transfers_kit import notice
from tests.connectors.test_politie_kit import signal as police_signal
from tests.connectors.test_reclassering_kit import signal
from tests.connectors.test_zvh_events_kit import BSN as ZVH_BSN
from tests.connectors.test_zvh_events_kit import INCLUSIE, event
from tests.data import fhir_consent

pytestmark = pytest.mark.integration
SECRET = "bad-input-secret"
LIMIT = 20_000
DEEP = b"[" * 9_000 + b"]" * 9_000
"""Within LIMIT, and deep enough for a RecursionError in the standard JSON parser."""
GOOD = {
    "injus-detentie": gebeurtenis(event_id="GOOD-1"),
    "zvh-events": INCLUSIE,
    "reclassering-iris-signals": signal(),
    "pi-transfers": notice(),
    "politie-signalen": police_signal(abonnementId="lla-set-by-the-control-inclusion"),
    "crisis-contacten": crisis_contact(),
}
BAD: dict[str, dict[str, bytes]] = {
    "injus-detentie": {
        "malformed XML": b"<DetentieGebeurtenis><type>START</DetentieGebeurtenis>",
        "XXE": XXE,
        "billion laughs": XML_BOMB,
        "nested 9,000 deep": DEEP,
        "unknown event type": gebeurtenis("ONTSNAPPING"),
        "missing BSN": gebeurtenis(bsn=""),
    },
    "zvh-events": {
        "malformed JSON": b'{"soort": ',
        "XXE": XXE,
        "billion laughs": XML_BOMB,
        "nested 9,000 deep": DEEP,
        "unknown event type": event("ONTSLAG", "Z-1"),
        "missing BSN": event("EXCLUSIE", "Z-2", bsn=None, datum="2028-01-01", reden="closed"),
    },
    "reclassering-iris-signals": {
        "malformed JSON": b"[1, 2",
        "XXE": XXE,
        "billion laughs": XML_BOMB,
        "nested 9,000 deep": DEEP,
        "unknown event type": signal(soort="onbekend"),
        "missing BSN": signal(bsn=None),
    },
    "pi-transfers": {
        "malformed JSON": b"{{",
        "XXE": XXE,
        "billion laughs": XML_BOMB,
        "nested 9,000 deep": DEEP,
        "unknown schema version": notice(schemaVersie="7"),
        "missing BSN": notice(bsn=None),
    },
    "politie-signalen": {
        "malformed JSON": b'{"abonnementId": ',
        "XXE": XXE,
        "billion laughs": XML_BOMB,
        "nested 9,000 deep": DEEP,
        "unknown subscription": police_signal(abonnementId="lla-never-set-by-the-hub"),
        "no subscription": police_signal(abonnementId=None),
    },
    "crisis-contacten": {
        "malformed JSON": b"[",
        "XXE": XXE,
        "billion laughs": XML_BOMB,
        "nested 9,000 deep": DEEP,
        "unknown Flag": crisis_contact(bsn=None, flagId="lla-never-set-by-the-hub"),
        "missing BSN": crisis_contact(bsn=None),
    },
}


@pytest.fixture
async def hub(kafka_settings: KafkaSettings, tmp_path: Path) -> AsyncIterator[HubProcess]:
    inbound = {"webhook_secret": SECRET, "max_body_bytes": LIMIT}
    limited = {**inbound, "rate_per_s": 1.0, "burst": 3}
    settings = HubSettings(
        data_dir=tmp_path,
        kafka=kafka_settings,
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/hub.db"),
        http=HttpSettings(port=0),
        connectors={name: limited if name == "crisis-contacten" else inbound for name in GOOD},
    )
    keys = Pseudonymiser(active_key_id="b1", keys={"b1": secrets.token_bytes(32)})
    process = HubProcess(settings, keys)
    await migrate(process.engine)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def _records(process: HubProcess) -> int:
    """Audit records about this test's people. The session's broker is shared, so the
    router may also route what earlier tests left; those subjects are under other keys."""
    bsns = ("999999990", "123456782", "212121224", "111222333", "300000005")
    subjects = [process.pseudonymiser.pseudonym(bsn) for bsn in bsns]
    async with sessionmaker(process.engine)() as session:
        query = audit.AuditQuery(subjects=subjects)
        return len([r async for r in audit.search(session, query)])


async def test_every_inbound_interface_refuses_bad_input_and_publishes_nothing(
    hub: HubProcess,
) -> None:
    key = SECRET.encode()
    async with httpx.AsyncClient(base_url=hub.http_url) as client:

        async def post(name: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
            return await client.post(f"/connectors/{name}/messages", content=body, headers=headers)

        for name, cases in BAD.items():
            good = GOOD[name]
            attempts = {
                **{what: (body, signed_headers(key, body)) for what, body in cases.items()},
                "unsigned": (good, {}),
                "bad signature": (good, signed_headers(b"not-the-key", good)),
                "stale timestamp": (good, signed_headers(key, good, timestamp=1_000_000_000)),
                "oversized body": (b" " * (LIMIT + 1), signed_headers(key, b" " * (LIMIT + 1))),
                "bad webhook-id": (good, signed_headers(key, good, message_id="x y")),
            }
            for what, (body, headers) in attempts.items():
                response = await post(name, body, headers)
                assert 400 <= response.status_code < 500, (name, what, response.status_code)
                kind = response.headers["content-type"]
                assert kind.startswith("application/problem+json"), (name, what, kind)
                assert response.json()["detail"], (name, what)
        await asyncio.sleep(1.5)
        assert await _records(hub) == 0, "a refused message reached the router"
        control = await post("zvh-events", GOOD["zvh-events"], signed_headers(key, INCLUSIE))
        assert control.status_code == 202
    async with asyncio.timeout(30):
        while await _records(hub) == 0:  # noqa: ASYNC110 - the router writes the audit
            await asyncio.sleep(0.05)


async def test_a_replayed_webhook_is_refused_and_publishes_nothing_new(hub: HubProcess) -> None:
    """The very same signed request sent twice inside the replay window: the first is
    taken, the second refused with 409. The same message signed anew is accepted and, being
    the same partner record, publishes nothing new."""
    key, body = SECRET.encode(), GOOD["crisis-contacten"]
    headers = signed_headers(key, body)
    async with httpx.AsyncClient(base_url=hub.http_url) as client:
        url = "/connectors/crisis-contacten/messages"
        first = await client.post(url, content=body, headers=headers)
        replayed = await client.post(url, content=body, headers=headers)
        resent = await client.post(url, content=body, headers=signed_headers(key, body))
    assert first.status_code == 202
    assert first.json()["accepted"] == 1
    assert replayed.status_code == 409
    assert replayed.headers["content-type"].startswith("application/problem+json")
    assert replayed.json()["type"].endswith("/replayed-request")
    assert resent.status_code == 202
    assert resent.json()["accepted"] == 0
    async with asyncio.timeout(30):
        while await _records(hub) == 0:  # noqa: ASYNC110 - the router writes the audit
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    assert await _records(hub) == 1, "the replay and the re-send published nothing"


async def test_a_burst_above_the_rate_limit_is_refused_and_publishes_nothing(
    hub: HubProcess,
) -> None:
    """crisis-contacten takes 1 request a second with a burst of 3 here: of six different
    contacts sent at once, three are taken and three refused with 429, Retry-After and
    problem+json; the refused ones publish nothing."""
    key = SECRET.encode()
    bodies = [crisis_contact(contactId=f"GGZ-BURST-{n}") for n in range(6)]
    async with httpx.AsyncClient(base_url=hub.http_url) as client:
        answers = [
            await client.post(
                "/connectors/crisis-contacten/messages", content=b, headers=signed_headers(key, b)
            )
            for b in bodies
        ]
    statuses = [a.status_code for a in answers]
    assert statuses.count(202) == 3, statuses
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 3
    for answer in refused:
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["type"].endswith("/too-many-requests")
        assert int(answer.headers["retry-after"]) >= 1
    async with asyncio.timeout(30):
        while await _records(hub) < 3:  # noqa: ASYNC110 - the router writes the audit
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    assert await _records(hub) == 3, "only the three taken contacts reached the router"


OTHER_BSN = "111222333"
FLOW_H_REFUSED = {
    "consent about another client": (
        event("TOESTEMMING", "Z-H1", consent=fhir_consent("c-h1", patient=OTHER_BSN)),
        "consent.patient",
    ),
    "provision type misspelled": (
        event(
            "TOESTEMMING",
            "Z-H2",
            consent=fhir_consent("c-h2", kind="permitt", patient=ZVH_BSN),
        ),
        "consent.provision.type",
    ),
    "not a Consent": (
        event(
            "TOESTEMMING",
            "Z-H3",
            consent={**fhir_consent("c-h3", patient=ZVH_BSN), "resourceType": "Patient"},
        ),
        "consent.resourceType",
    ),
    "title ending before it starts": (
        event(
            "TITEL",
            "Z-H4",
            titelId="ZM-H4",
            titel="zorgmachtiging",
            afgegevenDoor="rechter",
            inclusiefLevensloopaanpak=True,
            geldigVan="2026-06-01",
            geldigTot="2026-01-01",
        ),
        "valid_until lies before valid_from",
    ),
    "doorbreking releasing justice data": (
        event(
            "DOORBREKING",
            "Z-H5",
            besluitId="DVP-H5",
            besluitDoor={"naam": "Dr. A", "rol": "psychiater", "organisatie": "GGZ"},
            ontvanger="politie",
            vrijgegeven=["facility"],
            reden="Acuut gevaar voor derden.",
            besluitOp="2026-11-23T08:00:00+00:00",
            geldigTot="2026-11-30T08:00:00+00:00",
        ),
        "releases",
    ),
}


async def test_flow_h_facts_that_break_the_profile_or_name_another_client_are_refused(
    hub: HubProcess,
) -> None:
    """Issue 22 items 1 and 2 at the edge: each is 422 problem+json naming the field (or,
    for a period, the rule it breaks), and nothing is taken."""
    key = SECRET.encode()
    async with httpx.AsyncClient(base_url=hub.http_url) as client:
        for what, (body, needle) in FLOW_H_REFUSED.items():
            answer = await client.post(
                "/connectors/zvh-events/messages", content=body, headers=signed_headers(key, body)
            )
            assert answer.status_code == 422, (what, answer.status_code, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            problem = answer.json()
            assert needle in f"{problem.get('field')} {problem['detail']}", (what, problem)
            assert OTHER_BSN not in answer.text
            assert ZVH_BSN not in answer.text
    await asyncio.sleep(1.0)
    assert await _records(hub) == 0, "nothing refused reached the router"
