"""The acute GGZ crisis service: pre-registration as FHIR, and its crisis contacts."""

from hub.connectors.crisis.contacten import CrisisContacten
from hub.connectors.crisis.vooraanmelding import CrisisVooraanmelding

__all__ = ["CrisisContacten", "CrisisVooraanmelding"]
