"""The standard checks of an outbound connector, and of a look-up connector."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from faststream.kafka import KafkaBroker

from hub.backoff import Backoff
from hub.bus.broker import make_broker
from hub.bus.codec import encode
from hub.bus.deadletter import topic_publisher
from hub.bus.publisher import EventPublisher
from hub.connectors.exchange import PartnerRequest
from hub.connectors.runtime.outbound import (
    Origin,
    OutboundRuntime,
    Result,
    deliveries_subscriber,
)
from hub.connectors.testing.checks import KitCheck
from hub.connectors.testing.harness import (
    Bus,
    HttpPartner,
    Stores,
    captured_logs,
    connected,
    leaks,
    run,
    secret_values,
)
from hub.connectors.testing.scenarios import OutboundScenario
from hub.core.errors import ContractError
from hub.core.polling import wait_for
from hub.core.record import KafkaRecord
from hub.core.topics import DELIVERIES_GROUP
from hub.schemas.case import KedoLookupResult
from hub.schemas.envelope import HUB_SOURCE, Envelope
from hub.settings import KafkaSettings

if TYPE_CHECKING:
    from hub.connectors.testing.suites import LookupConnectorSuite, OutboundConnectorSuite

KIT_ATTEMPTS = 3
NO_PAUSE = Backoff(max_attempts=KIT_ATTEMPTS, initial_s=0.0, max_s=0.0)


async def _settled(runtime: OutboundRuntime, result: Result) -> Result:
    """What became of a delivery the runtime queued: its retries, run now (the kit's
    backoff has no pauses), until it leaves the queue."""
    for _ in range(KIT_ATTEMPTS + 1):
        if result is not Result.QUEUED:
            return result
        done = await runtime.retry_due()
        result = done[-1] if done else result
    return result


def _runtime(
    suite: OutboundConnectorSuite, stores: Stores, bus: Bus, partner: HttpPartner
) -> OutboundRuntime:
    return OutboundRuntime(
        suite.build(partner),
        sessions=stores.sessions,
        vault=stores.vault,
        dead_letter=bus.dead_letter,
        backoff=NO_PAUSE,
    )


async def _record(stores: Stores, scenario: OutboundScenario) -> KafkaRecord:
    """The delivery record the router would publish, with the BSN in the vault if set."""
    bsn = scenario.bsn or "123456782"
    subject = stores.pseudonymiser.pseudonym(bsn)
    notification = scenario.notification
    if scenario.bsn:
        notification = notification.model_copy(update={"bsn_permitted": True})
        async with stores.sessions.begin() as session:
            await stores.vault.remember(session, subject, bsn)
    envelope = Envelope.for_event(
        notification, subject=subject, source=HUB_SOURCE, event_id=notification.idempotency_key
    )
    return encode(notification, envelope)


def _origin(record: KafkaRecord) -> Origin:
    return Origin(record.topic, 0, 0, record.key)


class _OutboundCheck(KitCheck["OutboundConnectorSuite"]):
    def scenarios(self, suite: OutboundConnectorSuite) -> None:
        if not suite.scenarios:
            self.fail("the suite lists no scenarios; give at least one delivery")

    def handle_all(
        self, suite: OutboundConnectorSuite, partner: HttpPartner, times: int = 1
    ) -> tuple[list[Result], Bus]:
        async def go() -> tuple[list[Result], Bus]:
            async with Stores() as stores:
                bus, results = Bus(), []
                for scenario in suite.scenarios:
                    record = await _record(stores, scenario)
                    for _ in range(times):
                        runtime = _runtime(suite, stores, bus, partner)
                        handled = await runtime.handle(
                            record.headers, record.value, _origin(record)
                        )
                        results.append(await _settled(runtime, handled))
                return results, bus

        return run(go())


class DeliversEveryScenario(_OutboundCheck):
    """Every scenario is delivered to the partner at the first try, carrying its
    delivery id, and nothing is dead-lettered."""

    name = "delivers-every-scenario"

    def run(self, suite: OutboundConnectorSuite) -> None:
        self.scenarios(suite)
        partner = HttpPartner()
        results, bus = self.handle_all(suite, partner)
        if results != [Result.DELIVERED] * len(suite.scenarios):
            self.fail(f"results: {[str(r) for r in results]}; dead letters: {_reasons(bus)}")
        if len(partner.requests) != len(suite.scenarios):
            self.fail(
                f"the partner got {len(partner.requests)} requests for {len(results)} deliveries"
            )
        for scenario, request in zip(suite.scenarios, partner.requests, strict=True):
            key = scenario.notification.idempotency_key
            if not _carries(request, key):
                self.fail(f"scenario {scenario.name!r}: the request does not carry the delivery id")


class RetryableIsRetried(_OutboundCheck):
    """A partner failure worth retrying (HTTP 503) raises RetryableError: the runtime
    queues the delivery, tries again from the queue, and it succeeds on the second
    attempt, with the first attempt's Idempotency-Key (the partner de-duplicates on it:
    a new key per attempt would let a retry of a request that did arrive count twice)."""

    name = "retryable-is-retried"

    def run(self, suite: OutboundConnectorSuite) -> None:
        self.scenarios(suite)
        partner = HttpPartner()
        partner.fail_next("retryable")
        results, bus = self.handle_all(suite, partner)
        if results[0] is not Result.DELIVERED:
            self.fail(f"after one 503 the result was {results[0]}: {_reasons(bus)}")
        if len(partner.requests) != len(suite.scenarios) + 1:
            self.fail(f"the partner got {len(partner.requests)} requests, expected one retry")
        first, retry = (_idempotency_keys(r) for r in partner.requests[:2])
        if first != retry:
            self.fail(f"the retry's idempotency headers were {retry}, the first attempt's {first}")


def _idempotency_keys(request: PartnerRequest) -> dict[str, str]:
    """Every header that names the request for de-duplication, whatever its spelling."""
    return {
        k.lower(): v
        for k, v in request.headers.items()
        if "idempotency" in k.lower() or "request-id" in k.lower()
    }


class PermanentIsDeadLettered(_OutboundCheck):
    """A partner refusal (HTTP 400) raises PermanentError: the delivery is tried once
    and dead-lettered with its reason and the original record (what comes later for the
    same client and partner then waits behind it, so fewer requests may follow)."""

    name = "permanent-is-dead-lettered"

    def run(self, suite: OutboundConnectorSuite) -> None:
        self.scenarios(suite)
        partner = HttpPartner()
        partner.fail_next("permanent")
        results, bus = self.handle_all(suite, partner)
        if results[0] is not Result.DEAD_LETTERED or not bus.dead_letters:
            self.fail(f"after a 400 the result was {results[0]}")
        body = json.loads(bus.dead_letters[0][0])
        if (
            body["error"]["type"].rsplit("/", 1)[-1] != "permanent"
            or not body["original"]["value_b64"]
        ):
            self.fail(f"the dead letter lacks its reason or the original: {body['error']}")
        if len(partner.requests) > len(suite.scenarios):
            self.fail("a permanent failure was retried")


class RedeliveryDeliversNothing(_OutboundCheck):
    """The same delivery record consumed again, also by a restarted runtime, reaches
    the partner once."""

    name = "redelivery-delivers-nothing"

    def run(self, suite: OutboundConnectorSuite) -> None:
        self.scenarios(suite)
        partner = HttpPartner()
        results, _ = self.handle_all(suite, partner, times=2)
        if results.count(Result.DUPLICATE) != len(suite.scenarios):
            self.fail(f"results: {[str(r) for r in results]}")
        if len(partner.requests) != len(suite.scenarios):
            self.fail(f"the partner got {len(partner.requests)} requests")


class RepeatThePartnerHasIsDelivered(_OutboundCheck):
    """A partner that has the delivery already (the hub stopped after the partner took
    it and before it recorded that) answers the repeat with 409: that is delivered, not
    a refusal. A connector that dead-letters it raises a false alarm, and holds that
    client's later deliveries to the partner behind it (an outside look's finding)."""

    name = "repeat-the-partner-has-is-delivered"

    def run(self, suite: OutboundConnectorSuite) -> None:
        self.scenarios(suite)
        partner = HttpPartner()
        partner.fail_next("repeat", times=len(suite.scenarios))
        results, bus = self.handle_all(suite, partner)
        if results != [Result.DELIVERED] * len(suite.scenarios):
            self.fail(f"a 409 gave {[str(r) for r in results]}: {_reasons(bus)}")


class MalformedRecordIsDeadLettered(_OutboundCheck):
    """A record that is not a valid delivery is dead-lettered with its reason; the
    consumer does not crash and the partner hears nothing."""

    name = "malformed-record-is-dead-lettered"

    def run(self, suite: OutboundConnectorSuite) -> None:
        partner = HttpPartner()

        async def go() -> tuple[Result, Bus]:
            async with Stores() as stores:
                bus = Bus()
                runtime = _runtime(suite, stores, bus, partner)
                origin = Origin("delivery.kit.v1", 0, 0, None)
                result = await runtime.handle({"ce_type": "nl.ketenhub.x.v1"}, b"{", origin)
                return result, bus

        try:
            result, bus = run(go())
        except Exception as exc:
            self.fail(f"the consumer crashed with {type(exc).__name__} instead of dead-lettering")
        if result is not Result.DEAD_LETTERED or not bus.dead_letters or partner.requests:
            self.fail(f"the result was {result}; partner requests: {len(partner.requests)}")
        slug = bus.dead_letters[0][2].get("x-hub-error")
        if slug != ContractError.slug:
            self.fail(f"the dead letter says {slug!r}, not {ContractError.slug!r}")


class NoSecretOrBsnInLogsOrHeaders(_OutboundCheck):
    """Nothing logged while delivering, retrying and dead-lettering, no dead-letter
    header and no dead letter's reason (which `hub dlq list` shows operators) holds a
    config secret or a scenario's BSN or name."""

    name = "no-secret-or-bsn-in-logs-or-headers"

    def run(self, suite: OutboundConnectorSuite) -> None:
        self.scenarios(suite)
        needles = secret_values(suite.build().config)
        for scenario in suite.scenarios:
            needles.extend(scenario.personal_data)
            if scenario.bsn:
                needles.append(scenario.bsn)
        partner = HttpPartner()
        partner.fail_next("retryable")
        partner.fail_next("permanent")
        with captured_logs() as lines:
            _, bus = self.handle_all(suite, partner)
        headers = [f"{k}={v}" for _, _, h in bus.dead_letters for k, v in h.items()]
        reasons = [json.dumps(json.loads(body)["error"]) for body, _, _ in bus.dead_letters]
        found = leaks([*lines, *headers, *reasons], needles)
        if found:
            self.fail(f"{len(found)} secret or personal value(s) leaked into logs or headers")


