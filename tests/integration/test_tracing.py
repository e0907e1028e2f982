"""One trace per flow: the trace context a partner sends with its webhook (or a new one)
travels through the bus and the router to the partners' deliveries, and the hub's log
lines of that flow carry its trace id."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.connectors.runtime.signing import signed_headers
from hub.settings import KafkaSettings
from hub.simulators.server import SendCommand, injus_xml
from tests.integration.simulated_chain import Chain, simulated_chain

pytestmark = pytest.mark.integration
INCLUDED = "111222333"
PARTNER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
async def chain(kafka_settings: KafkaSettings, tmp_path: Path) -> AsyncIterator[Chain]:
    async with simulated_chain(kafka_settings, tmp_path) as running:
        yield running


def _trace_id(received: dict[str, Any]) -> str:
    traceparent = received["traceparent"]
    assert traceparent, "the delivery carried no traceparent"
    version, trace_id, _span, _flags = str(traceparent).split("-")
    assert version == "00"
    return trace_id


async def test_a_partners_trace_reaches_every_delivery_of_its_flow(
    chain: Chain, no_personal_data_in_logs: Any
) -> None:
    body = injus_xml(SendCommand(kind="START", bsn=INCLUDED, event_id="TRACE-1"))
    headers = {
        **signed_headers(chain.sims.secrets["injus-detentie"], body),
        "Content-Type": "application/xml",
        "traceparent": f"00-{PARTNER_TRACE}-00f067aa0ba902b7-01",
    }
    async with httpx.AsyncClient(base_url=chain.hub.http_url) as client:
        answer = await client.post(
            "/connectors/injus-detentie/messages", content=body, headers=headers
        )
    assert answer.status_code == 202
    (llc,) = await chain.until("llc", 1, INCLUDED)
    (gemeente,) = await chain.until("gemeente", 1, INCLUDED)
    assert _trace_id(llc) == _trace_id(gemeente) == PARTNER_TRACE
    logged = [json.loads(line) for line in no_personal_data_in_logs.lines if line.startswith("{")]
    stages = {
        line["event"]
        for line in logged
        if line.get("trace_id") == PARTNER_TRACE
        and line["event"] in {"inbound_published", "event_routed", "delivered"}
    }
    assert stages == {"inbound_published", "event_routed", "delivered"}


async def test_a_flow_without_a_partner_trace_gets_one_of_its_own(chain: Chain) -> None:
    await chain.send("injus", {"kind": "START", "bsn": INCLUDED, "event_id": "TRACE-2"})
    (llc,) = await chain.until("llc", 1, INCLUDED)
    (pi,) = await chain.until("pi", 1, INCLUDED)
    assert _trace_id(llc) == _trace_id(pi) != PARTNER_TRACE
