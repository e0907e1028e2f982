"""Reclassering: supervision signals from Iris, in."""

from hub.connectors.reclassering.signals import IrisSignals, IrisSignalsConfig

__all__ = ["IrisSignals", "IrisSignalsConfig"]
