"""The kit is not vacuous: for every check, a deliberately broken connector fails it.

Each broken fixture differs from a passing example connector in one way only, and the
test asserts that exactly the check meant to catch it raises. Two outbound checks guard
what the runtime alone does (idempotency and decoding); no connector can break those,
so for them the runtime's guarantee is broken instead, to show the check would notice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

import pytest
from pydantic import ConfigDict

from hub.connectors import (
    Delivery,
    Emitted,
    InboundMessage,
    PartnerRequest,
    PermanentError,
    RetryableError,
)
from hub.connectors.http import ALREADY_THERE
from hub.connectors.reclassering import IrisSignals, IrisSignalsConfig
from hub.connectors.runtime import outbound as outbound_runtime
from hub.connectors.testing import KitCheck, inbound_checks, outbound_checks
from hub.connectors.testing.checks import ConfigSchema, HealthProbe, RegistrationAndMetadata
from hub.connectors.testing.suites import InboundConnectorSuite, OutboundConnectorSuite
from hub.connectors.zvh import ZvhNotifications, ZvhNotificationsConfig
from hub.logs import get_logger
from hub.schemas.signals import CrisisContact
from hub.state import idempotency
from tests.connectors import test_reclassering_kit as iris_kit
from tests.connectors import test_zvh_kit as zvh_kit

log = get_logger(__name__)


def _fails(suite: type, check: type[KitCheck[Any]]) -> str:
    instance = suite()
    with pytest.raises(AssertionError) as info:
        check().run(instance)
    assert f"[{check.name}]" in str(info.value), "the failure names its check"
    return str(info.value)


def _inbound(connector: type[IrisSignals], **attributes: Any) -> type[InboundConnectorSuite]:
    attributes = {"connector": connector, "require_entry_point": False, **attributes}
    return type("BrokenSuite", (iris_kit.TestIrisSignals,), attributes)


def _outbound(connector: type[ZvhNotifications], **attributes: Any) -> type[OutboundConnectorSuite]:
    attributes = {"connector": connector, "require_entry_point": False, **attributes}
    return type("BrokenSuite", (zvh_kit.TestZvhNotifications,), attributes)


# ---- inbound fixtures -------------------------------------------------------------


class BadName(IrisSignals):
    name: ClassVar[str] = "Bad Name"


class PlainTokenConfig(IrisSignalsConfig):
    api_token: str = "in the clear"


class PlainToken(IrisSignals):
    config_model: ClassVar[type[IrisSignalsConfig]] = PlainTokenConfig


class CrashingProbe(IrisSignals):
    async def check(self) -> None:
        raise RuntimeError("uncategorised")


class WrongEvent(IrisSignals):
    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        (item,) = super().translate(message)
        event = CrisisContact(
            occurred_at=item.event.occurred_at,  # type: ignore[attr-defined]
            assessment="x",
            outcome="y",
            crisis_team=item.event.supervisor,  # type: ignore[attr-defined]
        )
        return [Emitted(event=event, bsn=item.bsn, source_id=item.source_id)]


class Inventive(IrisSignals):
    """Emits a field its event does not declare: the bus would keep it, so the edge
    refuses it."""

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        return [
            replace(item, event=item.event.model_copy(update={"risk_score": 7}))
            for item in super().translate(message)
        ]


class FreshIds(IrisSignals):
    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        (item,) = super().translate(message)
        return [Emitted(event=item.event, bsn=item.bsn, source_id=str(uuid.uuid4()))]


class Lenient(IrisSignals):
    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        data = json.loads(message.body)
        data["schemaVersie"] = "1"
        return super().translate(InboundMessage(body=json.dumps(data).encode()))


class WideWindowConfig(IrisSignalsConfig):
    replay_window_s: int = 10**10


class WideWindow(IrisSignals):
    config_model: ClassVar[type[IrisSignalsConfig]] = WideWindowConfig


class Chatty(IrisSignals):
    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        items = super().translate(message)
        log.info("iris_signal", bsn=items[0].bsn)
        return items


class Printing(IrisSignals):
    """A print is a log line in a container."""

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        items = super().translate(message)
        print(f"signal for {items[0].bsn}")
        return items


SECLUDED = logging.getLogger("iris.secluded")
SECLUDED.propagate = False


class Secluded(IrisSignals):
    """Logs through a logger that does not pass its records to the root's handlers."""

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        items = super().translate(message)
        SECLUDED.warning("signal for %s", items[0].bsn)
        return items


class Grouped(IrisSignals):
    """The BSN written in groups, as on a letter: still the BSN."""

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        items = super().translate(message)
        bsn = items[0].bsn or ""
        log.info("iris_signal", client=f"{bsn[:4]}.{bsn[4:6]}.{bsn[6:]}")
        return items


