"""How a command stops on an error it can name: one red line on stderr, exit code 2
(the command could not do its work) or 1 (it did, and the answer is no)."""

from __future__ import annotations

import typer


def failed(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` and return the exit to raise (``raise failed(...)``)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)
