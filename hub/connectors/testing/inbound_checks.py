"""The standard checks of an inbound connector."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from hub.bus.broker import make_broker
from hub.bus.codec import decode
from hub.bus.publisher import EventPublisher
from hub.connectors.base import InboundMessage
from hub.connectors.runtime import signing
from hub.connectors.runtime.inbound import InboundRuntime, Send
from hub.connectors.runtime.signing import signed_headers
from hub.connectors.runtime.webhook import webhook_router
from hub.connectors.testing.checks import KitCheck
from hub.connectors.testing.harness import (
    Bus,
    Stores,
    captured_logs,
    connected,
    leaks,
    run,
    secret_values,
)
from hub.connectors.testing.scenarios import CANNED_MALFORMED, SUITE_EDGE_CASES
from hub.core.errors import AuthenticationError, ContractError, PayloadTooLarge
from hub.core.polling import wait_for
from hub.core.record import KafkaRecord
from hub.core.subjects import is_pseudonym
from hub.ops_api import Readiness, make_ops_app
from hub.schemas.base import CanonicalEvent

if TYPE_CHECKING:
    from hub.connectors.testing.suites import InboundConnectorSuite


def _runtime(suite: InboundConnectorSuite, stores: Stores, send: Send) -> InboundRuntime:
    return InboundRuntime(
        suite.build(),
        sessions=stores.sessions,
        send=send,
        pseudonymiser=stores.pseudonymiser,
        vault=stores.vault,
    )


def _message(body: bytes, content_type: str = "application/json") -> InboundMessage:
    return InboundMessage(body=body, content_type=content_type)


class _InboundCheck(KitCheck["InboundConnectorSuite"]):
    def scenarios(self, suite: InboundConnectorSuite) -> None:
        if not suite.scenarios:
            self.fail("the suite lists no scenarios; give at least one valid partner message")


class OutputsValidate(_InboundCheck):
    """Every scenario yields the events it expects, each valid against its declared
    schema, with a pseudonym (never a BSN) as subject and as Kafka key."""

    name = "outputs-validate"

    def run(self, suite: InboundConnectorSuite) -> None:
        self.scenarios(suite)

        async def go() -> None:
            async with Stores(labels=suite.labels) as stores:
                bus = Bus()
                runtime = _runtime(suite, stores, bus.send)
                for scenario in suite.scenarios:
                    try:
                        published = await runtime.ingest(
                            _message(scenario.body, scenario.content_type)
                        )
                    except ContractError as error:
                        self.fail(f"scenario {scenario.name!r} was rejected: {error}")
                    types = tuple(type(decode(r.headers, r.value)[1]) for r in bus.records)
                    if types != scenario.expect:
                        self.fail(
                            f"scenario {scenario.name!r} yielded {types}, not {scenario.expect}"
                        )
                    for record, envelope in zip(bus.records, published, strict=True):
                        back, _ = decode(record.headers, record.value)
                        if not is_pseudonym(back.subject) or record.key != back.subject.encode():
                            self.fail(f"scenario {scenario.name!r}: subject or key is no pseudonym")
                        if back != envelope:
                            self.fail(
                                f"scenario {scenario.name!r}: the record does not decode back"
                            )
                    bus.records.clear()

        run(go())


class RedeliveryEmitsNothing(_InboundCheck):
    """The same partner message received again, also after a restart of the runtime,
    publishes nothing new: event ids come from the partner's record ids."""

    name = "redelivery-emits-nothing"

    def run(self, suite: InboundConnectorSuite) -> None:
        self.scenarios(suite)

        async def go() -> None:
            async with Stores(labels=suite.labels) as stores:
                bus = Bus()
                for scenario in suite.scenarios:
                    first = await _runtime(suite, stores, bus.send).ingest(_message(scenario.body))
                    again = await _runtime(suite, stores, bus.send).ingest(_message(scenario.body))
                    if not first:
                        self.fail(f"scenario {scenario.name!r} published nothing the first time")
                    if again:
                        self.fail(f"scenario {scenario.name!r} was published again: {len(again)}")

        run(go())


