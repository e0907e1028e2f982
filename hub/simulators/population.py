"""The demo population the simulators know: fictitious people (BSNs that pass the
11-check), some included in the Levensloopaanpak, some in no case at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.core.bsn import passes_eleven_check
from hub.schemas.fhir import BSN_SYSTEM


@dataclass(frozen=True)
class Person:
    bsn: str
    name: str
    born: str
    municipality: str
    included: bool
    zvh: str = "zvh:amsterdam"
    llz: str = "llz:fivoor"
    crisis: str = "crisis:amsterdam"
    seeded: bool = True
    """Whether the ZVH's inclusion is sent at start; the demo includes the others live."""


POPULATION: tuple[Person, ...] = (
    Person("111222333", "Demo-Jansen", "1988-02-29", "GM0363", included=True),
    Person("123456782", "Demo-De Vries", "1979-07-01", "GM0363", included=True),
    Person(
        "212121224",
        "Demo-Bakker",
        "1993-11-11",
        "GM0344",
        True,
        "zvh:utrecht",
        "llz:altrecht",
        "crisis:utrecht",
    ),
    Person("300000005", "Demo-Smit", "1990-06-15", "GM0363", included=True, seeded=False),
    Person("999999990", "Demo-Visser", "1985-04-04", "GM0363", included=False),
)
HANDLING_ADVICE = (
    "Rustig benaderen, geen fysiek contact zonder noodzaak; bel de levensloopcoördinator."
)


SYNTHETIC_PREFIX = "80"
"""BSNs that start so (and pass the 11-check) are synthetic clients: included at the
Amsterdam ZVH, for load, chaos and benchmark runs with thousands of people."""


def synthetic_bsns(count: int, first: int = 0) -> list[str]:
    """``count`` synthetic BSNs, from the ``first``-th on, always the same ones."""
    found: list[str] = []
    seen = -1
    for body in range(1_000_000):
        digits = f"{SYNTHETIC_PREFIX}{body:06d}"
        check = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check == 10:
            continue
        seen += 1
        if seen >= first:
            found.append(digits + str(check))
            if len(found) == count:
                return found
    raise ValueError("not that many synthetic BSNs")


def person(bsn: str) -> Person | None:
    found = next((p for p in POPULATION if p.bsn == bsn), None)
    if found is None and bsn.startswith(SYNTHETIC_PREFIX) and passes_eleven_check(bsn):
        return Person(bsn, f"Synth-{bsn[-4:]}", "1980-01-01", "GM0363", included=True)
    return found


def kedo_answer(found: Person) -> dict[str, Any]:
    """KEDO's ``GET /regie/{bsn}`` answer for someone in a case."""
    gemeente = f"gemeente:{found.municipality}"
    return {
        "zvh": found.zvh,
        "casusType": "levensloopaanpak" if found.included else "zorg-en-veiligheid",
        "levensloopaanpak": {"geincludeerd": found.included, "sinds": "2026-03-01"},
        "llc": {
            "naam": "L. Coördinator",
            "rol": "levensloopcoordinator",
            "organisatie": found.llz.split(":", 1)[1].capitalize(),
            "partner": found.llz,
            "telefoon": "010-0000000",
        },
        "casusregisseur": {
            "naam": "C. Regisseur",
            "rol": "casusregisseur",
            "organisatie": f"Gemeente {found.municipality}",
            "partner": gemeente,
            "telefoon": "020-0000000",
        },
    }


def _person_json(name: str, role: str, organisation: str, partner: str) -> dict[str, str]:
    return {"naam": name, "rol": role, "organisatie": organisation, "partner": partner}


def inclusion(found: Person, event_id: str, date: str = "2026-03-01") -> dict[str, Any]:
    """The ZVH's INCLUSIE for ``found``: a levensloopteam with the three label partners."""
    gemeente = f"gemeente:{found.municipality}"
    return {
        "schemaVersie": "1",
        "bsn": found.bsn,
        "zvh": found.zvh,
        "id": event_id,
        "soort": "INCLUSIE",
        "datum": date,
        "gemeente": found.municipality,
        "team": [
            {"partner": found.zvh, "rol": "procesregisseur"},
            {"partner": found.llz, "rol": "levensloopcoordinator"},
            {"partner": gemeente, "rol": "casusregisseur"},
            {"partner": "politie", "rol": "politie"},
            {"partner": "reclassering", "rol": "reclassering"},
            {"partner": found.crisis, "rol": "crisisdienst"},
        ],
        "llc": _person_json("L. Coördinator", "levensloopcoordinator", "LLZ", found.llz),
        "casusregisseur": _person_json("C. Regisseur", "casusregisseur", "Gemeente", gemeente),
        "procesregisseur": _person_json("P. Regisseur", "procesregisseur", "ZVH", found.zvh),
        "handelingsadvies": HANDLING_ADVICE,
    }


def zvh_events() -> list[dict[str, Any]]:
    """What the ZVHs tell the hub about the demo population at start: every seeded
    client's inclusion, a consent for one, a zorgmachtiging for another, nothing for the
    third, and nothing at all about people in no case."""
    events: list[dict[str, Any]] = []
    included = [p for p in POPULATION if p.included and p.seeded]
    for n, found in enumerate(included):
        base = {"schemaVersie": "1", "bsn": found.bsn, "zvh": found.zvh}
        events.append(inclusion(found, f"DEMO-INCL-{n}"))
        if n == 0:
            events.append(
                {
                    **base,
                    "id": "DEMO-CONSENT-0",
                    "soort": "TOESTEMMING",
                    "consent": consent(f"demo-consent-{n}", found.llz, found.bsn),
                }
            )
        if n == 1:
            events.append(
                {
                    **base,
                    "id": "DEMO-TITLE-1",
                    "soort": "TITEL",
                    "titelId": "ZM-DEMO-1",
                    "titel": "zorgmachtiging",
                    "afgegevenDoor": "rechter",
                    "inclusiefLevensloopaanpak": True,
                    "geldigVan": "2026-01-01",
                    "geldigTot": "2027-12-31",
                }
            )
    return events


def consent(consent_id: str, llz: str, bsn: str) -> dict[str, Any]:
    """A FHIR R4 Consent of the client with ``bsn``: medical data to their LLC, for the
    Levensloopaanpak (the ZVH names the patient by BSN; the hub binds it to the pseudonym)."""
    return {
        "resourceType": "Consent",
        "id": consent_id,
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"code": "medical"}]}],
        "patient": {"identifier": {"system": BSN_SYSTEM, "value": bsn}},
        "provision": {
            "type": "permit",
            "period": {"start": "2026-01-01"},
            "actor": [
                {
                    "role": {"coding": [{"code": "IRCP"}]},
                    "reference": {"identifier": {"system": "urn:ketenhub:partner", "value": llz}},
                }
            ],
            "class": [{"code": "medical"}],
        },
    }
