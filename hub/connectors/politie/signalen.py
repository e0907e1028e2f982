"""Police signals on a subscription → ``PoliceEncounter`` (flow F), by signed webhook.

The police post one JSON signal when they meet a person they hold a subscription for::

    {"schemaVersie": "1", "signaalId": "POL-2026-000042", "abonnementId": "lla-…",
     "tijdstip": "2026-11-23T22:10:00+01:00", "locatie": "Amsterdam-Oost",
     "omschrijving": "…", "agent": {"naam": "…", "eenheid": "…", "telefoon": "…"}}

The subscription id names the client: the police need not hold the BSN. A signal on a
subscription the hub never set, or has withdrawn, is refused (``abonnementId``). A BSN
may come along (``bsn``); then it must be the subscription's client.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from hub.connectors import ContractError, Emitted, InboundConfig, InboundConnector, InboundMessage
from hub.connectors.partner_json import read_object
from hub.schemas.signals import PoliceEncounter

VERSIONS = ("1",)


class PolitieSignalenConfig(InboundConfig):
    organisation: str = Field("Politie", description="Shown with the officer.")


class _Officer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    naam: str = Field(min_length=1, max_length=200)
    eenheid: str | None = Field(None, max_length=200)
    telefoon: str | None = Field(None, max_length=40)


class _Signal(BaseModel):
    model_config = ConfigDict(extra="ignore")
    signaalId: str = Field(min_length=1, max_length=100)  # noqa: N815 - the partner's names
    abonnementId: str = Field(min_length=1, max_length=64)  # noqa: N815
    bsn: str | None = Field(None, max_length=9)
    tijdstip: dt.datetime
    locatie: str = Field(max_length=200)
    omschrijving: str = Field(max_length=2000)
    agent: _Officer | None = None


class PolitieSignalen(InboundConnector[PolitieSignalenConfig]):
    name: ClassVar[str] = "politie-signalen"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "politie"
    config_model: ClassVar[type[PolitieSignalenConfig]] = PolitieSignalenConfig
    emits: ClassVar[tuple[type[PoliceEncounter], ...]] = (PoliceEncounter,)

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        signal = ContractError.validate(_Signal, read_object(message.body, VERSIONS))
        officer = signal.agent
        event = ContractError.validate(
            PoliceEncounter,
            {
                "occurred_at": signal.tijdstip,
                "subscription_id": signal.abonnementId,
                "location": signal.locatie,
                "summary": signal.omschrijving,
                "officer": {
                    "name": officer.naam,
                    "role": "agent",
                    "organisation": officer.eenheid or self.config.organisation,
                    "partner": "politie",
                    "phone": officer.telefoon,
                }
                if officer
                else None,
            },
        )
        return [
            Emitted(
                event=event,
                bsn=signal.bsn,
                source_id=signal.signaalId,
                label_reference=signal.abonnementId,
                label_reference_field="abonnementId",
                partner_fields={"occurred_at": "tijdstip"},
            )
        ]
