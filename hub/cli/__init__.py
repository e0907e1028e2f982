"""The ``hub`` command line."""

from __future__ import annotations

import typer

from hub.cli import audit, db, policy, schemas, serve, settings_doc

app = typer.Typer(
    name="hub",
    help="Ketenhub: carries Levensloopaanpak signals between chain partners, within the "
    "sharing rules.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("up")(serve.up)
app.command("run")(serve.run)
app.add_typer(schemas.app, name="schemas")
app.add_typer(db.app, name="db")
app.add_typer(policy.app, name="policy")
app.add_typer(audit.app, name="audit")
app.command("settings")(settings_doc.settings)


def main() -> None:
    app()
