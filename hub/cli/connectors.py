"""``hub connectors``: what is installed and how it is, and a new one from the template."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer

from hub.cli.tables import print_table
from hub.connectors import registry
from hub.connectors.base import Connector
from hub.connectors.scaffold import KINDS, new_connector
from hub.core.errors import ConfigurationError, HubError
from hub.settings import HubSettings

app = typer.Typer(
    help="Connectors: list the installed ones, start a new one.", no_args_is_help=True
)
HEALTH_TIMEOUT_S = 5.0


async def _health(cls: type[Connector[Any]], raw: dict[str, Any] | None) -> str:
    if raw is None:
        return "not configured"
    try:
        connector = cls.from_config(raw)
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            await connector.check()
    except ConfigurationError as error:
        return f"misconfigured: {error}"
    except HubError as error:
        return f"failing ({error.slug}): {error.message}"
    except TimeoutError:
        return f"failing: no answer within {HEALTH_TIMEOUT_S:.0f} s"
    return "ok"


@app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """Every installed connector: kind, version, partner, topics and health."""
    try:
        classes = registry.installed()
    except ConfigurationError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    configured = HubSettings().connectors

    async def describe() -> list[dict[str, Any]]:
        rows = []
        for name, cls in sorted(classes.items()):
            row = cls.describe()
            row["health"] = await _health(cls, configured.get(name))
            rows.append(row)
        return rows

    rows = asyncio.run(describe())
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    headers = ("name", "kind", "version", "partner", "topics", "health")
    print_table(
        headers,
        [
            tuple(", ".join(r[h]) if isinstance(r[h], list) else str(r[h]) for h in headers)
            for r in rows
        ],
    )


@app.command("new")
def new_command(
    name: str = typer.Argument(..., help="Lower-case-with-dashes, e.g. politie-signalen."),
    kind: str = typer.Option(..., "--kind", help=f"One of: {', '.join(KINDS)}."),
    partner: str | None = typer.Option(None, help="The partner id or kind it serves."),
    standalone: Path | None = typer.Option(
        None, help="Write a standalone package with its own pyproject.toml under this directory."
    ),
) -> None:
    """Write a new connector from the template; edit it at its TODO markers."""
    try:
        rendered = new_connector(name, kind, partner=partner, standalone=standalone)
    except ConfigurationError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    for path in rendered.files:
        typer.echo(f"wrote {path}")
    if standalone is None:
        typer.echo('\nRegister it in pyproject.toml under [project.entry-points."hub.connectors"]:')
        typer.echo(f"  {rendered.entry_point}")
    typer.echo(f"\nRun its kit: pytest {rendered.test_file}")
