"""A break-glass notice for the police through a running hub: a crisis contact that a
conflict-of-duties decision released to the police, published on the police's delivery
topic as the router would, reaches the police simulator's ``/meldingen`` with only the
released field, while the subscription connector on the same topic leaves it alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest

from hub.bus.publisher import EventPublisher
from hub.bus.sealing import scope_of
from hub.connectors.testing.harness import wait_until
from hub.schemas.envelope import HUB_SOURCE, Envelope
from hub.settings import KafkaSettings
from hub.simulators.population import inclusion, person
from hub.state import audit, dead_letters
from hub.state.database import sessionmaker
from hub.state.dead_letters import LetterQuery
from tests.connectors.test_politie_meldingen import ASSESSMENT, break_glass
from tests.integration.simulated_chain import crisis_contact, simulated_chain

pytestmark = pytest.mark.integration
BSN = "300000005"
VALID_S = 8
"""How long the test's DOORBREKING holds: long enough to route one contact, short enough
to wait out (its expiry is the point; an injected clock covers days in the unit tests)."""


async def test_a_break_glass_crisis_contact_reaches_the_police_with_only_the_assessment(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    key = f"dlv-break-glass-{uuid.uuid4().hex[:10]}"
    notice = f"/api/meldingen/{key}"
    async with simulated_chain(kafka_settings, tmp_path) as chain:
        delivery = break_glass().model_copy(update={"idempotency_key": key})
        envelope = Envelope.for_event(
            delivery, subject=chain.subject(BSN), source=HUB_SOURCE, event_id=key
        )
        sealer = await chain.hub.keyring.current(envelope.subject, scope_of(delivery))
        await EventPublisher(chain.hub.broker).publish(delivery, envelope, sealer)

        async def held() -> bool:
            return notice in await chain.holds("politie")

        await wait_until(held)
        body = (await chain.holds("politie"))[notice]
        async with sessionmaker(chain.hub.engine)() as session:
            letters = await dead_letters.find(session, LetterQuery(state=None, recipient="politie"))
    assert body["inhoud"] == {"assessment": ASSESSMENT}
    assert body["persoon"] == {"pseudoniem": chain.subject(BSN)}
    assert (body["doorbreking"], body["toetsingVereist"]) == (True, True)
    assert body["besluit"]["uitkomst"] == "PERMIT_BREAK_GLASS"
    assert [letter.consumer for letter in letters if letter.subject == chain.subject(BSN)] == []


async def test_a_doorbreking_from_the_zvh_carries_exactly_the_released_field_to_the_police(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Issue 22 item 4, end to end with the shipped settings: the ZVH simulator records a
    DOORBREKING for the police releasing the assessment; the crisis service's next
    contact reaches the police simulator with the assessment alone, flagged for review;
    after the decision's end, a contact reaches the police with nothing."""
    found = person(BSN)
    assert found is not None
    tag = uuid.uuid4().hex[:8]
    async with simulated_chain(kafka_settings, tmp_path) as chain:
        await chain.send("zvh", inclusion(found, f"INCL-{tag}"))
        await chain.labels_until(BSN, {"politie": "set"})
        now = dt.datetime.now(dt.UTC)
        ends = now + dt.timedelta(seconds=VALID_S)
        await chain.send(
            "zvh",
            {
                "schemaVersie": "1",
                "id": f"DVP-{tag}",
                "soort": "DOORBREKING",
                "bsn": BSN,
                "zvh": found.zvh,
                "besluitId": f"DVP-{tag}",
                "besluitDoor": {"naam": "Dr. A. Arts", "organisatie": "GGZ", "rol": "psychiater"},
                "ontvanger": "politie",
                "vrijgegeven": ["assessment"],
                "reden": "Acuut gevaar voor derden.",
                "besluitOp": now.isoformat(),
                "geldigTot": ends.isoformat(),
            },
        )
        await chain.recorded(BSN, 2)
        await chain.send("crisis", crisis_contact(BSN, f"GGZ-1-{tag}"))

        async def notices() -> dict[str, Any]:
            held = await chain.holds("politie")
            return {k: v for k, v in held.items() if k.startswith("/api/meldingen/")}

        async def one() -> bool:
            return len(await notices()) == 1

        await wait_until(one)
        (body,) = (await notices()).values()
        assert body["inhoud"] == {"assessment": "Decompensatie; medicatie gestaakt."}
        assert (body["doorbreking"], body["toetsingVereist"]) == (True, True)
        assert body["besluit"]["uitkomst"] == "PERMIT_BREAK_GLASS"
        assert body["besluit"]["besluitIds"] == [f"DVP-{tag}"]
        assert body["persoon"] == {"pseudoniem": chain.subject(BSN)}
        held = await chain.holds("politie")
        (subscription,) = [k for k in held if k.startswith("/api/abonnementen/")]
        assert body["abonnementId"] == subscription.rsplit("/", 1)[1], "names the label held"

        await asyncio.sleep(max(0.0, (ends - dt.datetime.now(dt.UTC)).total_seconds()) + 1)
        await chain.send("crisis", crisis_contact(BSN, f"GGZ-2-{tag}"))
        await chain.until("llc", 2, BSN)
        async with sessionmaker(chain.hub.engine)() as session:
            query = audit.AuditQuery(subjects=[chain.subject(BSN)], partner="politie")
            police = [r async for r in audit.search(session, query)]
        review = (await chain.report(BSN))["break_glass_to_review"]
        assert len(await notices()) == 1, "nothing reaches the police after the decision ends"
        assert [(d["recipient"], d["fields"]) for d in review] == [("politie", ["assessment"])]
        assert [r["outcome"] for r in police if r["action"] != "record"].count(
            "PERMIT_BREAK_GLASS"
        ) == 1
