"""The JSON notification contract of DESIGN §5, shared by the partners that receive one
(the ZVH, the gemeente, the PI backoffice): ``POST {base_url}/meldingen`` with an
``Idempotency-Key`` header; 409 means the partner has it already. ``correctie`` is true
when the melding corrects an earlier one of the same detention stay.

A partner's connector names itself, its partner and the events it accepts, and may
override :meth:`JsonNotifications.render` when its partner wants another body.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hub.connectors.base import Delivery, OutboundConfig, OutboundConnector
from hub.connectors.http import ALREADY_THERE, HttpApiConfig, HttpPartnerApi


class JsonNotificationsConfig(OutboundConfig, HttpApiConfig):
    """The partner's notification API (``base_url``, ``api_key``, ``timeout_s``) and retries."""


class JsonNotifications(HttpPartnerApi, OutboundConnector[JsonNotificationsConfig]):
    config_model: ClassVar[type[JsonNotificationsConfig]] = JsonNotificationsConfig
    path: ClassVar[str] = "meldingen"

    def render(self, delivery: Delivery) -> dict[str, Any]:
        """The body the partner receives: the permitted content and why it may have it."""
        notification = delivery.notification
        return {
            "meldingId": delivery.delivery_id,
            "ontvanger": notification.recipient,
            "client": {"bsn": delivery.bsn} if delivery.bsn else {"pseudoniem": delivery.subject},
            "stroom": notification.flow.value,
            "over": notification.source_type,
            "correctie": notification.correction,
            "inhoud": notification.content,
            "weggelaten": list(notification.removed_fields),
            "grondslagen": list(notification.decision.legal_bases),
            "correlatieId": delivery.correlation_id,
        }

    async def deliver(self, delivery: Delivery) -> None:
        api = self.api()
        response = await api.call(
            "POST",
            self.path,
            json=self.render(delivery),
            headers={"Idempotency-Key": delivery.delivery_id},
        )
        api.settle(response, accept=ALREADY_THERE)
