"""Every parser bounded (issue 23, item 6): at every inbound webhook, input nested
100,000 deep, a huge or infinite number, an over-long string or a key given twice is
refused with 422 problem+json and publishes nothing; never a 500 or a reset connection.
The app is the hub's own (``make_ops_app`` with the webhook router), in process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel

from hub.connectors.runtime.inbound import InboundRuntime
from hub.connectors.runtime.signing import signed_headers
from hub.connectors.runtime.webhook import webhook_router
from hub.connectors.testing.harness import Bus, Stores
from hub.connectors.testing.suites import InboundConnectorSuite
from hub.ops_api import Readiness, make_ops_app
from tests.connectors import (
    test_injus_kit,
    test_label_partner_kits,
    test_pi_transfers_kit,
    test_politie_kit,
    test_reclassering_kit,
    test_zvh_events_kit,
)

DEEP = 100_000
INJUS = test_injus_kit.TestInjusDetentie()
JSON_SUITES: list[InboundConnectorSuite] = [
    test_zvh_events_kit.TestZvhEvents(),
    test_pi_transfers_kit.TestPiTransfers(),
    test_politie_kit.TestPolitieSignalen(),
    test_reclassering_kit.TestIrisSignals(),
    test_label_partner_kits.TestCrisisContacten(),
]


def _name(suite: InboundConnectorSuite) -> str:
    return suite.build().name


class Edge:
    """One connector's webhook in the hub's ops app, publishing into a Bus; the
    connector's shipped limits (no size or rate tuned)."""

    def __init__(self, suite: InboundConnectorSuite, stores: Stores):
        self.suite, self.stores, self.bus = suite, stores, Bus()
        self.connector = suite.build()
        self.secret = str(suite.config["webhook_secret"]).encode()
        runtime = InboundRuntime(
            self.connector,
            sessions=stores.sessions,
            send=self.bus.send,
            pseudonymiser=stores.pseudonymiser,
            vault=stores.vault,
        )
        app = make_ops_app(_ready, "test", [webhook_router({self.connector.name: runtime})])
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub"
        )

    def good(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.suite.scenarios[0].body)
        return loaded

    async def post(self, body: bytes) -> httpx.Response:
        headers = {**signed_headers(self.secret, body), "Content-Type": "application/json"}
        return await self.client.post(
            f"/connectors/{self.connector.name}/messages", content=body, headers=headers
        )

    async def refused(self, body: bytes) -> dict[str, Any]:
        """The answer to ``body``, checked to be 422 problem+json with nothing published."""
        answer = await self.post(body)
        assert answer.status_code == 422, (answer.status_code, answer.text[:300])
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert self.bus.records == [], "a refused message published"
        problem: dict[str, Any] = answer.json()
        return problem


async def _ready() -> Readiness:
    return Readiness({"test": True})


@pytest.fixture
async def edge(request: pytest.FixtureRequest) -> AsyncIterator[Edge]:
    suite: InboundConnectorSuite = request.param
    async with Stores(labels=suite.labels) as stores:
        made = Edge(suite, stores)
        try:
            yield made
        finally:
            await made.client.aclose()


@pytest.mark.parametrize("edge", JSON_SUITES, ids=_name, indirect=True)
async def test_json_nested_100k_deep_is_refused_with_422(edge: Edge) -> None:
    """Today's code: RecursionError in json.loads, a 500 (the ASGI client re-raises it)."""
    body = b"[" * DEEP + b"]" * DEEP
    problem = await edge.refused(body)
    assert "nested deeper than 64 levels" in problem["detail"]
    wrapped = json.dumps(edge.good())[:-1].encode() + b', "x": ' + body + b"}"
    assert "nested deeper" in (await edge.refused(wrapped))["detail"]


@pytest.mark.parametrize("edge", [INJUS], ids=_name, indirect=True)
async def test_xml_nested_100k_deep_is_refused_with_422(edge: Edge) -> None:
    """defusedxml's expat builds the tree without recursion: this held before issue 23
    too, and guards that it stays so."""
    body = b'<DetentieGebeurtenis versie="1">' + b"<a>" * DEEP + b"</a>" * DEEP
    body += b"</DetentieGebeurtenis>"
    problem = await edge.refused(body)
    assert problem["status"] == 422
    answer = await edge.post(edge.suite.scenarios[0].body)
    assert answer.status_code == 202, answer.text


BEYOND_THE_LIMITS = {
    "a 100-digit integer": b"1" * 100,
    "an infinite number": b"1e999",
    "NaN": b"NaN",
    "a 70,000-character string": b'"' + b"x" * 70_000 + b'"',
    "an array of 20,000 elements": b"[" + b"0," * 19_999 + b"0]",
}


@pytest.mark.parametrize("edge", JSON_SUITES, ids=_name, indirect=True)
async def test_a_valid_message_with_one_value_beyond_the_limits_is_refused(edge: Edge) -> None:
    """Each value in a field no connector reads, so today's code takes the message
    (202); the same message without it is still taken."""
    good = edge.good()
    text = json.dumps(good)
    for what, value in BEYOND_THE_LIMITS.items():
        body = text[:-1].encode() + b', "onbekend": ' + value + b"}"
        problem = await edge.refused(body)
        assert problem["field"] == "body", what
    key = next(iter(good))
    twice = text[:-1].encode() + f", {json.dumps(key)}: {json.dumps(good[key])}}}".encode()
    assert "key twice" in (await edge.refused(twice))["detail"], "two readers, two values"
    answer = await edge.post(edge.suite.scenarios[0].body)
    assert answer.status_code == 202, answer.text
    assert edge.bus.records


class Probe(BaseModel):
    name: str


async def test_fastapis_own_body_parsing_answers_problem_json_for_deep_nesting() -> None:
    """An endpoint that takes a pydantic body: FastAPI parses it with json.loads, and
    today's app answers its RecursionError as 400 ``{"detail": ...}``, not problem+json."""
    router = APIRouter()

    @router.post("/probe")
    async def probe(body: Probe) -> dict[str, str]:
        return {"name": body.name}

    app = make_ops_app(_ready, "test", [router])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        answer = await client.post(
            "/probe",
            content=b"[" * DEEP + b"]" * DEEP,
            headers={"Content-Type": "application/json"},
        )
        missing = await client.get("/no-such-page")
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == answer.status_code
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
