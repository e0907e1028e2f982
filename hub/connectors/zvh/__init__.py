"""Zorg- en Veiligheidshuis: case, consent and title events in; JSON notifications to the
procesregisseur out."""

from hub.connectors.zvh.events import ZvhEvents, ZvhEventsConfig
from hub.connectors.zvh.notifications import ZvhNotifications, ZvhNotificationsConfig

__all__ = ["ZvhEvents", "ZvhEventsConfig", "ZvhNotifications", "ZvhNotificationsConfig"]
