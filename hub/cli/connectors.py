"""``hub connectors``: what is installed and how it is, pausing and resuming one that
delivers, and a new one from the template."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import typer

from hub.cli.failure import failed
from hub.cli.notes import operator_note
from hub.cli.remote import ConnectorState, DueAnswer, PausedAnswer, Remote, signed_in
from hub.cli.tables import print_table
from hub.settings import HubSettings

app = typer.Typer(
    help="Connectors: list the installed ones, pause and resume one, start a new one.",
    no_args_is_help=True,
)


def _delivering() -> list[str]:
    """The installed connectors that deliver: what a shell offers to complete."""
    from hub.connectors import registry

    return sorted(name for name, cls in registry.installed().items() if cls.kind == "outbound")


@app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """Every installed connector: kind, version, partner, topics and health, what it
    holds and its pause; after `hub login`, health, held and pause as the running hub
    sees them (and only the connectors the account may see)."""
    settings = HubSettings()
    remote = signed_in(settings)
    if remote is not None:
        _print_rows(_from_the_hub(remote), as_json)
        return
    from hub.cli import connectors_store

    _print_rows(connectors_store.rows(settings), as_json)


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    headers = ("name", "kind", "version", "partner", "topics", "health", "held", "paused")
    print_table(
        headers,
        [
            tuple(", ".join(r[h]) if isinstance(r[h], list) else str(r[h]) for h in headers)
            for r in rows
        ],
    )


def _from_the_hub(remote: Remote) -> list[dict[str, Any]]:
    """The connectors the signed-in account sees, as the running hub has them."""
    rows = []
    for seen in remote.call(list[ConnectorState], "GET", "/connectors"):
        pause = seen.paused
        paused = "" if pause is None else f"since {pause.paused_at}"
        if pause is not None and pause.paused_by is not None:
            paused = f"by {pause.paused_by}: {pause.why}"
        rows.append({**seen.model_dump(exclude={"paused"}), "paused": paused})
    return sorted(rows, key=lambda r: str(r["name"]))


@app.command("pause")
def pause_command(
    name: str = typer.Argument(
        ..., help="An installed connector that delivers.", autocompletion=_delivering
    ),
    why: str = typer.Option(..., "--why", help="Kept with the pause, for the other operators."),
) -> None:
    """Hold a connector's deliveries in their lanes until `hub connectors resume`: kept
    across restarts, nothing lost, none counted as an attempt."""
    why = operator_note(why)
    remote = signed_in(HubSettings())
    if remote is not None:
        path = f"/connectors/{name}/pause"
        paused = remote.call(PausedAnswer, "POST", path, body={"why": why}).paused
        at = dt.datetime.fromisoformat(paused.paused_at)
        typer.echo(f"{name} paused by {paused.paused_by} at {at:%Y-%m-%d %H:%M:%S} UTC")
        return
    from hub.cli import connectors_store

    pause = connectors_store.pause(name, why)
    typer.echo(f"{name} paused by {pause.paused_by} at {pause.paused_at:%Y-%m-%d %H:%M:%S} UTC")


@app.command("resume")
def resume_command(
    name: str = typer.Argument(..., help="A paused connector.", autocompletion=_delivering),
) -> None:
    """Lift a pause: what the connector holds is due at once, each lane in its order."""
    due = _due_now(name, resume=True)
    typer.echo(f"{name} resumed; {_due_text(due)}")


@app.command("retry-now")
def retry_now_command(
    name: str = typer.Argument(..., help="A connector that delivers.", autocompletion=_delivering),
) -> None:
    """Try what a connector holds now instead of after its backoff (its partner is
    back); a dead letter's stop stays until it is replayed (`hub dlq`)."""
    due = _due_now(name, resume=False)
    typer.echo(f"{name}: {_due_text(due)}")


def _due_text(going: int) -> str:
    """What a resume or a retry-now set going: held deliveries, each client's in order,
    the number ``connectors list`` counts (less what waits behind a dead letter)."""
    if not going:
        return "nothing was held"
    return f"{going} held deliveries go now, each client's in order"


def _due_now(name: str, *, resume: bool) -> int:
    """Resume ``name`` (or only hurry what it holds): through the hub when signed in."""
    remote = signed_in(HubSettings())
    if remote is not None:
        action = "resume" if resume else "retry-now"
        return remote.call(DueAnswer, "POST", f"/connectors/{name}/{action}").due_now
    from hub.cli import connectors_store

    return connectors_store.make_due(name, resume=resume)


@app.command("new")
def new_command(
    name: str = typer.Argument(..., help="Lower-case-with-dashes, e.g. politie-signalen."),
    kind: str = typer.Option(..., "--kind", help="inbound, outbound or lookup."),
    partner: str | None = typer.Option(None, help="The partner id or kind it serves."),
    standalone: Path | None = typer.Option(
        None, help="Write a standalone package with its own pyproject.toml under this directory."
    ),
) -> None:
    """Write a new connector from the template; edit it at its TODO markers."""
    from hub.connectors.scaffold import new_connector
    from hub.core.errors import ConfigurationError

    try:
        rendered = new_connector(name, kind, partner=partner, standalone=standalone)
    except ConfigurationError as error:
        raise failed(f"{error}") from None
    for path in rendered.files:
        typer.echo(f"wrote {path}")
    if standalone is None:
        typer.echo('\nRegister it in pyproject.toml under [project.entry-points."hub.connectors"]:')
        typer.echo(f"  {rendered.entry_point}")
    typer.echo(f"\nRun its kit: pytest {rendered.test_file}")
