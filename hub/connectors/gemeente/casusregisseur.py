"""Deliveries → the municipality's casusregisseur (bureau nazorg), as JSON notifications:
detention intake (A) for the municipality of origin, release (E) for the municipality
of release. One connector serves every gemeente; ``ontvanger`` names the one meant."""

from __future__ import annotations

from typing import ClassVar

from hub.connectors.json_notifications import JsonNotifications
from hub.schemas.base import CanonicalEvent
from hub.schemas.detention import DetentionEnded, DetentionStarted


class GemeenteCasusregisseur(JsonNotifications):
    name: ClassVar[str] = "gemeente-casusregisseur"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "gemeente"
    accepts: ClassVar[tuple[type[CanonicalEvent], ...]] = (DetentionStarted, DetentionEnded)
