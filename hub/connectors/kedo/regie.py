"""KEDO ``GET /regie/{bsn}`` → ``KedoLookupResult``. The reference contract of DESIGN §5::

    404                     no current case at any ZVH
    200 {"zvh": "zvh:amsterdam", "casusType": "levensloopaanpak",
         "levensloopaanpak": {"geincludeerd": true, "sinds": "2026-03-01"},
         "llc": {"naam": "…", "organisatie": "…", "partner": "llz:fivoor",
                 "telefoon": "…", "email": "…"},
         "casusregisseur": {…}}

KEDO is slow and sometimes answers 503: timeouts, 408, 429 and 5xx raise
RetryableError (``hub.connectors.http``), and the runtime retries within its budget.
Written against the SDK.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.connectors import ContractError, LookupConfig, LookupConnector
from hub.connectors.http import HttpApiConfig, HttpPartnerApi
from hub.connectors.partner_json import DutchContact
from hub.core.json_limits import read_json
from hub.schemas.case import KedoLookupResult


class KedoRegieConfig(LookupConfig, HttpApiConfig):
    """The KEDO API (``base_url``, ``api_key``) and the look-up's time budget."""


class _Inclusion(BaseModel):
    model_config = ConfigDict(extra="ignore")
    geincludeerd: bool = False
    sinds: dt.date | None = None


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    zvh: str
    casusType: str | None = None  # noqa: N815 - KEDO's field name
    levensloopaanpak: _Inclusion = Field(default_factory=_Inclusion)
    llc: DutchContact | None = None
    casusregisseur: DutchContact | None = None


class KedoRegie(HttpPartnerApi, LookupConnector[KedoRegieConfig]):
    name: ClassVar[str] = "kedo-regie"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "kedo"
    config_model: ClassVar[type[KedoRegieConfig]] = KedoRegieConfig
    api_name: ClassVar[str | None] = "KEDO"

    async def lookup(self, bsn: str) -> KedoLookupResult:
        api = self.api()
        response = await api.call("GET", f"regie/{bsn}")
        now = dt.datetime.now(dt.UTC)
        if response.status_code == 404:
            return KedoLookupResult(found=False, looked_up_at=now)
        api.settle(response)
        answer = ContractError.validate(_Answer, read_json(response.content))
        try:
            return KedoLookupResult(
                found=True,
                zvh=answer.zvh,
                case_type=answer.casusType,
                included=answer.levensloopaanpak.geincludeerd,
                included_since=answer.levensloopaanpak.sinds,
                llc=answer.llc.contact("levensloopcoordinator") if answer.llc else None,
                casusregisseur=(
                    answer.casusregisseur.contact("casusregisseur")
                    if answer.casusregisseur
                    else None
                ),
                looked_up_at=now,
            )
        except ValidationError as exc:
            raise ContractError.from_validation(exc) from None
