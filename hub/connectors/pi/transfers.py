"""A PI backoffice's transfer notice → ``DetentionTransferred`` (flow D), by signed
webhook. One connector serves every PI; the sending PI is the event's source.

    {"schemaVersie": "1", "id": "PI-AMS-2026-77", "bsn": "…", "gemeente": "GM0363",
     "van": {"code": "PI-AMS", "naam": "PI Amsterdam"},
     "naar": {"code": "PI-VUG", "naam": "PI Vught"}, "datum": "2026-11-30"}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.connectors import ContractError, Emitted, InboundConfig, InboundConnector, InboundMessage
from hub.connectors.partner_json import read_object
from hub.schemas.common import Facility
from hub.schemas.detention import DetentionTransferred
from hub.schemas.partners import pi_partner

VERSIONS = ("1",)


class PiTransfersConfig(InboundConfig):
    """The webhook secret and/or drop directory are the runtime's; nothing else needed."""


class _Pi(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str = Field(min_length=1, max_length=20)
    naam: str = Field(min_length=1, max_length=200)


class _Notice(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=100)
    bsn: str = Field(min_length=8, max_length=9)
    gemeente: str
    van: _Pi
    naar: _Pi
    datum: dt.date


class PiTransfers(InboundConnector[PiTransfersConfig]):
    name: ClassVar[str] = "pi-transfers"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "pi"
    config_model: ClassVar[type[PiTransfersConfig]] = PiTransfersConfig
    emits: ClassVar[tuple[type[DetentionTransferred], ...]] = (DetentionTransferred,)

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        notice = ContractError.validate(_Notice, read_object(message.body, VERSIONS))
        if notice.van.code == notice.naar.code:
            raise ContractError("van and naar are the same PI", field="naar")
        try:
            event = DetentionTransferred(
                source_event_id=notice.id,
                municipality=notice.gemeente,
                facility=Facility(code=notice.naar.code, name=notice.naar.naam),
                previous_facility=Facility(code=notice.van.code, name=notice.van.naam),
                transfer_date=notice.datum,
            )
        except ValidationError as exc:
            raise ContractError.from_validation(exc) from None
        sender = pi_partner(notice.van.code)
        return [
            Emitted(
                event=event,
                bsn=notice.bsn,
                source_id=notice.id,
                partner=sender,
                partner_fields={"transfer_date": "datum"},
            )
        ]
