"""Fuzzing every inbound interface with hypothesis: the webhooks of every inbound
connector (Injus XML, the ZVH's JSON with FHIR Consents inside, PI transfers, police,
Iris and crisis-service signals), their headers and signatures, and the records the
router and the outbound connectors read off the bus.

Each webhook input ends in a 2xx whose every published record is a valid canonical
event, or a 4xx problem+json with nothing published; never a 5xx. A JSON webhook's
message with one value beyond the limits of ``hub.core.json_limits`` (nesting too deep,
a huge or infinite number, an over-long string or array) somewhere in it is always
refused: 422 problem+json, nothing published. A bus record either
decodes to a valid event or raises ContractError (the consumer dead-letters it); an
outbound runtime never raises for a record, whatever it holds.

``HUB_FUZZ_EXAMPLES`` sets the cases per interface: a short run in ``make test``, and
``make fuzz`` runs 10,000 each and prints the counts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import json
import os
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.bus.codec import decode
from hub.connectors.base import Delivery, OutboundConfig, OutboundConnector
from hub.connectors.runtime import signing
from hub.connectors.runtime.inbound import InboundRuntime
from hub.connectors.runtime.outbound import Origin, OutboundRuntime, Result
from hub.connectors.runtime.webhook import webhook_router
from hub.connectors.testing.harness import Bus, Stores
from hub.connectors.testing.suites import InboundConnectorSuite
from hub.core.errors import ContractError
from hub.core.json_limits import MAX_DEPTH, MAX_ITEMS, MAX_NUMBER_CHARS, MAX_STRING_CHARS
from hub.ops_api import Readiness, make_ops_app
from hub.schemas.detention import DetentionStarted
from tests.connectors import (
    test_injus_kit,
    test_label_partner_kits,
    test_pi_transfers_kit,
    test_politie_kit,
    test_reclassering_kit,
    test_zvh_events_kit,
)

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "60"))
CASES: collections.Counter[str] = collections.Counter()
OUTCOMES: collections.Counter[tuple[str, str]] = collections.Counter()


def _suites(*modules: ModuleType) -> list[InboundConnectorSuite]:
    found = []
    for module in modules:
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, InboundConnectorSuite) and value is not InboundConnectorSuite:
                found.append(value())
    return found


SUITES = _suites(
    test_injus_kit,
    test_zvh_events_kit,
    test_pi_transfers_kit,
    test_politie_kit,
    test_reclassering_kit,
    test_label_partner_kits,
)


class Edge:
    """One connector's webhook in a real FastAPI app, publishing into a Bus."""

    def __init__(self, suite: InboundConnectorSuite, runner: asyncio.Runner):
        self.suite, self.runner = suite, runner
        self.connector = suite.connector.from_config(
            {**suite.config, "rate_per_s": 1e6, "burst": 10**6}
        )
        self.name = self.connector.name
        self.secret = signing.key(str(suite.config["webhook_secret"]))
        self.stores = Stores(labels=suite.labels)
        runner.run(self.stores.__aenter__())
        self.bus = Bus()
        runtime = InboundRuntime(
            self.connector,
            sessions=self.stores.sessions,
            send=self.bus.send,
            pseudonymiser=self.stores.pseudonymiser,
            vault=self.stores.vault,
        )
        app: FastAPI = make_ops_app(_ready, "fuzz", [webhook_router({self.name: runtime})])
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub"
        )

    def post(self, body: bytes, headers: dict[str, str], interface: str = "") -> int:
        """Send one input and check the outcome's contract; its status, counted under
        ``interface`` (the connector's name unless given)."""
        before = len(self.bus.records)
        answer = self.runner.run(
            self.client.post(f"/connectors/{self.name}/messages", content=body, headers=headers)
        )
        status = answer.status_code
        OUTCOMES[(interface or self.name, f"{status // 100}xx")] += 1
        assert status < 500, f"{self.name}: {status} {answer.text[:300]}"
        if status < 300:
            for record in self.bus.records[before:]:
                decode(record.headers, record.value)
            return status
        assert 400 <= status < 500, f"{self.name}: {status}"
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert json.loads(answer.text)["status"] == status
        assert len(self.bus.records) == before, f"{self.name}: a refused input published"
        return status

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.run(self.stores.__aexit__())


async def _ready() -> Readiness:
    return Readiness({"fuzz": True})


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as running:
        yield running


@pytest.fixture(scope="module")
def edges(runner: asyncio.Runner) -> Iterator[dict[str, Edge]]:
    made = {suite.build().name: Edge(suite, runner) for suite in SUITES}
    yield made
    for edge in made.values():
        edge.close()


