"""``hub asyncapi``: the AsyncAPI document of every channel."""

from __future__ import annotations

from pathlib import Path

import typer

from hub.schemas.asyncapi import render


def asyncapi(
    out: Path | None = typer.Option(None, "--out", help="Write to this file instead of stdout."),
) -> None:
    """Print (or write) the AsyncAPI 3.0 document generated from the code."""
    text = render()
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")
