"""Deliveries → the backoffice of the PI that holds the client (flows A and D): a JSON
melding that the detainee is in the Levensloopaanpak, with the LLC to call.

The router sends a PI only the label, the LLC contact, the facility and the identity
the PI already holds; this connector turns that into the melding the backoffice reads.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hub.connectors.base import Delivery
from hub.connectors.json_notifications import JsonNotifications
from hub.schemas.base import CanonicalEvent
from hub.schemas.detention import DetentionStarted, DetentionTransferred


class PiBackoffice(JsonNotifications):
    name: ClassVar[str] = "pi-backoffice"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "pi"
    accepts: ClassVar[tuple[type[CanonicalEvent], ...]] = (DetentionStarted, DetentionTransferred)

    def render(self, delivery: Delivery) -> dict[str, Any]:
        content = delivery.notification.content
        return {
            "meldingId": delivery.delivery_id,
            "inrichting": delivery.notification.recipient,
            "melding": "in-levensloopaanpak"
            if content.get("levensloopaanpak")
            else "niet-in-levensloopaanpak",
            "correctie": delivery.notification.correction,
            "gedetineerde": {
                "bsn": delivery.bsn,
                "skn": content.get("skn"),
                "naam": content.get("person_name"),
                "geboortedatum": content.get("birth_date"),
            }
            if delivery.bsn
            else {"pseudoniem": delivery.subject},
            "zvh": content.get("zvh"),
            "levensloopcoordinator": content.get("llc"),
            "correlatieId": delivery.correlation_id,
        }
