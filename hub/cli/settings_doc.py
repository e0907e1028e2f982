"""``hub settings``: the configuration reference."""

from __future__ import annotations

import typer

from hub.settings_reference import settings_markdown


def settings() -> None:
    """Print every setting with its environment variable, default and meaning (Markdown)."""
    typer.echo(settings_markdown())
