"""Iris supervision signals → ``ProbationSignal`` (flow F), by signed webhook.

Iris posts one JSON signal per request (the reference contract of DESIGN §5)::

    {"schemaVersie": "1", "signaalId": "IRIS-2026-000123", "bsn": "...",
     "soort": "overtreding", "tijdstip": "2026-11-23T09:15:00+01:00",
     "samenvatting": "...", "toezichthouder": {"naam": "...", "telefoon": "..."}}

Iris names the client by ``bsn``, by the ``meldingId`` of the hub's melding (Iris
need not hold the BSN), or by both, which must then agree.

Written against the public SDK only, as a partner team would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.connectors import (
    ContractError,
    Emitted,
    InboundConfig,
    InboundConnector,
    InboundMessage,
)
from hub.connectors.partner_json import read_object
from hub.schemas.common import Contact
from hub.schemas.signals import ProbationSignal, ProbationSignalKind

SCHEMA_VERSIONS = ("1",)
KINDS = {
    "overtreding": ProbationSignalKind.VIOLATION,
    "afspraak-gemist": ProbationSignalKind.MISSED_APPOINTMENT,
    "zorg": ProbationSignalKind.CONCERN,
}


class IrisSignalsConfig(InboundConfig):
    organisation: str = Field("Reclassering Nederland", description="Shown with the supervisor.")


class _Supervisor(BaseModel):
    model_config = ConfigDict(extra="ignore")
    naam: str = Field(min_length=1, max_length=200)
    telefoon: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)


class _Signal(BaseModel):
    model_config = ConfigDict(extra="ignore")
    signaalId: str = Field(min_length=1, max_length=100)  # noqa: N815 - the partner's field name
    bsn: str | None = Field(None, max_length=9)
    meldingId: str | None = Field(None, min_length=1, max_length=64)  # noqa: N815
    soort: str
    tijdstip: dt.datetime
    samenvatting: str = Field(max_length=2000)
    toezichthouder: _Supervisor | None = None


class IrisSignals(InboundConnector[IrisSignalsConfig]):
    name: ClassVar[str] = "reclassering-iris-signals"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "reclassering"
    config_model: ClassVar[type[IrisSignalsConfig]] = IrisSignalsConfig
    emits: ClassVar[tuple[type[ProbationSignal], ...]] = (ProbationSignal,)

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        data = read_object(message.body, SCHEMA_VERSIONS)
        signal = ContractError.validate(_Signal, data)
        if signal.soort not in KINDS:
            raise ContractError(f"unknown kind {signal.soort!r}", field="soort")
        supervisor = signal.toezichthouder
        try:
            event = ProbationSignal(
                occurred_at=signal.tijdstip,
                kind=KINDS[signal.soort],
                summary=signal.samenvatting,
                supervisor=Contact(
                    name=supervisor.naam,
                    role="toezichthouder",
                    organisation=self.config.organisation,
                    partner="reclassering",
                    phone=supervisor.telefoon,
                    email=supervisor.email,
                )
                if supervisor
                else None,
            )
        except ValidationError as exc:
            raise ContractError.from_validation(exc) from None
        return [
            Emitted(
                event=event,
                bsn=signal.bsn,
                source_id=signal.signaalId,
                label_reference=signal.meldingId,
                label_reference_field="meldingId",
                partner_fields={"occurred_at": "tijdstip"},
            )
        ]
