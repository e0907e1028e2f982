"""Label deliveries → a subscription (abonnement) in the police system (flows B and C).

    B  PUT    {base_url}/abonnementen/{id}   the label, its validity, whom to call and
                                             short handling advice
    C  DELETE {base_url}/abonnementen/{id}   404 means it is gone already: withdrawn

Both carry an ``Idempotency-Key``; a 409 means the police have this one already.

The subscription id is the label reference the hub made for this client and the
police, so a set repeated is the same subscription, the withdrawal finds it, and a
signal on it leads back to the client. The police are not authorised to hold the BSN
by default: the subscription names the client by pseudonym unless the policy permits.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from hub.connectors import Delivery, OutboundConfig, OutboundConnector
from hub.connectors.http import ALREADY_THERE, HttpApiConfig, HttpPartnerApi
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import ClientExcluded, ClientIncluded

GONE_ALREADY = frozenset({404, 409, 410})
DEFAULT_ADVICE = (
    "Persoon valt onder de Levensloopaanpak. Benader rustig en voorspelbaar; neem bij "
    "een incident direct contact op met de levensloopcoördinator."
)


class PolitieAbonnementenConfig(OutboundConfig, HttpApiConfig):
    handling_advice: str = Field(
        DEFAULT_ADVICE,
        max_length=500,
        description="Handling advice when the ZVH's inclusion gives none.",
    )


class PolitieAbonnementen(HttpPartnerApi, OutboundConnector[PolitieAbonnementenConfig]):
    name: ClassVar[str] = "politie-abonnementen"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "politie"
    config_model: ClassVar[type[PolitieAbonnementenConfig]] = PolitieAbonnementenConfig
    accepts: ClassVar[tuple[type[CanonicalEvent], ...]] = (ClientIncluded, ClientExcluded)
    api_name: ClassVar[str | None] = "politie"

    def render(self, delivery: Delivery) -> dict[str, Any]:
        content = delivery.notification.content
        return {
            "abonnementId": delivery.label_reference,
            "label": "Levensloopaanpak",
            "persoon": {"bsn": delivery.bsn} if delivery.bsn else {"pseudoniem": delivery.subject},
            "geldigheid": {"van": content.get("included_since"), "tot": None},
            "contact": content.get("llc"),
            "procesregisseur": content.get("procesregisseur"),
            "zvh": content.get("zvh"),
            "handelingsadvies": content.get("handling_advice") or self.config.handling_advice,
            "meldingId": delivery.delivery_id,
            "correlatieId": delivery.correlation_id,
        }

    async def deliver(self, delivery: Delivery) -> None:
        api = self.api()
        path = f"abonnementen/{delivery.label_reference}"
        headers = {"Idempotency-Key": delivery.delivery_id}
        if delivery.notification.source_type == ClientExcluded.event_type():
            response = await api.call("DELETE", path, headers=headers)
            api.settle(response, accept=GONE_ALREADY)
            return
        response = await api.call("PUT", path, json=self.render(delivery), headers=headers)
        api.settle(response, accept=ALREADY_THERE)
