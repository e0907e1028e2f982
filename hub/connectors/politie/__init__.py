"""The police: the label as a subscription (abonnement), signals when it is hit, and
notices (meldingen) of what a conflict-of-duties decision released to them."""

from hub.connectors.politie.abonnementen import PolitieAbonnementen
from hub.connectors.politie.meldingen import PolitieMeldingen
from hub.connectors.politie.signalen import PolitieSignalen

__all__ = ["PolitieAbonnementen", "PolitieMeldingen", "PolitieSignalen"]
