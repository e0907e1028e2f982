"""``hub schemas``: the contracts as JSON Schema."""

from __future__ import annotations

from pathlib import Path

import typer

from hub.schemas.export import export_schemas

app = typer.Typer(help="Export the canonical event contracts.", no_args_is_help=True)


@app.command("export")
def export(
    directory: Path = typer.Argument(..., help="Directory to write the schemas to."),
) -> None:
    """Write a JSON Schema for every canonical event and for the envelope."""
    written = export_schemas(directory)
    typer.echo(f"wrote {len(written)} schemas to {directory}")
