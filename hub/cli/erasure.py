"""``hub erasure run``: the retention clocks at once, instead of at the router's next
hourly pass (:mod:`hub.retention`)."""

from __future__ import annotations

import datetime as dt

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.cli.store import with_keyring
from hub.core.calendar import day_end, local_day
from hub.identity.keyring import Keyring
from hub.retention import Erased, erase_due
from hub.settings import HubSettings

app = typer.Typer(help="The retention clocks: erasure when its term ends.", no_args_is_help=True)


def _as_of(day: str | None, ahead: bool) -> dt.datetime:
    """The moment the pass runs as of: now, or the end of ``day`` in Amsterdam. A day
    ahead would erase early, so it needs ``--ahead`` (a test or demo environment)."""
    now = dt.datetime.now(dt.UTC)
    if day is None:
        return now
    try:
        wanted = dt.date.fromisoformat(day)
    except ValueError:
        raise typer.BadParameter(
            f"not a date (YYYY-MM-DD): {day!r}", param_hint="--as-of"
        ) from None
    if wanted > local_day(now) and not ahead:
        raise typer.BadParameter(
            f"{wanted} lies ahead: what falls due by then would be erased early; "
            "add --ahead to do that anyway (a test or demo environment)",
            param_hint="--as-of",
        )
    return min(now, day_end(wanted)) if wanted <= local_day(now) else day_end(wanted)


@app.command("run")
def run_command(
    as_of: str | None = typer.Option(
        None, "--as-of", metavar="DATE", help="Run as of the end of this day (YYYY-MM-DD)."
    ),
    ahead: bool = typer.Option(False, "--ahead", help="Allow a day that lies ahead."),
) -> None:
    """Erase now what the retention terms say is due: detention data six months after
    release, closed cases after their retention, people in no case after a week, and the
    records without a legal term. Audited, as the hourly pass is."""
    moment = _as_of(as_of, ahead)
    routing = HubSettings().routing

    async def work(sessions: async_sessionmaker[AsyncSession], keyring: Keyring) -> Erased:
        return await erase_due(sessions, keyring, routing, moment)

    erased = with_keyring(work)
    typer.echo(f"retention pass as of {moment.isoformat(timespec='seconds')}:")
    typer.echo(f"  detention data erased (six months after release): {len(erased.released)}")
    typer.echo(f"  closed cases erased (end of their retention): {len(erased.closed)}")
    typer.echo(f"  people in no case erased (a week after the last event): {len(erased.no_case)}")