class Descriptor(IrisSignals):
    """Writes to file descriptor 2 itself, past every Python stream."""

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        items = super().translate(message)
        os.write(2, f"signal for {items[0].bsn}\n".encode())
        return items


class Telling(IrisSignals):
    """Writes the BSN into the event's text, where the policy cannot remove it."""

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        return [
            replace(item, event=item.event.model_copy(update={"summary": f"BSN {item.bsn}"}))
            for item in super().translate(message)
        ]


class WrongTopic(IrisSignals):
    @classmethod
    def topics(cls) -> tuple[str, ...]:
        return ("signal.elsewhere.v1",)


INBOUND: list[tuple[type[KitCheck[Any]], type[InboundConnectorSuite]]] = [
    (RegistrationAndMetadata, _inbound(BadName)),
    (ConfigSchema, _inbound(PlainToken)),
    (HealthProbe, _inbound(CrashingProbe)),
    (inbound_checks.OutputsValidate, _inbound(WrongEvent)),
    (inbound_checks.OutputsValidate, _inbound(Inventive)),
    (inbound_checks.RedeliveryEmitsNothing, _inbound(FreshIds)),
    (inbound_checks.CannedEdgeCases, _inbound(Lenient)),
    (inbound_checks.WebhookSignature, _inbound(WideWindow)),
    (inbound_checks.NoSecretOrBsnInLogsOrHeaders, _inbound(Chatty)),
    (inbound_checks.NoSecretOrBsnInLogsOrHeaders, _inbound(Printing)),
    (inbound_checks.NoSecretOrBsnInLogsOrHeaders, _inbound(Secluded)),
    (inbound_checks.NoSecretOrBsnInLogsOrHeaders, _inbound(Grouped)),
    (inbound_checks.NoSecretOrBsnInLogsOrHeaders, _inbound(Descriptor)),
    (inbound_checks.NoBsnInEvents, _inbound(Telling)),
    (inbound_checks.RoundTripInMemory, _inbound(WrongTopic, check_timeout_s=0.5)),
]


@pytest.mark.parametrize(
    ("check", "suite"), INBOUND, ids=[f"{c.name}-{s.connector.__name__}" for c, s in INBOUND]
)
def test_inbound_kit_fails_the_connector_that_breaks_it(
    check: type[KitCheck[Any]], suite: type
) -> None:
    _fails(suite, check)


@pytest.mark.integration
def test_real_broker_round_trip_fails_the_connector_that_breaks_it(
    kafka_settings: Any,
) -> None:
    from hub.connectors.testing import plugin

    plugin.use_broker(kafka_settings)
    suite = _inbound(WrongTopic, real_broker_timeout_s=3.0)
    _fails(suite, inbound_checks.RoundTripRealBroker)


def test_every_inbound_check_has_a_broken_fixture() -> None:
    covered = {c for c, _ in INBOUND} | {inbound_checks.RoundTripRealBroker}
    assert covered == set(InboundConnectorSuite.checks)


# ---- outbound fixtures ------------------------------------------------------------


class BadVersion(ZvhNotifications):
    version: ClassVar[str] = "v1"


class LooseConfig(ZvhNotificationsConfig):
    model_config = ConfigDict(extra="allow", frozen=True)


class Loose(ZvhNotifications):
    config_model: ClassVar[type[ZvhNotificationsConfig]] = LooseConfig


class HangingProbe(ZvhNotifications):
    async def check(self) -> None:
        await asyncio.sleep(5)


class Silent(ZvhNotifications):
    async def deliver(self, delivery: Delivery) -> None:
        return None


class GivesUpAt503(ZvhNotifications):
    async def deliver(self, delivery: Delivery) -> None:
        try:
            await super().deliver(delivery)
        except RetryableError as error:
            raise PermanentError(error.message) from None


class FreshKeys(ZvhNotifications):
    """A new Idempotency-Key per attempt: the partner cannot see a retry is a repeat."""

    header: ClassVar[str] = "Idempotency-Key"

    async def deliver(self, delivery: Delivery) -> None:
        api = self.api()
        fresh = {self.header: str(uuid.uuid4())}
        response = await api.call("POST", self.path, json=self.render(delivery), headers=fresh)
        api.settle(response, accept=ALREADY_THERE)


class FreshRequestIds(FreshKeys):
    """The same under another header name."""

    header: ClassVar[str] = "X-Idempotency-Key"


class NamesTheClient(ZvhNotifications):
    """Puts the BSN in its refusal: the dead letter's reason is shown to operators."""

    async def deliver(self, delivery: Delivery) -> None:
        try:
            await super().deliver(delivery)
        except PermanentError:
            raise PermanentError(f"the partner refused the notice for BSN {delivery.bsn}") from None


