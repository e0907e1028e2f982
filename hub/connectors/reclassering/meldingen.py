"""Label deliveries → an XML melding or afmelding in Iris, Reclassering's client system
(flows B and C): ``POST {base_url}/meldingen`` with ``Content-Type: application/xml``.

    <IrisMelding versie="1" soort="aanmelding">
      <meldingId>lla-…</meldingId>          the same for the aanmelding and the afmelding
      <berichtId>…</berichtId>              this delivery: Iris de-duplicates on it
      <client><pseudoniem>…</pseudoniem></client>
      <levensloopaanpak><sinds>2026-03-01</sinds><zvh>zvh:amsterdam</zvh></levensloopaanpak>
      <levensloopcoordinator><naam/><organisatie/><telefoon/><email/></levensloopcoordinator>
      <procesregisseur>…</procesregisseur>
    </IrisMelding>

An afmelding has ``soort="afmelding"`` and ``<datum>``. The XML is built with
ElementTree, so every value is escaped. Iris's supervision signals may name the client
by the same ``meldingId`` (see :mod:`hub.connectors.reclassering.signals`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, ClassVar

from hub.connectors import Delivery, OutboundConfig, OutboundConnector
from hub.connectors.http import ALREADY_THERE, HttpApiConfig, HttpPartnerApi
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import ClientExcluded, ClientIncluded

CONTACT_FIELDS = (("name", "naam"), ("organisation", "organisatie"), ("phone", "telefoon"))


class IrisMeldingenConfig(OutboundConfig, HttpApiConfig):
    """Iris's melding API (``base_url``, ``api_key``, ``timeout_s``) and retries."""


def _text(parent: ET.Element, tag: str, value: Any) -> None:
    if value is not None and value != "":
        ET.SubElement(parent, tag).text = str(value)


def _contact(parent: ET.Element, tag: str, value: Any) -> None:
    if not isinstance(value, dict):
        return
    element = ET.SubElement(parent, tag)
    for source, target in (*CONTACT_FIELDS, ("email", "email")):
        _text(element, target, value.get(source))


class IrisMeldingen(HttpPartnerApi, OutboundConnector[IrisMeldingenConfig]):
    name: ClassVar[str] = "reclassering-iris-meldingen"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "reclassering"
    config_model: ClassVar[type[IrisMeldingenConfig]] = IrisMeldingenConfig
    accepts: ClassVar[tuple[type[CanonicalEvent], ...]] = (ClientIncluded, ClientExcluded)
    api_name: ClassVar[str | None] = "Iris"

    def render(self, delivery: Delivery) -> bytes:
        content = delivery.notification.content
        withdrawal = delivery.notification.source_type == ClientExcluded.event_type()
        root = ET.Element(
            "IrisMelding", versie="1", soort="afmelding" if withdrawal else "aanmelding"
        )
        _text(root, "meldingId", delivery.label_reference)
        _text(root, "berichtId", delivery.delivery_id)
        client = ET.SubElement(root, "client")
        if delivery.bsn:
            _text(client, "bsn", delivery.bsn)
        else:
            _text(client, "pseudoniem", delivery.subject)
        if withdrawal:
            _text(root, "datum", content.get("excluded_on"))
            _text(root, "zvh", content.get("zvh"))
        else:
            lla = ET.SubElement(root, "levensloopaanpak")
            _text(lla, "sinds", content.get("included_since"))
            _text(lla, "zvh", content.get("zvh"))
            _contact(root, "levensloopcoordinator", content.get("llc"))
            _contact(root, "procesregisseur", content.get("procesregisseur"))
        _text(root, "correlatieId", delivery.correlation_id)
        rendered: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return rendered

    async def deliver(self, delivery: Delivery) -> None:
        api = self.api()
        response = await api.call(
            "POST",
            "meldingen",
            content=self.render(delivery),
            headers={"Content-Type": "application/xml", "Idempotency-Key": delivery.delivery_id},
        )
        api.settle(response, accept=ALREADY_THERE)
