"""Deliveries → the ZVH's case system as a JSON notification (DESIGN §5: ``POST``,
idempotent on the notification id).

``POST {base_url}/meldingen`` with an ``Idempotency-Key`` header. 2xx, and 409 (the ZVH
has it already), mean delivered; 408, 429 and 5xx, and a network failure, are worth
another try; any other answer is permanent. Written against the public SDK only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import Field, HttpUrl, SecretStr

from hub.connectors import (
    Delivery,
    OutboundConfig,
    OutboundConnector,
    PermanentError,
    RetryableError,
)
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import ClientMoved
from hub.schemas.detention import (
    DetentionEnded,
    DetentionLeave,
    DetentionStarted,
    DetentionTransferred,
)
from hub.schemas.signals import CrisisContact, PoliceEncounter, ProbationSignal

RETRY_STATUSES = {408, 429}


class ZvhNotificationsConfig(OutboundConfig):
    base_url: HttpUrl = Field(description="The ZVH notification API, e.g. https://zvh.example/api.")
    api_key: SecretStr | None = Field(None, description="Sent as a bearer token when set.")
    timeout_s: float = Field(5.0, gt=0, description="Longest one request may take.")


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

    def _client(self) -> httpx.AsyncClient:
        headers = {"Accept": "application/json"}
        if self.config.api_key is not None:
            headers["Authorization"] = f"Bearer {self.config.api_key.get_secret_value()}"
        return httpx.AsyncClient(
            base_url=str(self.config.base_url),
            headers=headers,
            timeout=self.config.timeout_s,
            transport=self.transport,
        )

    async def check(self) -> None:
        try:
            async with self._client() as client:
                response = await client.get("health")
        except httpx.TransportError as exc:
            raise RetryableError(f"ZVH API unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise RetryableError(f"ZVH API health answered {response.status_code}")

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
        try:
            async with self._client() as client:
                response = await client.post(
                    "meldingen", json=body, headers={"Idempotency-Key": delivery.delivery_id}
                )
        except httpx.TransportError as exc:
            raise RetryableError(f"ZVH API unreachable: {type(exc).__name__}") from None
        status = response.status_code
        if status < 300 or status == 409:
            return
        if status >= 500 or status in RETRY_STATUSES:
            raise RetryableError(f"ZVH API answered {status}")
        raise PermanentError(f"ZVH API refused the notification: {status}")