@pytest.fixture(scope="module", autouse=True)
def _counts(report: Callable[[str], None]) -> Iterator[None]:
    yield
    for interface, cases in sorted(CASES.items()):
        outcomes = ", ".join(
            f"{kind} {n}" for (name, kind), n in sorted(OUTCOMES.items()) if name == interface
        )
        report(f"[fuzz] {interface}: {cases} cases, 0 failures ({outcomes or 'no HTTP'})")


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutate_json(data: Any, draw: st.DrawFn) -> Any:
    """Replace, drop or retype one value somewhere in ``data``."""
    if isinstance(data, dict) and data:
        key = draw(st.sampled_from(sorted(data)))
        action = draw(st.sampled_from(["replace", "drop", "descend"]))
        out = dict(data)
        if action == "drop":
            del out[key]
        elif action == "replace":
            out[key] = draw(JSON)
        else:
            out[key] = _mutate_json(out[key], draw)
        return out
    if isinstance(data, list) and data:
        index = draw(st.integers(0, len(data) - 1))
        out_list = list(data)
        out_list[index] = _mutate_json(out_list[index], draw)
        return out_list
    return draw(JSON)


@st.composite
def bodies(draw: st.DrawFn, valid: list[bytes]) -> bytes:
    """A valid message, or one broken by structure, by bytes, or replaced altogether."""
    base = draw(st.sampled_from(valid))
    how = draw(st.sampled_from(["valid", "structure", "bytes", "truncate", "random", "text"]))
    if how == "valid":
        return base
    if how == "structure":
        try:
            return json.dumps(_mutate_json(json.loads(base), draw)).encode()
        except ValueError:
            text = base.decode("utf-8", "replace")
            start = draw(st.integers(0, len(text)))
            end = draw(st.integers(start, min(len(text), start + 40)))
            return (text[:start] + draw(st.text(max_size=30)) + text[end:]).encode()
    if how == "bytes":
        data = bytearray(base)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "truncate":
        return base[: draw(st.integers(0, len(base)))]
    if how == "text":
        return draw(st.text(max_size=200)).encode()
    return draw(st.binary(max_size=400))


@st.composite
def headers(draw: st.DrawFn, secret: bytes, body: bytes) -> dict[str, str]:
    """Signed headers, or ones broken in one way: unsigned, wrongly signed, stale,
    from the future, garbage, or a wrong content type."""
    good = signing.signed_headers(secret, body)
    how = draw(
        st.sampled_from(["good", "good", "good", "unsigned", "wrong", "stale", "future", "junk"])
    )
    if how == "unsigned":
        good.pop(signing.SIGNATURE_HEADER)
    elif how == "wrong":
        good = signing.signed_headers(b"not-the-secret", body)
    elif how == "stale":
        good = signing.signed_headers(secret, body, timestamp=int(time.time()) - 7200)
    elif how == "future":
        good = signing.signed_headers(secret, body, timestamp=int(time.time()) + 7200)
    elif how == "junk":
        header = draw(st.sampled_from(sorted(good)))
        good[header] = draw(
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
        )
    kind = draw(st.sampled_from(["application/json", "application/xml", "text/plain", ""]))
    return {**good, "Content-Type": kind} if kind else good


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.build().name)
def test_every_webhook_input_ends_in_an_event_or_a_problem(
    suite: InboundConnectorSuite, edges: dict[str, Edge]
) -> None:
    edge = edges[suite.build().name]
    valid = [s.body for s in suite.scenarios] + list(suite.edge_cases.values())

    @FUZZ
    @given(data=st.data())
    def case(data: st.DataObject) -> None:
        body = data.draw(bodies(valid))
        edge.post(body, data.draw(headers(edge.secret, body)))
        CASES[edge.name] += 1

    case()


JSON_SUITES = [s for s in SUITES if s.scenarios[0].body.lstrip().startswith(b"{")]
PLACE = "\x00beyond\x00"


@st.composite
def beyond_the_limits(draw: st.DrawFn) -> bytes:
    """One JSON value past a limit, built from drawn sizes (not drawn text, so a case
    stays cheap however large)."""
    how = draw(st.sampled_from(["deep", "integer", "real", "constant", "string", "array"]))
    if how == "deep":
        levels = draw(st.integers(MAX_DEPTH, 100_000))
        opener = draw(st.sampled_from([b"[", b'{"a":']))
        return opener * levels + b"[]" + (b"]" if opener == b"[" else b"}") * levels
    if how == "integer":
        return draw(st.sampled_from([b"", b"-"])) + b"7" * draw(
            st.integers(MAX_NUMBER_CHARS + 1, 20_000)
        )
    if how == "real":
        return f"{draw(st.integers(1, 9))}e{draw(st.integers(309, 10**6))}".encode()
    if how == "constant":
        return draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity"]))
    if how == "string":
        return b'"' + b"x" * draw(st.integers(MAX_STRING_CHARS + 1, 300_000)) + b'"'
    return b"[" + b"0," * draw(st.integers(MAX_ITEMS, 100_000)) + b"0]"


