"""Reclassering: the label as an Iris melding, and Iris's supervision signals."""

from hub.connectors.reclassering.meldingen import IrisMeldingen, IrisMeldingenConfig
from hub.connectors.reclassering.signals import IrisSignals, IrisSignalsConfig

__all__ = ["IrisMeldingen", "IrisMeldingenConfig", "IrisSignals", "IrisSignalsConfig"]
