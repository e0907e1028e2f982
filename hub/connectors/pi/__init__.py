"""PI backoffice: the "in Levensloopaanpak" melding with the LLC contact, out."""

from hub.connectors.pi.backoffice import PiBackoffice

__all__ = ["PiBackoffice"]
