"""``hub console add-user``: local console accounts for the embedded mode."""

from __future__ import annotations

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from hub.cli.store import with_session
from hub.console import accounts
from hub.console.accounts import Role

app = typer.Typer(help="The operations console's local accounts.", no_args_is_help=True)


@app.command("add-user")
def add_user(
    username: str = typer.Argument(..., help="The login name."),
    role: Role = typer.Option(..., help="operator, privacy-officer or partner."),
    partner: str | None = typer.Option(None, help="A partner account's partner id."),
    password: str = typer.Option(
        ...,
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="HUB_CONSOLE_PASSWORD",
        help="Asked for when not given (or from HUB_CONSOLE_PASSWORD); stored as argon2.",
    ),
) -> None:
    """Create a console account; the password is stored only as an argon2 hash."""

    async def work(session: AsyncSession) -> None:
        async with session.begin():
            await accounts.create(session, username, password, role, partner)

    with_session(work)
    typer.echo(f"account {username} ({role.value}) created")
