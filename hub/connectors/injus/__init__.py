"""DJI / Justid Injus: detention events for the municipality of origin, in (flows A, D, E)."""

from hub.connectors.injus.detentie import InjusDetentie, InjusDetentieConfig

__all__ = ["InjusDetentie", "InjusDetentieConfig"]
