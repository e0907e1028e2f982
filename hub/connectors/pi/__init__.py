"""PI backoffice: transfer notices in; the "in Levensloopaanpak" melding with the LLC
contact out."""

from hub.connectors.pi.backoffice import PiBackoffice
from hub.connectors.pi.transfers import PiTransfers, PiTransfersConfig

__all__ = ["PiBackoffice", "PiTransfers", "PiTransfersConfig"]
