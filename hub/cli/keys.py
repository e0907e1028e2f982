"""``hub keys``: rotating the pseudonym key and the master key while the hub runs.

``hub keys rotate`` writes a new key into the key directory and makes it the active
one. Every hub process picks it up within a second (``hub.identity.keyfiles``), so
nothing stops. After a settling time it finishes the rotation: every data key is
re-wrapped under the new master key, and every client's state moves to their new
pseudonym (the router moves a client it meets first). The old keys stay in the
directory until ``hub keys retire`` finds nothing that still needs them.

Keys given as values or single files (``HUB_CRYPTO__KEY``, ``…_KEY_FILE``) cannot be
rotated live: there it is the new key under ``…__KEY``, the old one under
``…__PREVIOUS__<id>``, a rolling restart, then ``hub keys finish``.
"""

from __future__ import annotations

import asyncio

import typer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.cli.failure import failed
from hub.cli.store import with_keyring
from hub.core.errors import ConfigurationError
from hub.identity.keyfiles import RELOAD_S, KeyDirectory
from hub.identity.keyring import Keyring, master_keys_from_settings
from hub.identity.pseudonym import Pseudonymiser, pseudonym_keys
from hub.identity.rekeying import MOVED, Rekeyer
from hub.identity.vault import IdentityVault
from hub.settings import HubSettings
from hub.state.tables import Base, DataKeyRecord, IdentityVaultEntry

app = typer.Typer(help="Rotate and retire the hub's keys.", no_args_is_help=True)
SETTLE_S = 3 * RELOAD_S
"""How long a rotation waits for every hub process to pick up the new key."""


def _directory(source: object, kind: str) -> KeyDirectory:
    if isinstance(source, KeyDirectory):
        return source
    setting = "HUB_PSEUDONYM__KEY" if kind == "pseudonym" else "HUB_CRYPTO__KEY"
    raise ConfigurationError(
        f"the {kind} key comes from {setting} or its file, which cannot rotate live: put "
        f"the new key there, the old one under …__PREVIOUS__<id>, and restart the "
        f"processes one by one (docs/security.md)",
        field=setting,
    )


def _pseudonym_directory(settings: HubSettings) -> KeyDirectory:
    try:
        return _directory(pseudonym_keys(settings, create_key=False), "pseudonym")
    except ValueError as error:
        raise ConfigurationError(str(error), field="pseudonym.key") from None


async def _finish(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring, settings: HubSettings
) -> None:
    moved = await keyring.rewrap()
    typer.echo(
        f"{moved} data key(s) re-wrapped under master key {keyring.masters.current().active_id}"
    )
    try:
        pseudonymiser = Pseudonymiser(source=pseudonym_keys(settings, create_key=False))
    except ValueError as error:
        raise ConfigurationError(str(error), field="pseudonym.key") from None
    vault = IdentityVault.for_pseudonymiser(pseudonymiser)
    report = await Rekeyer(pseudonymiser, vault, keyring).rekey_all(sessions)
    typer.echo(
        f"{report.moved} client(s) moved to pseudonym key {pseudonymiser.active_key_id}; "
        f"{report.remaining} left under older keys"
    )


@app.command("rotate")
def rotate_command(
    pseudonym: bool = typer.Option(True, help="Rotate the pseudonym key."),
    master: bool = typer.Option(True, help="Rotate the master key."),
    settle_s: float = typer.Option(SETTLE_S, help="Wait for the hub processes this long."),
) -> None:
    """Make new active keys, then re-wrap every data key and move every client's state."""
    settings = HubSettings()

    async def work(sessions: async_sessionmaker[AsyncSession], keyring: Keyring) -> None:
        rotated = []
        if master:
            rotated.append(_directory(keyring.masters.source, "master"))
        if pseudonym:
            rotated.append(_pseudonym_directory(settings))
        for directory in rotated:
            retired = directory.current().active_id
            new = directory.rotate().active_id
            typer.echo(f"{directory.kind} key {new} is active; {retired} stays readable")
        await asyncio.sleep(settle_s)
        await _finish(sessions, keyring, settings)

    with_keyring(work)


@app.command("finish")
def finish_command() -> None:
    """Re-wrap every data key and move every client to the active keys."""
    settings = HubSettings()
    with_keyring(lambda sessions, keyring: _finish(sessions, keyring, settings))


@app.command("retire")
def retire_command(
    kind: str = typer.Argument(..., help="pseudonym or master"),
    key_id: str = typer.Argument(..., help="The id of the old key."),
) -> None:
    """Delete an old key, once nothing in the hub's state still needs it."""
    if kind not in ("pseudonym", "master"):
        raise typer.BadParameter("pseudonym or master", param_hint="KIND")
    settings = HubSettings()

    async def work(sessions: async_sessionmaker[AsyncSession], keyring: Keyring) -> int:
        async with sessions() as session:
            if kind == "master":
                return int(
                    await session.scalar(
                        select(func.count())
                        .select_from(DataKeyRecord)
                        .where(
                            DataKeyRecord.master_key_id == key_id,
                            DataKeyRecord.wrapped.is_not(None),
                        )
                    )
                    or 0
                )
            under = f"psn-{key_id}-%"
            total = 0
            tables: tuple[type[Base], ...] = (IdentityVaultEntry, *MOVED)
            for table in tables:
                column = table.__table__.c.subject
                total += int(
                    await session.scalar(
                        select(func.count()).select_from(table).where(column.like(under))
                    )
                    or 0
                )
            return total

    needing = with_keyring(work)
    if needing:
        raise failed(
            f"{kind} key {key_id} is still needed by {needing} record(s): finish the "
            f"rotation with `hub keys finish` first",
            code=1,
        )
    try:
        source = (
            master_keys_from_settings(settings, create_key=False).source
            if kind == "master"
            else _pseudonym_directory(settings)
        )
        _directory(source, kind).retire(key_id)
    except (ValueError, ConfigurationError) as error:
        raise failed(f"{error}") from None
    typer.echo(f"{kind} key {key_id} retired")
