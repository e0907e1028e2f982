"""The demo population the simulators know: fictitious people (BSNs that pass the
11-check), some included in the Levensloopaanpak, some in no case at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Person:
    bsn: str
    name: str
    born: str
    municipality: str
    included: bool
    zvh: str = "zvh:amsterdam"
    llz: str = "llz:fivoor"


POPULATION: tuple[Person, ...] = (
    Person("111222333", "Demo-Jansen", "1988-02-29", "GM0363", included=True),
    Person("123456782", "Demo-De Vries", "1979-07-01", "GM0363", included=True),
    Person("212121224", "Demo-Bakker", "1993-11-11", "GM0344", True, "zvh:utrecht", "llz:altrecht"),
    Person("999999990", "Demo-Visser", "1985-04-04", "GM0363", included=False),
)


def person(bsn: str) -> Person | None:
    return next((p for p in POPULATION if p.bsn == bsn), None)


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
