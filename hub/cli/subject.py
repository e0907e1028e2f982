"""``hub subject erase``: an erasure request, carried out by crypto-shredding."""

from __future__ import annotations

import datetime as dt
import getpass

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.cli.store import subjects_of, with_keyring
from hub.identity.erasure import erase_subject
from hub.identity.keyring import Keyring
from hub.identity.rekeying import current_pseudonyms

app = typer.Typer(help="One client's data: erasure.", no_args_is_help=True)


@app.command("erase")
def erase_command(
    subject: str = typer.Argument(..., help="The client's BSN or pseudonym."),
    reason: str = typer.Option(..., "--reason", help="Why: recorded in the audit trail."),
) -> None:
    """Destroy the client's data keys: every sealed copy of what the bus said about
    them, on Kafka, in dead letters and in backups, becomes unreadable. Audited."""
    if not reason.strip():
        raise typer.BadParameter("give the reason for the erasure", param_hint="--reason")
    subjects = subjects_of(subject)

    async def work(sessions: async_sessionmaker[AsyncSession], keyring: Keyring) -> int:
        destroyed = 0
        async with sessions.begin() as session:
            for pseudonym in await current_pseudonyms(session, subjects):
                destroyed += await erase_subject(
                    session,
                    keyring,
                    pseudonym,
                    reason=reason.strip(),
                    by=f"cli:{getpass.getuser()}",
                    now=dt.datetime.now(dt.UTC),
                )
        return destroyed

    destroyed = with_keyring(work)
    typer.echo(
        f"erased: {destroyed} data key(s) destroyed for {', '.join(subjects)}; "
        "the erasure is in the audit trail"
    )
