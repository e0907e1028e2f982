"""Levensloopaanbieder: FHIR R4 Communications to the LLC's FHIR endpoint, out."""

from hub.connectors.llz.communication import LlcCommunication, LlcCommunicationConfig

__all__ = ["LlcCommunication", "LlcCommunicationConfig"]