@st.composite
def placed(draw: st.DrawFn, data: Any) -> Any:
    """``data`` with ``PLACE`` put somewhere: replacing a value, added as a new member,
    or appended to an array."""
    if isinstance(data, dict) and data:
        key = draw(st.sampled_from(sorted(data)))
        how = draw(st.sampled_from(["replace", "add", "descend"]))
        out = dict(data)
        if how == "add":
            out[f"extra-{len(out)}"] = PLACE
        else:
            out[key] = PLACE if how == "replace" else draw(placed(out[key]))
        return out
    if isinstance(data, list):
        return [*data, PLACE]
    return PLACE


@pytest.mark.parametrize("suite", JSON_SUITES, ids=lambda s: s.build().name)
def test_every_json_webhook_refuses_a_value_beyond_the_limits(
    suite: InboundConnectorSuite, edges: dict[str, Edge]
) -> None:
    edge = edges[suite.build().name]
    valid = [s.body for s in suite.scenarios] + list(suite.edge_cases.values())

    @FUZZ
    @given(data=st.data())
    def case(data: st.DataObject) -> None:
        base = json.loads(data.draw(st.sampled_from(valid)))
        text = json.dumps(data.draw(placed(base))).encode()
        body = text.replace(json.dumps(PLACE).encode(), data.draw(beyond_the_limits()), 1)
        interface = f"{edge.name} beyond the limits"
        status = edge.post(body, signing.signed_headers(edge.secret, body), interface)
        assert status == 422, f"{edge.name}: {status} for {body[:120]!r}"
        CASES[interface] += 1

    case()


HEADER_NAMES = st.sampled_from(
    ["ce_id", "ce_type", "ce_source", "ce_subject", "ce_time", "ce_specversion",
     "ce_dataschema", "ce_datacategories", "ce_correlationid", "content-type", "x-junk"]
)  # fmt: skip


def test_every_bus_record_decodes_or_is_refused_with_a_contract_error() -> None:
    """What the router does with a record: decode it, or dead-letter it on the
    ContractError. Anything else raised would crash the consumer."""
    sample = _sample_record()

    @FUZZ
    @given(
        changes=st.dictionaries(HEADER_NAMES, st.text(max_size=60) | st.binary(max_size=30)),
        value=st.sampled_from([sample[1]]) | st.binary(max_size=300),
    )
    def case(changes: dict[str, Any], value: bytes) -> None:
        headers = {**sample[0], **changes}
        with contextlib.suppress(ContractError):
            decode(headers, value)
        CASES["bus-record"] += 1

    case()


class _Partner(OutboundConnector[OutboundConfig]):
    name: ClassVar[str] = "fuzz-llc"
    version: ClassVar[str] = "0"
    partner: ClassVar[str] = "llz"
    config_model: ClassVar[type[OutboundConfig]] = OutboundConfig
    accepts = (DetentionStarted,)

    async def deliver(self, delivery: Delivery) -> None:
        return None


def test_an_outbound_runtime_never_raises_for_a_record(runner: asyncio.Runner) -> None:
    sample = _sample_record()
    stores = Stores()
    runner.run(stores.__aenter__())
    bus = Bus()
    runtime = OutboundRuntime(
        _Partner(OutboundConfig()),
        sessions=stores.sessions,
        vault=stores.vault,
        dead_letter=bus.dead_letter,
    )
    offsets = iter(range(10**9))

    @FUZZ
    @given(
        changes=st.dictionaries(HEADER_NAMES, st.text(max_size=60)),
        value=st.sampled_from([sample[1]]) | st.binary(max_size=300),
    )
    def case(changes: dict[str, Any], value: bytes) -> None:
        origin = Origin("delivery.llz.v1", 0, next(offsets), b"k")
        result = runner.run(runtime.handle({**sample[0], **changes}, value, origin))
        assert result in set(Result)
        CASES["delivery-record"] += 1

    try:
        case()
    finally:
        runner.run(stores.__aexit__())


def _sample_record() -> tuple[dict[str, Any], bytes]:
    from hub.bus.codec import encode
    from hub.connectors.testing.scenarios import sample_delivery
    from hub.schemas.categories import DataCategory
    from hub.schemas.envelope import HUB_SOURCE, Envelope

    notification = sample_delivery(
        "llz:fivoor",
        DetentionStarted,
        {"levensloopaanpak": True},
        {"levensloopaanpak": DataCategory.LABEL},
    )
    envelope = Envelope.for_event(notification, subject="psn-t1-" + "0" * 40, source=HUB_SOURCE)
    record = encode(notification, envelope)
    return dict(record.headers), record.value