class RetriesA400(ZvhNotifications):
    async def deliver(self, delivery: Delivery) -> None:
        try:
            await super().deliver(delivery)
        except PermanentError as error:
            raise RetryableError(error.message) from None


class RefusesARepeat(ZvhNotifications):
    """Settles without ``accept=ALREADY_THERE``: the crisis connector did, and the outside
    look's repeats after two broker deaths became false dead letters."""

    async def deliver(self, delivery: Delivery) -> None:
        api = self.api()
        response = await api.call(
            "POST",
            self.path,
            json=self.render(delivery),
            headers={"Idempotency-Key": delivery.delivery_id},
        )
        api.settle(response)


class LogsItsKey(ZvhNotifications):
    async def deliver(self, delivery: Delivery) -> None:
        key = self.config.api_key.get_secret_value() if self.config.api_key else ""
        log.info("zvh_delivery", authorization=key)
        await super().deliver(delivery)


class WrongDeliveryTopic(ZvhNotifications):
    @classmethod
    def topics(cls) -> tuple[str, ...]:
        return ("delivery.elsewhere.v1",)


OUTBOUND: list[tuple[type[KitCheck[Any]], type[OutboundConnectorSuite]]] = [
    (RegistrationAndMetadata, _outbound(BadVersion)),
    (ConfigSchema, _outbound(Loose)),
    (HealthProbe, _outbound(HangingProbe, check_timeout_s=0.2)),
    (outbound_checks.DeliversEveryScenario, _outbound(Silent)),
    (outbound_checks.RetryableIsRetried, _outbound(GivesUpAt503)),
    (outbound_checks.RetryableIsRetried, _outbound(FreshKeys)),
    (outbound_checks.RetryableIsRetried, _outbound(FreshRequestIds)),
    (outbound_checks.PermanentIsDeadLettered, _outbound(RetriesA400)),
    (outbound_checks.RepeatThePartnerHasIsDelivered, _outbound(RefusesARepeat)),
    (outbound_checks.NoSecretOrBsnInLogsOrHeaders, _outbound(LogsItsKey)),
    (outbound_checks.NoSecretOrBsnInLogsOrHeaders, _outbound(NamesTheClient)),
    (outbound_checks.RoundTripInMemory, _outbound(WrongDeliveryTopic, check_timeout_s=0.5)),
]


@pytest.mark.parametrize(
    ("check", "suite"), OUTBOUND, ids=[f"{c.name}-{s.connector.__name__}" for c, s in OUTBOUND]
)
def test_outbound_kit_fails_the_connector_that_breaks_it(
    check: type[KitCheck[Any]], suite: type
) -> None:
    _fails(suite, check)


def test_redelivery_check_fails_when_idempotency_is_broken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def never_seen(*_: object) -> set[str]:
        return set()

    monkeypatch.setattr(idempotency, "processed_among", never_seen)
    _fails(zvh_kit.TestZvhNotifications, outbound_checks.RedeliveryDeliversNothing)


def test_malformed_record_check_fails_when_decoding_crashes_the_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def crashing(*_: object) -> None:
        raise RuntimeError("a decoder that does not raise ContractError")

    monkeypatch.setattr(outbound_runtime, "open_record", crashing)
    _fails(zvh_kit.TestZvhNotifications, outbound_checks.MalformedRecordIsDeadLettered)


@pytest.mark.integration
def test_real_broker_outbound_round_trip_fails_the_connector_that_breaks_it(
    kafka_settings: Any,
) -> None:
    from hub.connectors.testing import plugin

    plugin.use_broker(kafka_settings)
    suite = _outbound(WrongDeliveryTopic, real_broker_timeout_s=3.0)
    _fails(suite, outbound_checks.RoundTripRealBroker)


def test_every_outbound_check_has_a_broken_fixture() -> None:
    covered = {c for c, _ in OUTBOUND} | {
        outbound_checks.RedeliveryDeliversNothing,
        outbound_checks.MalformedRecordIsDeadLettered,
        outbound_checks.RoundTripRealBroker,
    }
    assert covered == set(OutboundConnectorSuite.checks)


def test_http_partner_double_answers_as_told() -> None:
    from hub.connectors.testing import HttpPartner

    partner = HttpPartner()
    partner.fail_next("retryable")

    async def two() -> list[int]:
        request = PartnerRequest("GET", "http://p/", {}, b"")
        return [(await partner.transport.send(request)).status_code for _ in range(2)]

    assert asyncio.run(two()) == [503, 200]
    partner.fail_next("repeat")
    assert asyncio.run(two()) == [409, 200]
    assert [r.path for r in partner.requests] == ["/"] * 4
