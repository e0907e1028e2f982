"""Deliveries → the ZVH's case system as a JSON notification (DESIGN §5: ``POST``,
idempotent on the notification id).

``POST {base_url}/meldingen`` with an ``Idempotency-Key`` header. 2xx, and 409 (the ZVH
has it already), mean delivered; 408, 429 and 5xx, and a network failure, are worth
another try; any other answer is permanent. Written against the public SDK only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from hub.connectors import Delivery, OutboundConfig, OutboundConnector
from hub.connectors.http import HttpApi, HttpApiConfig
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import ClientMoved
from hub.schemas.detention import (
    DetentionEnded,
    DetentionLeave,
    DetentionStarted,
    DetentionTransferred,
)
from hub.schemas.signals import CrisisContact, PoliceEncounter, ProbationSignal

ALREADY_THERE = frozenset({409})


class ZvhNotificationsConfig(OutboundConfig, HttpApiConfig):
    """The ZVH notification API (``base_url``, ``api_key``, ``timeout_s``) and retries."""


class ZvhNotifications(OutboundConnector[ZvhNotificationsConfig]):
    name: ClassVar[str] = "zvh-notifications"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "zvh"
    config_model: ClassVar[type[ZvhNotificationsConfig]] = ZvhNotificationsConfig
    accepts: ClassVar[tuple[type[CanonicalEvent], ...]] = (
        DetentionStarted,
        DetentionTransferred,
        DetentionLeave,
        DetentionEnded,
        ClientMoved,
        PoliceEncounter,
        ProbationSignal,
        CrisisContact,
    )
    transport: httpx.AsyncBaseTransport | None = None
    """Set by tests to a fake partner; None uses the network."""

    def _api(self) -> HttpApi:
        return HttpApi(self.config, "ZVH API", self.transport)

    async def check(self) -> None:
        await self._api().check()

    async def deliver(self, delivery: Delivery) -> None:
        notification = delivery.notification
        body: dict[str, Any] = {
            "meldingId": delivery.delivery_id,
            "ontvanger": notification.recipient,
            "client": {"bsn": delivery.bsn} if delivery.bsn else {"pseudoniem": delivery.subject},
            "stroom": notification.flow.value,
            "over": notification.source_type,
            "inhoud": notification.content,
            "weggelaten": list(notification.removed_fields),
            "grondslagen": list(notification.decision.legal_bases),
            "correlatieId": delivery.correlation_id,
        }
        api = self._api()
        response = await api.call(
            "POST", "meldingen", json=body, headers={"Idempotency-Key": delivery.delivery_id}
        )
        api.settle(response, accept=ALREADY_THERE)
