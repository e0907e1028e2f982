"""What the CLI commands that read the hub's state share: a session on the configured
database, and a person named by BSN or pseudonym."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.errors import HubError
from hub.identity.bsn import normalise_bsn
from hub.identity.keyring import Keyring, master_keys_from_settings
from hub.identity.pseudonym import is_pseudonym, pseudonymiser_from_settings
from hub.settings import HubSettings
from hub.state.database import make_engine, migrate, sessionmaker

T = TypeVar("T")


def with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = make_engine(HubSettings().database_url)
        try:
            await migrate(engine)
            async with sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def with_keyring(work: Callable[[async_sessionmaker[AsyncSession], Keyring], Awaitable[T]]) -> T:
    """Run ``work`` with the configured store and the clients' keyring (the master key
    must exist: the CLI never makes one); a HubError ends the command with its message."""

    async def run() -> T:
        settings = HubSettings()
        engine = make_engine(settings.database_url)
        try:
            await migrate(engine)
            sessions = sessionmaker(engine)
            masters = master_keys_from_settings(settings, create_key=False)
            return await work(sessions, Keyring(sessions, masters))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except HubError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def subjects_of(subject: str) -> list[str]:
    """A pseudonym as given, or a BSN's pseudonym under every known key (never echoed)."""
    if is_pseudonym(subject):
        return [subject]
    try:
        normalise_bsn(subject)
    except ValueError as error:
        raise typer.BadParameter(f"neither a pseudonym nor a BSN: {error}") from None
    try:
        pseudonymiser = pseudonymiser_from_settings(HubSettings(), create_key=False)
    except ValueError as error:
        raise typer.BadParameter(f"cannot pseudonymise the BSN: {error}") from None
    return pseudonymiser.all_pseudonyms(subject)