class CannedEdgeCases(_InboundCheck):
    """Malformed JSON and XML, XML entity expansion and external entities, an empty or
    binary body, an oversized body, and the suite's own unknown-schema-version and
    missing-subject messages are each rejected with a ContractError naming a field, and
    publish nothing."""

    name = "canned-edge-cases"

    def run(self, suite: InboundConnectorSuite) -> None:
        missing = [case for case in SUITE_EDGE_CASES if case not in suite.edge_cases]
        if missing:
            self.fail(f"the suite must give these partner-format edge cases: {missing}")
        limit = int(getattr(suite.build().config, "max_body_bytes", 1_048_576))
        cases: dict[str, tuple[bytes, type[ContractError]]] = {
            name: (body, ContractError) for name, body in CANNED_MALFORMED.items()
        }
        cases.update({name: (body, ContractError) for name, body in suite.edge_cases.items()})
        cases["oversized"] = (b" " * (limit + 1), PayloadTooLarge)

        async def go() -> None:
            async with Stores(labels=suite.labels) as stores:
                bus = Bus()
                runtime = _runtime(suite, stores, bus.send)
                for name, (body, expected) in cases.items():
                    try:
                        await runtime.ingest(_message(body))
                    except expected as error:
                        if not error.field:
                            self.fail(f"edge case {name!r}: the error names no field")
                    except Exception as exc:
                        self.fail(f"edge case {name!r} raised {type(exc).__name__}: {exc}")
                    else:
                        self.fail(f"edge case {name!r} was accepted")
                    if bus.records:
                        self.fail(f"edge case {name!r} published {len(bus.records)} record(s)")

        run(go())


class WebhookSignature(_InboundCheck):
    """Over the webhook, a correctly signed scenario is accepted (202); a wrong
    signature, a stale timestamp or no signature is refused with 401
    application/problem+json, and publishes nothing."""

    name = "webhook-signature"

    def run(self, suite: InboundConnectorSuite) -> None:
        self.scenarios(suite)
        secret = getattr(suite.build().config, "webhook_secret", None)
        if secret is None:
            pytest.skip("this connector takes no webhooks (no webhook_secret in its config)")
        key = signing.key(secret.get_secret_value())
        body = suite.scenarios[0].body

        async def go() -> None:
            async with Stores(labels=suite.labels) as stores:
                bus = Bus()
                runtime = _runtime(suite, stores, bus.send)
                app = make_ops_app(
                    _ready, "kit", [webhook_router({runtime.connector.name: runtime})]
                )
                url = f"/connectors/{runtime.connector.name}/messages"
                attempts: dict[str, dict[str, str]] = {
                    "wrong signature": signed_headers(b"not-the-key", body),
                    "stale timestamp": signed_headers(key, body, timestamp=1_000_000_000),
                    "no signature": {},
                }
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://kit") as client:
                    for what, headers in attempts.items():
                        response = await client.post(url, content=body, headers=headers)
                        kind = response.headers.get("content-type", "")
                        if response.status_code != AuthenticationError.status:
                            self.fail(f"{what}: answered {response.status_code}, not 401")
                        if not kind.startswith("application/problem+json"):
                            self.fail(f"{what}: answered {kind}, not problem+json")
                        if bus.records:
                            self.fail(f"{what}: something was published")
                    response = await client.post(
                        url, content=body, headers=signed_headers(key, body)
                    )
                    if response.status_code != 202 or not bus.records:
                        self.fail(f"a signed scenario answered {response.status_code}")

        run(go())


async def _ready() -> Readiness:
    return Readiness({"kit": True})


class NoSecretOrBsnInLogsOrHeaders(_InboundCheck):
    """Nothing the connector or its runtime logs, and no Kafka header it publishes,
    holds a config secret or a scenario's BSN or name (checked before the log scrubber,
    which is a safety net, not an excuse)."""

    name = "no-secret-or-bsn-in-logs-or-headers"

    def run(self, suite: InboundConnectorSuite) -> None:
        self.scenarios(suite)
        needles = secret_values(suite.build().config)
        for scenario in suite.scenarios:
            needles.extend(scenario.personal_data)
        if not any(s.personal_data for s in suite.scenarios):
            self.fail("give each scenario's personal_data (its BSN and names), so it can be sought")

        async def go() -> list[KafkaRecord]:
            async with Stores(labels=suite.labels) as stores:
                bus = Bus()
                runtime = _runtime(suite, stores, bus.send)
                for scenario in suite.scenarios:
                    await runtime.ingest(_message(scenario.body, scenario.content_type))
                for body in suite.edge_cases.values():
                    with contextlib.suppress(ContractError):
                        await runtime.ingest(_message(body))
                return bus.records

        with captured_logs() as lines:
            records = run(go())
        headers = [f"{k}={v}" for r in records for k, v in r.headers.items()]
        found = leaks([*lines, *headers, *(r.key.decode() for r in records)], needles)
        if found:
            self.fail(f"{len(found)} secret or personal value(s) leaked into logs or headers")