def _round_trip(
    suite: OutboundConnectorSuite, broker: KafkaBroker, kafka: KafkaSettings, real: bool
) -> int:
    partner = HttpPartner()
    budget = suite.real_broker_timeout_s if real else suite.check_timeout_s

    async def go() -> None:
        async with Stores() as stores:
            record = await _record(stores, suite.scenarios[0])

            runtime = OutboundRuntime(
                suite.build(partner),
                sessions=stores.sessions,
                vault=stores.vault,
                dead_letter=topic_publisher(broker),
                backoff=NO_PAUSE,
            )
            # In the group a hub process reads its connectors in (`hub up`, `hub run`).
            broker.include_router(deliveries_subscriber([runtime], kafka, DELIVERIES_GROUP))
            async with connected(broker, real=real) as running:
                await EventPublisher(running).send(record)
                key = suite.scenarios[0].notification.idempotency_key
                # A shared broker may also hold earlier deliveries: wait for this one.
                await wait_for(lambda: any(_carries(r, key) for r in partner.requests), budget)

    run(go())
    return len(partner.requests)


class RoundTripInMemory(_OutboundCheck):
    """A delivery published on FastStream's in-memory TestKafkaBroker is consumed from
    the connector's delivery topic and reaches the partner."""

    name = "round-trip-in-memory"

    def run(self, suite: OutboundConnectorSuite) -> None:
        self.scenarios(suite)
        try:
            _round_trip(suite, KafkaBroker(), KafkaSettings(), real=False)
        except TimeoutError:
            self.fail("the delivery never reached the partner")


