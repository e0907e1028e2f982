"""Partner ids, as in DESIGN §1: ``dji``, ``gemeente:GM0363``, ``zvh:amsterdam`` ..."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator


class PartnerKind(StrEnum):
    DJI = "dji"
    GEMEENTE = "gemeente"
    KEDO = "kedo"
    ZVH = "zvh"
    LLZ = "llz"
    PI = "pi"
    POLITIE = "politie"
    RECLASSERING = "reclassering"
    CRISIS = "crisis"


_SINGLETONS = {PartnerKind.DJI, PartnerKind.KEDO, PartnerKind.POLITIE, PartnerKind.RECLASSERING}
_QUALIFIER = {
    PartnerKind.GEMEENTE: re.compile(r"GM\d{4}"),
    PartnerKind.ZVH: re.compile(r"[a-z0-9][a-z0-9-]{0,39}"),
    PartnerKind.LLZ: re.compile(r"[a-z0-9][a-z0-9-]{0,39}"),
    PartnerKind.PI: re.compile(r"[a-z0-9][a-z0-9-]{0,39}"),
    PartnerKind.CRISIS: re.compile(r"[a-z0-9][a-z0-9-]{0,39}"),
}


def partner_kind(partner_id: str) -> PartnerKind:
    """The kind of a partner id; raises ValueError naming the rule it breaks."""
    kind_text, _, qualifier = partner_id.partition(":")
    try:
        kind = PartnerKind(kind_text)
    except ValueError:
        raise ValueError(f"unknown partner kind {kind_text!r}") from None
    if kind in _SINGLETONS:
        if qualifier:
            raise ValueError(f"partner {kind.value!r} takes no qualifier")
    elif not _QUALIFIER[kind].fullmatch(qualifier):
        raise ValueError(f"partner id {partner_id!r} needs a qualifier like {kind.value}:<code>")
    return kind


def served_partner(partner: str) -> str:
    """``partner`` as a connector may serve it: one partner id, or a whole kind (an
    outbound connector for every municipality). Raises ValueError saying what is
    known, so that a connector for a partner the hub does not know is refused where it
    is named, not later by its kit."""
    if partner in {kind.value for kind in PartnerKind}:
        return partner
    try:
        partner_kind(partner)
    except ValueError as error:
        kinds = ", ".join(kind.value for kind in PartnerKind)
        raise ValueError(
            f"partner {partner!r} is neither a partner id nor a kind ({error}); "
            f"the kinds are {kinds}"
        ) from None
    return partner


def valid_partner_id(partner_id: str) -> bool:
    try:
        partner_kind(partner_id)
    except ValueError:
        return False
    return True


def _validate(partner_id: str) -> str:
    partner_kind(partner_id)
    return partner_id


PartnerId = Annotated[str, AfterValidator(_validate)]


def pi_partner(facility_code: str) -> str:
    """The partner id of a PI's backoffice, from its DJI code (``PI-AMS`` → ``pi:pi-ams``)."""
    return "pi:" + re.sub(r"[^a-z0-9-]+", "-", facility_code.lower()).strip("-")[:40]
