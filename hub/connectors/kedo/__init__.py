"""KEDO: the national case look-up across the Zorg- en Veiligheidshuizen (flow A)."""

from hub.connectors.kedo.regie import KedoRegie, KedoRegieConfig

__all__ = ["KedoRegie", "KedoRegieConfig"]