class NoBsnInEvents(_InboundCheck):
    """The BSN travels beside an event (into the vault; the subject is a pseudonym),
    never inside one: no field of an emitted event holds the client's BSN. A name may:
    it is identity data, which the sharing rules disclose or remove per recipient."""

    name = "no-bsn-in-events"

    def run(self, suite: InboundConnectorSuite) -> None:
        self.scenarios(suite)
        given = {p for s in suite.scenarios for p in s.personal_data if _looks_like_bsn(p)}

        async def go() -> list[tuple[set[str], CanonicalEvent]]:
            async with Stores(labels=suite.labels) as stores:
                bus = Bus()
                runtime = _runtime(suite, stores, bus.send)
                for scenario in suite.scenarios:
                    with contextlib.suppress(ContractError):
                        await runtime.ingest(_message(scenario.body, scenario.content_type))
                decoded = [decode(r.headers, r.value) for r in bus.records]
                async with stores.sessions() as session:
                    vault = await stores.vault.reveal_all(session, {e.subject for e, _ in decoded})
            return [({vault.get(e.subject, ""), *given}, event) for e, event in decoded]

        for bsns, event in run(go()):
            if leaks([event.model_dump_json()], sorted(bsns)):
                self.fail(
                    f"a {type(event).__name__} holds the client's BSN in a field; the BSN "
                    "goes beside the event (Emitted.bsn), never in it"
                )


def _looks_like_bsn(value: str) -> bool:
    return value.isdigit() and len(value) in (8, 9)


def _round_trip(suite: InboundConnectorSuite, broker: KafkaBroker, real: bool) -> None:
    scenario = suite.scenarios[0]
    received: list[KafkaMessage] = []
    topics = suite.connector.topics()

    @broker.subscriber(
        *topics, group_id=f"kit-{suite.connector.name}", auto_offset_reset="earliest"
    )
    async def collect(message: KafkaMessage) -> None:
        received.append(message)

    budget = suite.real_broker_timeout_s if real else suite.check_timeout_s

    async def go() -> list[Any]:
        async with Stores(labels=suite.labels) as stores:
            async with connected(broker, real=real) as running:
                runtime = _runtime(suite, stores, EventPublisher(running).send)
                message = _message(scenario.body, scenario.content_type)
                published = await runtime.ingest(message)
                wanted = {e.id for e in published}
                # A shared broker may also hold earlier records of the topic: wait for ours.
                await wait_for(lambda: wanted <= {m.headers.get("ce_id") for m in received}, budget)
            return published

    try:
        published = run(go())
    except TimeoutError:
        raise AssertionError(
            f"nothing arrived on {topics} within {suite.check_timeout_s} s"
        ) from None
    mine = {e.id for e in published}
    # Other records on a shared broker may be sealed under another hub's keys: ours only.
    ids = {decode(m.headers, m.body)[0].id for m in received if m.headers.get("ce_id") in mine}
    if mine - ids:
        raise AssertionError("published events did not arrive on the broker")


class RoundTripInMemory(_InboundCheck):
    """A scenario published through the runtime arrives on FastStream's in-memory
    TestKafkaBroker with CloudEvents headers that decode back to the same event."""

    name = "round-trip-in-memory"

    def run(self, suite: InboundConnectorSuite) -> None:
        self.scenarios(suite)
        try:
            _round_trip(suite, KafkaBroker(), real=False)
        except AssertionError as error:
            self.fail(str(error))


class RoundTripRealBroker(_InboundCheck):
    """The same round trip over real TCP on the embedded tansu broker (run with
    ``--hub-real-broker``)."""

    name = "round-trip-real-broker"
    marks = (pytest.mark.hub_real_broker,)

    def run(self, suite: InboundConnectorSuite) -> None:
        self.scenarios(suite)
        from hub.connectors.testing.plugin import shared_embedded_kafka

        try:
            _round_trip(suite, make_broker(shared_embedded_kafka()), real=True)
        except AssertionError as error:
            self.fail(str(error))


CHECKS: tuple[type[KitCheck[Any]], ...] = (
    OutputsValidate,
    RedeliveryEmitsNothing,
    CannedEdgeCases,
    WebhookSignature,
    NoSecretOrBsnInLogsOrHeaders,
    NoBsnInEvents,
    RoundTripInMemory,
    RoundTripRealBroker,
)
