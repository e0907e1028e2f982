"""Deliveries → the ZVH procesregisseur's case system, as JSON notifications (DESIGN §5).
Flows A, D, E (detention), F (signals) and G (the warm handover of a move), and the
notice that the hub and KEDO disagree about a client (``CaseDisputed``)."""

from __future__ import annotations

from typing import ClassVar

from hub.connectors.json_notifications import JsonNotifications, JsonNotificationsConfig
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import CaseDisputed, ClientMoved
from hub.schemas.detention import (
    DetentionEnded,
    DetentionLeave,
    DetentionStarted,
    DetentionTransferred,
)
from hub.schemas.signals import CrisisContact, PoliceEncounter, ProbationSignal

ZvhNotificationsConfig = JsonNotificationsConfig


class ZvhNotifications(JsonNotifications):
    name: ClassVar[str] = "zvh-notifications"
    version: ClassVar[str] = "1.0.0"
    partner: ClassVar[str] = "zvh"
    accepts: ClassVar[tuple[type[CanonicalEvent], ...]] = (
        DetentionStarted,
        DetentionTransferred,
        DetentionLeave,
        DetentionEnded,
        ClientMoved,
        PoliceEncounter,
        ProbationSignal,
        CrisisContact,
        CaseDisputed,
    )
