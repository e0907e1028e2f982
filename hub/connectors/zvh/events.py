"""ZVH JSON events → case, consent and title events (flows B, C, G and H). One connector
serves every ZVH; each message names its ZVH, which becomes the event's source.

    {"schemaVersie": "1", "id": "ZVH-2026-42", "soort": "INCLUSIE", "bsn": "…",
     "zvh": "zvh:amsterdam", "datum": "2026-03-01", "gemeente": "GM0363",
     "team": [{"partner": "llz:fivoor", "rol": "levensloopcoordinator"}, …],
     "llc": {"naam": "…", "rol": "…", "organisatie": "…", "partner": "…"},
     "casusregisseur": {…}, "procesregisseur": {…},
     "handelingsadvies": "…"}   (optional: for the police and the crisis service)

    EXCLUSIE    zvh, datum, reden
    VERHUIZING  zvh (handing over), naarZvh, datum, procesregisseur
    TOESTEMMING zvh, consent: a FHIR R4 Consent; status "inactive" or "rejected"
                withdraws the consent with that id at once
    TITEL       zvh, titelId, titel (zorgmachtiging | strafrechtelijke-voorwaarde),
                afgegevenDoor (rechter | om), inclusiefLevensloopaanpak, geldigVan, geldigTot
    DOORBREKING zvh, besluitId, besluitDoor (contact), ontvanger, vrijgegeven (the medical
                fields it releases, or ["medical"]), reden, besluitOp, geldigTot

A TOESTEMMING's Consent names its patient by the message's BSN (or the pseudonym the
hub gave); a Consent about another client is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.connectors import ContractError, Emitted, InboundConfig, InboundConnector, InboundMessage
from hub.connectors.partner_json import DutchContact, read_object
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import (
    ClientExcluded,
    ClientIncluded,
    ClientMoved,
    ExclusionReason,
    TeamMember,
    TeamRole,
)
from hub.schemas.consent import (
    ConflictOfDutiesDecided,
    ConsentRecorded,
    ConsentWithdrawn,
    LegalTitleRecorded,
    TitleIssuer,
    TitleKind,
)
from hub.schemas.consent_profile import ProfileError, read_consent
from hub.schemas.fhir import BSN_SYSTEM
from hub.schemas.partners import ZvhId

VERSIONS = ("1",)
PARTNER_FIELDS = {
    "included_since": "datum",
    "excluded_on": "datum",
    "moved_on": "datum",
    "decided_at": "besluitOp",
    "valid_until": "geldigTot",
    "valid_from": "geldigVan",
}
"""The ZVH's names of the dates the runtime checks, so a refusal names what it sent."""
WITHDRAWN_STATUSES = {"inactive", "rejected"}


class ZvhEventsConfig(InboundConfig):
    """The webhook secret and/or drop directory are the runtime's; nothing else needed."""


