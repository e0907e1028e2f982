"""Crisis contacts → ``CrisisContact`` (flow F), by signed webhook from the crisis service
of a region (``crisis:<regio>``)::

    {"schemaVersie": "1", "contactId": "GGZ-NH-2026-0815", "regio": "noord-holland",
     "bsn": "…", "flagId": "lla-…", "tijdstip": "2026-11-23T03:40:00+01:00",
     "politieAanwezig": true, "beoordeling": "…", "uitkomst": "…",
     "crisisteam": {"naam": "…", "telefoon": "…"}}

The crisis service holds the BSN; ``flagId``, the identifier of the hub's Flag, may
name the client instead, or as well (then both must agree). The assessment and the
outcome are medical: the router passes them on only where the policy permits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from hub.connectors import ContractError, Emitted, InboundConfig, InboundConnector, InboundMessage
from hub.connectors.partner_json import read_object
from hub.schemas.signals import CrisisContact

VERSIONS = ("1",)


class CrisisContactenConfig(InboundConfig):
    """The webhook secret and limits are the runtime's; nothing else needed."""


class _Team(BaseModel):
    model_config = ConfigDict(extra="ignore")
    naam: str = Field(min_length=1, max_length=200)
    telefoon: str | None = Field(None, max_length=40)


class _Contact(BaseModel):
    model_config = ConfigDict(extra="ignore")
    contactId: str = Field(min_length=1, max_length=100)  # noqa: N815 - the partner's names
    regio: str = Field(min_length=1, max_length=40)
    bsn: str | None = Field(None, max_length=9)
    flagId: str | None = Field(None, min_length=1, max_length=64)  # noqa: N815
    tijdstip: dt.datetime
    politieAanwezig: bool = False  # noqa: N815
    beoordeling: str = Field(max_length=4000)
    uitkomst: str = Field(max_length=500)
    crisisteam: _Team


class CrisisContacten(InboundConnector[CrisisContactenConfig]):
    name: ClassVar[str] = "crisis-contacten"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "crisis"
    config_model: ClassVar[type[CrisisContactenConfig]] = CrisisContactenConfig
    emits: ClassVar[tuple[type[CrisisContact], ...]] = (CrisisContact,)

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        contact = ContractError.validate(_Contact, read_object(message.body, VERSIONS))
        region = f"crisis:{contact.regio}"
        event = ContractError.validate(
            CrisisContact,
            {
                "occurred_at": contact.tijdstip,
                "police_involved": contact.politieAanwezig,
                "assessment": contact.beoordeling,
                "outcome": contact.uitkomst,
                "crisis_team": {
                    "name": contact.crisisteam.naam,
                    "role": "crisisteam",
                    "organisation": f"Crisisdienst {contact.regio}",
                    "partner": region,
                    "phone": contact.crisisteam.telefoon,
                },
            },
        )
        return [
            Emitted(
                event=event,
                bsn=contact.bsn,
                source_id=contact.contactId,
                partner=region,
                label_reference=contact.flagId,
                label_reference_field="flagId",
                partner_fields={"occurred_at": "tijdstip"},
            )
        ]
