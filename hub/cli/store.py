"""What the CLI commands that read the hub's state share: a session on the configured
database, and a person named by BSN or pseudonym."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from hub.identity.bsn import normalise_bsn
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
