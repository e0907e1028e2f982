"""The ``hub`` command line."""

from __future__ import annotations

import contextlib

import typer
from pydantic import ValidationError

from hub import __version__
from hub.cli import (
    asyncapi,
    audit,
    bench,
    connectors,
    console,
    db,
    deploy,
    dlq,
    erasure,
    keys,
    labels,
    policy,
    schemas,
    serve,
    settings_doc,
    simulate,
    subject,
    topics,
)
from hub.logs import configure_logging
from hub.settings import HubSettings

app = typer.Typer(
    name="hub",
    help="Ketenhub: carries Levensloopaanpak signals between chain partners, within the "
    "sharing rules.",
    no_args_is_help=True,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"ketenhub {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the hub's version and exit.",
    ),
) -> None:
    """Ketenhub: carries Levensloopaanpak signals between chain partners, within the
    sharing rules."""


app.command("up")(serve.up)
app.command("run")(serve.run)
app.add_typer(schemas.app, name="schemas")
app.add_typer(db.app, name="db")
app.add_typer(policy.app, name="policy")
app.add_typer(audit.app, name="audit")
app.add_typer(labels.app, name="labels")
app.add_typer(dlq.app, name="dlq")
app.add_typer(subject.app, name="subject")
app.add_typer(erasure.app, name="erasure")
app.add_typer(keys.app, name="keys")
app.add_typer(console.app, name="console")
app.command("settings")(settings_doc.settings)
app.command("asyncapi")(asyncapi.asyncapi)
app.command("simulate")(simulate.simulate)
app.command("bench")(bench.bench)
app.add_typer(connectors.app, name="connectors")
app.add_typer(topics.app, name="topics")
app.add_typer(deploy.app, name="deploy")


def main() -> None:
    """The console script: logs go to stderr at the configured level, so a command's
    output stays its own (a command with settings it cannot read says so itself)."""
    with contextlib.suppress(ValidationError):
        configure_logging(HubSettings().log)
    app()
