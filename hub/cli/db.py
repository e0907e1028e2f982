"""``hub db``: the state database's migrations, as their own step."""

from __future__ import annotations

import asyncio

import typer

from hub.settings import HubSettings
from hub.state.database import current_revision, make_engine, migrate

app = typer.Typer(help="Manage the state database.", no_args_is_help=True)


async def _upgrade(url: str) -> str | None:
    engine = make_engine(url)
    try:
        await migrate(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


@app.command("upgrade")
def upgrade() -> None:
    """Apply every pending migration to the configured database."""
    revision = asyncio.run(_upgrade(HubSettings().database_url))
    typer.echo(f"database at revision {revision}")
