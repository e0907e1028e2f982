"""The Iris signals connector passes the whole standard kit, as a partner team runs it."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from hub.connectors.reclassering import IrisSignals
from hub.connectors.testing import InboundConnectorSuite, InboundScenario
from hub.schemas.signals import ProbationSignal
from tests.connectors.label_content import REFERENCE

BSN = "212121224"
SUPERVISOR = "T. Toezichthouder-Testpersoon"


def signal(**changes: object) -> bytes:
    data: dict[str, object] = {
        "schemaVersie": "1",
        "signaalId": "IRIS-2026-000123",
        "bsn": BSN,
        "soort": "overtreding",
        "tijdstip": "2026-11-23T09:15:00+01:00",
        "samenvatting": "Locatieverbod overtreden.",
        "toezichthouder": {"naam": SUPERVISOR, "telefoon": "030-0000000"},
    }
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


class TestIrisSignals(InboundConnectorSuite):
    connector = IrisSignals
    config: ClassVar[dict[str, Any]] = {"webhook_secret": "kit-webhook-secret-123"}
    labels: ClassVar[dict[tuple[str, str], str]] = {("reclassering", REFERENCE): BSN}
    scenarios: ClassVar[list[InboundScenario]] = [
        InboundScenario(
            "a violation",
            body=signal(),
            expect=(ProbationSignal,),
            personal_data=(BSN, SUPERVISOR),
        ),
        InboundScenario(
            "a missed appointment without supervisor",
            body=signal(signaalId="IRIS-2026-000124", soort="afspraak-gemist", toezichthouder=None),
            expect=(ProbationSignal,),
            personal_data=(BSN,),
        ),
        InboundScenario(
            "a concern naming the client by the hub's melding id only",
            body=signal(signaalId="IRIS-2026-000125", soort="zorg", bsn=None, meldingId=REFERENCE),
            expect=(ProbationSignal,),
            personal_data=(SUPERVISOR,),
        ),
    ]
    edge_cases: ClassVar[dict[str, bytes]] = {
        "unknown-schema-version": signal(schemaVersie="9"),
        "missing-subject": signal(bsn=None),
    }