class _Member(TeamMember):
    """A team member as the ZVH writes it (``rol``): validated as the hub's own, so a
    refusal names the member (``team.<n>``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    role: TeamRole = Field(alias="rol")


class _Header(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=100)
    soort: str
    bsn: str = Field(min_length=8, max_length=9)
    zvh: ZvhId


class _Inclusion(BaseModel):
    model_config = ConfigDict(extra="ignore")
    datum: dt.date
    gemeente: str
    team: list[_Member]
    llc: DutchContact
    casusregisseur: DutchContact
    procesregisseur: DutchContact
    handelingsadvies: str | None = Field(None, max_length=500)


class _Exclusion(BaseModel):
    model_config = ConfigDict(extra="ignore")
    datum: dt.date
    reden: ExclusionReason


class _Move(BaseModel):
    model_config = ConfigDict(extra="ignore")
    naarZvh: ZvhId  # noqa: N815 - the ZVH's field name
    datum: dt.date
    procesregisseur: DutchContact


class _Consent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    consent: dict[str, Any]


class _Title(BaseModel):
    model_config = ConfigDict(extra="ignore")
    titelId: str  # noqa: N815
    titel: TitleKind
    afgegevenDoor: TitleIssuer  # noqa: N815
    inclusiefLevensloopaanpak: bool  # noqa: N815
    geldigVan: dt.date  # noqa: N815
    geldigTot: dt.date  # noqa: N815


class _Breach(BaseModel):
    model_config = ConfigDict(extra="ignore")
    besluitId: str  # noqa: N815
    besluitDoor: DutchContact  # noqa: N815
    ontvanger: str
    vrijgegeven: tuple[str, ...]
    reden: str
    besluitOp: dt.datetime  # noqa: N815
    geldigTot: dt.datetime  # noqa: N815


def _inclusion(head: _Header, data: Any) -> CanonicalEvent:
    body = ContractError.validate(_Inclusion, data)
    return ClientIncluded(
        zvh=head.zvh,
        included_since=body.datum,
        municipality=body.gemeente,
        team=tuple(TeamMember(partner=m.partner, role=m.role) for m in body.team),
        llc=body.llc.contact(),
        casusregisseur=body.casusregisseur.contact(),
        procesregisseur=body.procesregisseur.contact(),
        handling_advice=body.handelingsadvies,
    )


def _exclusion(head: _Header, data: Any) -> CanonicalEvent:
    body = ContractError.validate(_Exclusion, data)
    return ClientExcluded(zvh=head.zvh, reason=body.reden, excluded_on=body.datum)


def _move(head: _Header, data: Any) -> CanonicalEvent:
    body = ContractError.validate(_Move, data)
    return ClientMoved(
        from_zvh=head.zvh,
        to_zvh=body.naarZvh,
        moved_on=body.datum,
        procesregisseur=body.procesregisseur.contact(),
    )


def _consent(head: _Header, data: Any) -> CanonicalEvent:
    consent = ContractError.validate(_Consent, data).consent
    if consent.get("status") in WITHDRAWN_STATUSES:
        return _withdrawal(head, consent)
    try:
        read_consent(consent, bsn_allowed=True)
    except ProfileError as error:
        raise ContractError(error.reason, field=f"consent.{error.path}") from None
    return ConsentRecorded(consent=consent)


def _withdrawal(head: _Header, consent: dict[str, Any]) -> CanonicalEvent:
    """A withdrawal names the Consent by its id; if it names the patient, by this
    message's BSN. It takes effect when the hub receives it."""
    if consent.get("resourceType") != "Consent":
        raise ContractError("must be 'Consent'", field="consent.resourceType")
    consent_id = consent.get("id")
    if not isinstance(consent_id, str) or not consent_id:
        raise ContractError("a withdrawn Consent needs its id", field="consent.id")
    if "patient" in consent:
        patient = consent["patient"]
        named = patient.get("identifier") if isinstance(patient, dict) else None
        if named != {"system": BSN_SYSTEM, "value": head.bsn}:
            raise ContractError(
                "the Consent is about another client than the message (name the patient by "
                "the message's BSN)",
                field="consent.patient",
            )
    return ConsentWithdrawn(consent_id=consent_id, withdrawn_at=dt.datetime.now(dt.UTC))


def _title(head: _Header, data: Any) -> CanonicalEvent:
    body = ContractError.validate(_Title, data)
    return LegalTitleRecorded(
        title_id=body.titelId,
        kind=body.titel,
        issued_by=body.afgegevenDoor,
        includes_levensloopaanpak=body.inclusiefLevensloopaanpak,
        valid_from=body.geldigVan,
        valid_until=body.geldigTot,
    )


def _breach(head: _Header, data: Any) -> CanonicalEvent:
    body = ContractError.validate(_Breach, data)
    return ConflictOfDutiesDecided(
        decision_id=body.besluitId,
        decided_by=body.besluitDoor.contact(),
        recipient=body.ontvanger,
        releases=body.vrijgegeven,
        reason=body.reden,
        decided_at=body.besluitOp,
        valid_until=body.geldigTot,
    )


KINDS: dict[str, Callable[[_Header, Any], CanonicalEvent]] = {
    "INCLUSIE": _inclusion,
    "EXCLUSIE": _exclusion,
    "VERHUIZING": _move,
    "TOESTEMMING": _consent,
    "TITEL": _title,
    "DOORBREKING": _breach,
}


class ZvhEvents(InboundConnector[ZvhEventsConfig]):
    name: ClassVar[str] = "zvh-events"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "zvh"
    config_model: ClassVar[type[ZvhEventsConfig]] = ZvhEventsConfig
    emits: ClassVar[tuple[type[CanonicalEvent], ...]] = (
        ClientIncluded,
        ClientExcluded,
        ClientMoved,
        ConsentRecorded,
        ConsentWithdrawn,
        LegalTitleRecorded,
        ConflictOfDutiesDecided,
    )

    def translate(self, message: InboundMessage) -> Sequence[Emitted]:
        data = read_object(message.body, VERSIONS)
        head = ContractError.validate(_Header, data)
        make = KINDS.get(head.soort)
        if make is None:
            raise ContractError(
                f"unknown kind {head.soort!r}; known: {', '.join(KINDS)}", field="soort"
            )
        try:
            event = make(head, data)
        except ValidationError as exc:
            raise ContractError.from_validation(exc) from None
        return [
            Emitted(
                event=event,
                bsn=head.bsn,
                source_id=head.id,
                partner=head.zvh,
                partner_fields=PARTNER_FIELDS,
            )
        ]
