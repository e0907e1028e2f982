"""Label deliveries → the crisis service's pre-registration (vooraanmelding), as one FHIR
R4 transaction ``Bundle`` POSTed to its FHIR base URL (flows B and C).

    Patient    conditional create by BSN identifier (``ifNoneExist``), so the crisis
               service keeps one Patient however often the label is set
    Flag       "Levensloopaanpak", with its period and the ZVH as author; conditional
               update on the label reference, so a repeat changes nothing and the
               withdrawal finds it and sets it ``inactive``
    CareTeam   the LLC and the casusregisseur with their numbers; ``inactive`` on
               withdrawal

The crisis service is a care provider authorised to hold the BSN. Should the policy
withhold it, the Patient is the pseudonym instead, and still one Patient.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, ClassVar

from fhir.resources.R4B.bundle import Bundle

from hub.connectors import Delivery, OutboundConfig, OutboundConnector
from hub.connectors.http import ALREADY_THERE, HttpApiConfig, HttpPartnerApi
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import ClientExcluded, ClientIncluded
from hub.schemas.common import Contact
from hub.schemas.fhir import care_team, levensloop_flag, patient, patient_identifier

LABEL_SYSTEM = "urn:ketenhub:label"
FHIR_JSON = "application/fhir+json"
FULL_URL_NAMESPACE = uuid.UUID("3a9d2c71-58e4-4f0b-b6a1-9c2e7d4f1b38")


class CrisisVooraanmeldingConfig(OutboundConfig, HttpApiConfig):
    """The crisis service's FHIR base URL (``base_url``), ``api_key`` and retries."""


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else None


def _contacts(content: dict[str, Any]) -> list[Contact]:
    return [
        Contact.model_validate(content[name])
        for name in ("llc", "casusregisseur")
        if isinstance(content.get(name), dict)
    ]


def _full_url(reference: str, kind: str) -> str:
    return f"urn:uuid:{uuid.uuid5(FULL_URL_NAMESPACE, f'{reference}|{kind}')}"


class CrisisVooraanmelding(HttpPartnerApi, OutboundConnector[CrisisVooraanmeldingConfig]):
    name: ClassVar[str] = "crisis-vooraanmelding"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "crisis"
    config_model: ClassVar[type[CrisisVooraanmeldingConfig]] = CrisisVooraanmeldingConfig
    accepts: ClassVar[tuple[type[CanonicalEvent], ...]] = (ClientIncluded, ClientExcluded)
    api_name: ClassVar[str | None] = "crisis FHIR endpoint"
    health_path: ClassVar[str] = "metadata"

    def render(self, delivery: Delivery) -> dict[str, Any]:
        content = delivery.notification.content
        reference = delivery.label_reference
        active = delivery.notification.source_type == ClientIncluded.event_type()
        identifier = patient_identifier(bsn=delivery.bsn, pseudonym=delivery.subject)
        patient_url = _full_url(reference, "Patient")
        subject = {"reference": patient_url}
        label = {"system": LABEL_SYSTEM, "value": reference}
        flag = levensloop_flag(
            subject=subject,
            zvh=str(content.get("zvh") or "zvh:onbekend"),
            start=_date(content.get("included_since")),
            end=None if active else _date(content.get("excluded_on")),
            active=active,
            identifier=label,
        )
        team = care_team(
            subject=subject, members=_contacts(content), active=active, identifier=label
        )
        condition = f"identifier={LABEL_SYSTEM}|{reference}"
        bundle = Bundle.model_validate(
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "identifier": {"system": "urn:ketenhub:delivery", "value": delivery.delivery_id},
                "entry": [
                    {
                        "fullUrl": patient_url,
                        "resource": patient(
                            bsn=delivery.bsn, pseudonym=delivery.subject
                        ).model_dump(mode="json", exclude_none=True),
                        "request": {
                            "method": "POST",
                            "url": "Patient",
                            "ifNoneExist": f"identifier={identifier['system']}|"
                            f"{identifier['value']}",
                        },
                    },
                    {
                        "fullUrl": _full_url(reference, "Flag"),
                        "resource": flag.model_dump(mode="json", exclude_none=True),
                        "request": {"method": "PUT", "url": f"Flag?{condition}"},
                    },
                    {
                        "fullUrl": _full_url(reference, "CareTeam"),
                        "resource": team.model_dump(mode="json", exclude_none=True),
                        "request": {"method": "PUT", "url": f"CareTeam?{condition}"},
                    },
                ],
            }
        )
        return bundle.model_dump(mode="json", exclude_none=True)

    async def deliver(self, delivery: Delivery) -> None:
        api = self.api()
        response = await api.call(
            "POST",
            "",
            content=json.dumps(self.render(delivery)),
            headers={"Content-Type": FHIR_JSON, "Idempotency-Key": delivery.delivery_id},
        )
        api.settle(response, accept=ALREADY_THERE)
