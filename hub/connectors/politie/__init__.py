"""The police: the label as a subscription (abonnement), and signals when it is hit."""

from hub.connectors.politie.abonnementen import PolitieAbonnementen
from hub.connectors.politie.signalen import PolitieSignalen

__all__ = ["PolitieAbonnementen", "PolitieSignalen"]
