"""``hub schemas``: the contracts as JSON Schema, and whether they changed only by
addition (:mod:`hub.schemas.compatibility`)."""

from __future__ import annotations

from pathlib import Path

import typer

from hub.cli.failure import failed
from hub.schemas.compatibility import breaking_changes, read_snapshots
from hub.schemas.export import event_schemas, export_schemas

app = typer.Typer(help="The canonical event contracts.", no_args_is_help=True)
SNAPSHOTS = Path("docs/schemas")


@app.command("export")
def export(
    directory: Path = typer.Argument(..., help="Directory to write the schemas to."),
) -> None:
    """Write a JSON Schema for every canonical event and for the envelope."""
    written = export_schemas(directory)
    typer.echo(f"wrote {len(written)} schemas to {directory}")


@app.command("check")
def check(
    snapshots: Path = typer.Option(SNAPSHOTS, help="The committed schemas to compare with."),
    update: bool = typer.Option(
        False, "--update", help="After a clean check, write this hub's schemas there."
    ),
) -> None:
    """Compare this hub's contracts with the committed snapshots: exit 1, naming each,
    on a breaking change (a field removed, changed, or required or optional now; an
    event removed); additions pass."""
    committed = read_snapshots(snapshots)
    if not committed:
        raise failed(f"no schemas in {snapshots}")
    current = event_schemas()
    breaking = breaking_changes(committed, current)
    for change in breaking:
        typer.echo(f"breaking: {change}")
    if breaking:
        typer.secho(
            f"{len(breaking)} breaking change(s): a new major version is needed",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    added = sorted(set(current) - set(committed))
    changed = sorted(n for n in set(current) & set(committed) if current[n] != committed[n])
    if update:
        export_schemas(snapshots)
        typer.echo(f"compatible; {len(current)} schemas written to {snapshots}")
        return
    typer.echo(
        f"compatible with {snapshots}: {len(added)} new, {len(changed)} grown or reworded"
        + ("; `hub schemas check --update` records them" if added or changed else "")
    )
