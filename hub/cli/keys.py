"""``hub keys rewrap``: the step of a master-key rotation that moves every client's data
key under the new master key, after which the old one can be retired.

Rotation without downtime: add the new key as ``HUB_CRYPTO__KEY`` (with a new
``HUB_CRYPTO__KEY_ID``) and the old one under ``HUB_CRYPTO__PREVIOUS__<id>``, restart the
hub processes one by one (they read both and wrap new keys under the new one), run
``hub keys rewrap``, then drop the old key from ``PREVIOUS``.
"""

from __future__ import annotations

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.cli.store import with_keyring
from hub.identity.keyring import Keyring
from hub.settings import HubSettings

app = typer.Typer(help="The master key that wraps the clients' data keys.", no_args_is_help=True)


@app.command("rewrap")
def rewrap_command() -> None:
    """Wrap every data key under the active master key."""

    async def work(_: async_sessionmaker[AsyncSession], keyring: Keyring) -> int:
        return await keyring.rewrap()

    moved = with_keyring(work)
    typer.echo(f"{moved} data key(s) now wrapped under master key {HubSettings().crypto.key_id}")
