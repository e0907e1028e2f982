"""``hub login`` and ``hub logout``: a management API session for the CLI
(``hub.cli.remote``)."""

from __future__ import annotations

import typer

from hub.cli.failure import failed
from hub.cli.remote import forget, hub_address, keep, running_hub_url, sign_in
from hub.settings import HubSettings


def login(
    url: str | None = typer.Option(
        None, help="The hub's HTTP address; by default the `hub up` in this data directory."
    ),
    username: str = typer.Option(..., prompt=True, help="A console account."),
    password: str = typer.Option(..., prompt=True, hide_input=True),
) -> None:
    """Sign in to a running hub: `hub dlq` and the connectors' pause, resume and
    retry-now then go through its management API, under this account's role."""
    settings = HubSettings()
    given = url or running_hub_url(settings)
    if not given:
        raise failed("no hub runs in this data directory; give its address with --url")
    address = hub_address(given)
    session = sign_in(address, username, password)
    path = keep(settings, address, session)
    typer.echo(f"signed in to {address} as {session.account} ({session.role}); kept in {path}")


def logout() -> None:
    """End the CLI's session at the hub and forget it."""
    ended = forget(HubSettings())
    typer.echo(f"signed out of {ended.url}" if ended else "not signed in")
