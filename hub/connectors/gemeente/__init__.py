"""Gemeente: JSON notifications to the casusregisseur / nazorgcoördinator, out."""

from hub.connectors.gemeente.casusregisseur import GemeenteCasusregisseur

__all__ = ["GemeenteCasusregisseur"]
