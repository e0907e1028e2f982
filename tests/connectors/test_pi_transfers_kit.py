"""The PI transfer notices connector passes the kit, and the sending PI is the source."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from hub.connectors import InboundMessage
from hub.connectors.pi import PiTransfers
from hub.connectors.testing import InboundConnectorSuite, InboundScenario
from hub.schemas.detention import DetentionTransferred

BSN = "123456782"


def notice(**changes: Any) -> bytes:
    data: dict[str, Any] = {
        "schemaVersie": "1",
        "id": "PI-AMS-2026-77",
        "bsn": BSN,
        "gemeente": "GM0363",
        "van": {"code": "PI-AMS", "naam": "PI Amsterdam"},
        "naar": {"code": "PI-VUG", "naam": "PI Vught"},
        "datum": "2026-11-30",
    }
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


class TestPiTransfers(InboundConnectorSuite):
    connector = PiTransfers
    config: ClassVar[dict[str, Any]] = {"webhook_secret": "pi-kit-secret"}
    scenarios: ClassVar[list[InboundScenario]] = [
        InboundScenario("a transfer", notice(), (DetentionTransferred,), personal_data=(BSN,))
    ]
    edge_cases: ClassVar[dict[str, bytes]] = {
        "unknown-schema-version": notice(schemaVersie="3"),
        "missing-subject": notice(bsn=None),
        "same-pi-twice": notice(naar={"code": "PI-AMS", "naam": "PI Amsterdam"}),
    }


def test_the_sending_pi_is_the_source() -> None:
    (item,) = PiTransfers.from_config({}).translate(InboundMessage(body=notice()))
    assert item.partner == "pi:pi-ams"
    assert isinstance(item.event, DetentionTransferred)
    assert item.event.facility.code == "PI-VUG"