class RoundTripRealBroker(_OutboundCheck):
    """The same round trip over real TCP on the embedded tansu broker (run with
    ``--hub-real-broker``)."""

    name = "round-trip-real-broker"
    marks = (pytest.mark.hub_real_broker,)

    def run(self, suite: OutboundConnectorSuite) -> None:
        self.scenarios(suite)
        from hub.connectors.testing.plugin import shared_embedded_kafka

        kafka = shared_embedded_kafka()
        try:
            _round_trip(suite, make_broker(kafka), kafka, real=True)
        except TimeoutError:
            self.fail("the delivery never reached the partner")


def _carries(request: PartnerRequest, key: str) -> bool:
    """Whether a partner request carries the delivery id, as a header or in the body."""
    return key in request.headers.get("idempotency-key", "") or key.encode() in request.content


def _reasons(bus: Bus) -> list[str]:
    return [json.loads(value)["error"]["detail"] for value, _, _ in bus.dead_letters]


class AnswersValidate(KitCheck["LookupConnectorSuite"]):
    """Every look-up scenario is answered with a valid KedoLookupResult, or a
    RetryableError while the partner is down."""

    name = "answers-validate"

    def run(self, suite: LookupConnectorSuite) -> None:
        if not suite.scenarios:
            self.fail("the suite lists no scenarios")
        connector = suite.build()

        async def go() -> list[Any]:
            return [await connector.lookup(s.bsn) for s in suite.scenarios]

        for answer in run(go()):
            if not isinstance(answer, KedoLookupResult):
                self.fail(f"the answer is a {type(answer).__name__}, not a KedoLookupResult")


CHECKS: tuple[type[KitCheck[Any]], ...] = (
    DeliversEveryScenario,
    RetryableIsRetried,
    PermanentIsDeadLettered,
    RedeliveryDeliversNothing,
    RepeatThePartnerHasIsDelivered,
    MalformedRecordIsDeadLettered,
    NoSecretOrBsnInLogsOrHeaders,
    RoundTripInMemory,
    RoundTripRealBroker,
)
LOOKUP_CHECKS: tuple[type[KitCheck[Any]], ...] = (AnswersValidate,)
