"""Ketenhub: the integration and messaging hub of the Levensloopaanpak."""

__version__ = "0.1.0"
