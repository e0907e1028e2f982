"""FHIR R4 mapping helpers for the edges that speak FHIR (fhir.resources, R4B package).

On the bus a patient is referenced by pseudonym (``PSEUDONYM_SYSTEM``); only an
outbound connector whose partner may hold the BSN swaps in ``BSN_SYSTEM``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.patient import Patient

from hub.schemas.common import Contact

BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"
PSEUDONYM_SYSTEM = "urn:ketenhub:pseudonym"
PARTNER_SYSTEM = "urn:ketenhub:partner"
LEVENSLOOP_FLAG_SYSTEM = "urn:ketenhub:flag"
LEVENSLOOP_FLAG_CODE = "levensloopaanpak"


def patient_identifier(*, bsn: str | None, pseudonym: str) -> dict[str, str]:
    """The BSN identifier where allowed (``bsn`` given), the pseudonym otherwise."""
    if bsn is not None:
        return {"system": BSN_SYSTEM, "value": bsn}
    return {"system": PSEUDONYM_SYSTEM, "value": pseudonym}


def patient(*, bsn: str | None, pseudonym: str) -> Patient:
    return Patient(identifier=[patient_identifier(bsn=bsn, pseudonym=pseudonym)])


def patient_reference(*, bsn: str | None, pseudonym: str) -> dict[str, Any]:
    return {"identifier": patient_identifier(bsn=bsn, pseudonym=pseudonym)}


def partner_reference(partner_id: str, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"identifier": {"system": PARTNER_SYSTEM, "value": partner_id}}
    if display:
        ref["display"] = display
    return ref


def levensloop_flag(
    *,
    subject: dict[str, Any],
    zvh: str,
    start: dt.date | None,
    end: dt.date | None,
    active: bool,
    identifier: dict[str, str] | None = None,
) -> Flag:
    """The crisis service's pre-registration flag; withdrawal sets it ``inactive``."""
    period: dict[str, str] = {}
    if start is not None:
        period["start"] = start.isoformat()
    if end is not None:
        period["end"] = end.isoformat()
    return Flag(
        identifier=[identifier] if identifier else None,
        status="active" if active else "inactive",
        code={
            "coding": [
                {
                    "system": LEVENSLOOP_FLAG_SYSTEM,
                    "code": LEVENSLOOP_FLAG_CODE,
                    "display": "Levensloopaanpak",
                }
            ]
        },
        subject=subject,
        period=period or None,
        author=partner_reference(zvh),
    )


def _display(contact: Contact) -> str:
    reach = ", ".join(v for v in (contact.organisation, contact.phone, contact.email) if v)
    return f"{contact.name} ({reach})"


def care_team(
    *,
    subject: dict[str, Any],
    members: Sequence[Contact],
    active: bool = True,
    identifier: dict[str, str] | None = None,
) -> CareTeam:
    """Who the crisis team calls: the LLC and the casusregisseur, with their numbers."""
    return CareTeam(
        identifier=[identifier] if identifier else None,
        status="active" if active else "inactive",
        subject=subject,
        participant=[
            {
                "role": [{"text": m.role}],
                "member": {"display": _display(m)},
                "onBehalfOf": partner_reference(m.partner) if m.partner else None,
            }
            for m in members
        ],
    )


def communication(
    *,
    subject: dict[str, Any],
    sender: str,
    recipient: str,
    sent: dt.datetime,
    text: str,
    topic: str,
) -> Communication:
    """A notification as a FHIR Communication, as the levensloopaanbieder receives it."""
    return Communication(
        status="completed",
        subject=subject,
        sender=partner_reference(sender),
        recipient=[partner_reference(recipient)],
        sent=sent.isoformat(),
        topic={"text": topic},
        payload=[{"contentString": text}],
    )
