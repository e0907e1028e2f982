"""Deliveries → the levensloopcoördinator, as a FHIR R4 ``Communication`` POSTed to the
provider's FHIR endpoint (DESIGN §5): flows A, D, E and F.

The Communication carries a short Dutch text the LLC reads at a glance (the detention,
the PI, the dates, whom to call) and the permitted content as a JSON attachment. The
Patient is referenced by BSN only where the policy permitted the BSN; otherwise by the
pseudonym. The delivery id is the Communication's identifier, and the create is
conditional on it (``If-None-Exist``), so a redelivery never makes a second one.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any, ClassVar

from fhir.resources.R4B.communication import Communication
from pydantic import Field

from hub.connectors import Delivery, OutboundConfig, OutboundConnector
from hub.connectors.http import ALREADY_THERE, HttpApiConfig, HttpPartnerApi
from hub.schemas.base import CanonicalEvent
from hub.schemas.detention import (
    DetentionEnded,
    DetentionLeave,
    DetentionStarted,
    DetentionTransferred,
)
from hub.schemas.fhir import partner_reference, patient_reference
from hub.schemas.signals import CrisisContact, PoliceEncounter, ProbationSignal

DELIVERY_SYSTEM = "urn:ketenhub:delivery"
FHIR_JSON = "application/fhir+json"
ALREADY_THERE_FHIR = ALREADY_THERE | {412}
"""FHIR's conditional create (``If-None-Exist``) answers a repeat with 412, too."""


class LlcCommunicationConfig(OutboundConfig, HttpApiConfig):
    """The provider's FHIR base URL (``base_url``), ``api_key`` and retries."""

    sender_display: str = Field("Ketenhub", description="Shown as the Communication's sender.")


def _name(value: Any) -> str:
    return str(value.get("name")) if isinstance(value, dict) and value.get("name") else "?"


def _contact(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    reach = ", ".join(str(v) for v in (value.get("phone"), value.get("email")) if v)
    return f"{value.get('name')} ({value.get('organisation')}{', ' + reach if reach else ''})"


def summary(source_type: str, content: dict[str, Any], *, correction: bool = False) -> str:
    """The text the LLC reads first; only fields the delivery carries appear in it. A
    corrected START says so first, so it does not read as a second detention."""
    c = content
    if source_type == DetentionStarted.event_type():
        what = "Detentie gewijzigd: gestart" if correction else "Detentie gestart"
        text = f"{what} op {c.get('start_date', '?')} in {_name(c.get('facility'))}."
    elif source_type == DetentionTransferred.event_type():
        text = (
            f"Overgeplaatst op {c.get('transfer_date', '?')} van "
            f"{_name(c.get('previous_facility'))} naar {_name(c.get('facility'))}."
        )
    elif source_type == DetentionLeave.event_type():
        text = f"Verlof vanaf {c.get('leave_start', '?')} tot {c.get('leave_end') or 'onbekend'}."
    elif source_type == DetentionEnded.event_type():
        text = (
            f"Detentie beëindigd op {c.get('end_date', '?')}; gemeente van uitstroom "
            f"{c.get('release_municipality', '?')}."
        )
    else:
        text = f"Signaal op {c.get('occurred_at', '?')}: {c.get('summary') or source_type}."
    if c.get("expected_end_date"):
        text += f" Verwachte einddatum: {c['expected_end_date']}."
    if c.get("casusregisseur"):
        text += f" Casusregisseur: {_contact(c['casusregisseur'])}."
    return text


class LlcCommunication(HttpPartnerApi, OutboundConnector[LlcCommunicationConfig]):
    name: ClassVar[str] = "llc-communication"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "llz"
    config_model: ClassVar[type[LlcCommunicationConfig]] = LlcCommunicationConfig
    accepts: ClassVar[tuple[type[CanonicalEvent], ...]] = (
        DetentionStarted,
        DetentionTransferred,
        DetentionLeave,
        DetentionEnded,
        PoliceEncounter,
        ProbationSignal,
        CrisisContact,
    )
    api_name: ClassVar[str | None] = "FHIR endpoint"
    health_path: ClassVar[str] = "metadata"

    def render(self, delivery: Delivery, sent: dt.datetime) -> dict[str, Any]:
        notification = delivery.notification
        content = json.dumps(notification.content, sort_keys=True, ensure_ascii=False)
        resource = Communication.model_validate(
            {
                "resourceType": "Communication",
                "identifier": [{"system": DELIVERY_SYSTEM, "value": delivery.delivery_id}],
                "status": "completed",
                "subject": patient_reference(bsn=delivery.bsn, pseudonym=delivery.subject),
                "sender": {"display": self.config.sender_display},
                "recipient": [partner_reference(notification.recipient)],
                "sent": sent.isoformat(),
                "topic": {"text": notification.source_type},
                "payload": [
                    {
                        "contentString": summary(
                            notification.source_type,
                            notification.content,
                            correction=notification.correction,
                        )
                    },
                    {
                        "contentAttachment": {
                            "contentType": "application/json",
                            "data": base64.b64encode(content.encode()).decode("ascii"),
                        }
                    },
                ],
            }
        )
        return resource.model_dump(mode="json", exclude_none=True)

    async def deliver(self, delivery: Delivery) -> None:
        api = self.api()
        response = await api.call(
            "POST",
            "Communication",
            content=json.dumps(self.render(delivery, dt.datetime.now(dt.UTC))),
            headers={
                "Content-Type": FHIR_JSON,
                "If-None-Exist": f"identifier={DELIVERY_SYSTEM}|{delivery.delivery_id}",
                "Idempotency-Key": delivery.delivery_id,
            },
        )
        api.settle(response, accept=ALREADY_THERE_FHIR)
