"""A break-glass notice for the police through a running hub: a crisis contact that a
conflict-of-duties decision released to the police, published on the police's delivery
topic as the router would, reaches the police simulator's ``/meldingen`` with only the
released field, while the subscription connector on the same topic leaves it alone."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from hub.bus.publisher import EventPublisher
from hub.connectors.testing.harness import wait_until
from hub.schemas.envelope import HUB_SOURCE, Envelope
from hub.settings import KafkaSettings
from hub.state import dead_letters
from hub.state.database import sessionmaker
from hub.state.dead_letters import LetterQuery
from tests.connectors.test_politie_meldingen import ASSESSMENT, break_glass
from tests.integration.simulated_chain import simulated_chain

pytestmark = pytest.mark.integration
BSN = "300000005"


async def test_a_break_glass_crisis_contact_reaches_the_police_with_only_the_assessment(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    key = f"dlv-break-glass-{uuid.uuid4().hex[:10]}"
    notice = f"/api/meldingen/{key}"
    async with simulated_chain(kafka_settings, tmp_path, police_notices=True) as chain:
        delivery = break_glass().model_copy(update={"idempotency_key": key})
        envelope = Envelope.for_event(
            delivery, subject=chain.subject(BSN), source=HUB_SOURCE, event_id=key
        )
        await EventPublisher(chain.hub.broker).publish(delivery, envelope)

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
