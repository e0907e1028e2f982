"""Zorg- en Veiligheidshuis: JSON notifications to the procesregisseur, out."""

from hub.connectors.zvh.notifications import ZvhNotifications, ZvhNotificationsConfig

__all__ = ["ZvhNotifications", "ZvhNotificationsConfig"]
