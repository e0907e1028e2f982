"""The roles in a client's levensloopteam (seed 004, "Wat is mijn rol?")."""

from __future__ import annotations

from enum import StrEnum


class TeamRole(StrEnum):
    """A role in the team; a medical field names the roles it is directly relevant to."""

    PROCESREGISSEUR = "procesregisseur"
    LEVENSLOOPCOORDINATOR = "levensloopcoordinator"
    CASUSREGISSEUR = "casusregisseur"
    PI_BACKOFFICE = "pi-backoffice"
    RECLASSERING = "reclassering"
    POLITIE = "politie"
    CRISISDIENST = "crisisdienst"
    ZORGAANBIEDER = "zorgaanbieder"
