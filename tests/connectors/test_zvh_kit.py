"""The ZVH notifications connector passes the whole standard kit."""

from __future__ import annotations

from typing import Any, ClassVar

from hub.connectors.testing import OutboundConnectorSuite, OutboundScenario, sample_delivery
from hub.connectors.zvh import ZvhNotifications
from hub.schemas.categories import DataCategory
from hub.schemas.deliveries import Flow
from hub.schemas.detention import DetentionStarted
from hub.schemas.signals import ProbationSignal

NAME = "Jansen-Testpersoon"


class TestZvhNotifications(OutboundConnectorSuite):
    connector = ZvhNotifications
    config: ClassVar[dict[str, Any]] = {
        "base_url": "https://zvh.example/api",
        "api_key": "kit-api-key-456",
    }
    scenarios: ClassVar[list[OutboundScenario]] = [
        OutboundScenario(
            "a detention notice with the BSN",
            notification=sample_delivery(
                "zvh:amsterdam",
                DetentionStarted,
                {"person_name": NAME, "start_date": "2026-11-20"},
                {"person_name": DataCategory.IDENTITY, "start_date": DataCategory.JUSTICE},
                role="procesregisseur",
            ),
            bsn="111222333",
            personal_data=(NAME,),
        ),
        OutboundScenario(
            "a probation signal under the pseudonym",
            notification=sample_delivery(
                "zvh:utrecht",
                ProbationSignal,
                {"summary": "Afspraak gemist."},
                {"summary": DataCategory.JUSTICE},
                flow=Flow.F,
                role="procesregisseur",
            ),
        ),
    ]
