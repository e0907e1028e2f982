"""``hub connectors``: what is installed and how it is, pausing and resuming one that
delivers, and a new one from the template."""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import json
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.cli.failure import failed
from hub.cli.notes import operator_note
from hub.cli.remote import ConnectorState, DueAnswer, PausedAnswer, Remote, signed_in
from hub.cli.store import current_store, store_url, with_session
from hub.cli.tables import print_table
from hub.connectors import registry
from hub.connectors.base import Connector
from hub.connectors.scaffold import KINDS, new_connector
from hub.core.errors import ConfigurationError, HubError
from hub.settings import HubSettings
from hub.state import holdback, pauses
from hub.state.database import sessionmaker
from hub.state.outbox import OUTBOUND_PREFIX

app = typer.Typer(
    help="Connectors: list the installed ones, pause and resume one, start a new one.",
    no_args_is_help=True,
)
HEALTH_TIMEOUT_S = 5.0


async def _health(cls: type[Connector[Any]], raw: dict[str, Any] | None) -> str:
    if raw is None:
        return "not configured"
    try:
        connector = cls.from_config(raw)
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                await connector.check()
        finally:
            await connector.close()  # its partner session, or aiohttp says it leaked
    except ConfigurationError as error:
        return f"misconfigured: {error}"
    except HubError as error:
        return f"failing ({error.slug}): {error.message}"
    except TimeoutError:
        return f"failing: no answer within {HEALTH_TIMEOUT_S:.0f} s"
    return "ok"


@app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="JSON instead of a table."),
) -> None:
    """Every installed connector: kind, version, partner, topics and health, what it
    holds and its pause; after `hub login`, health, held and pause as the running hub
    sees them (and only the connectors the account may see)."""
    settings = HubSettings()
    try:
        classes = registry.installed()
        registry.require_installed(settings.connectors, classes)
    except ConfigurationError as error:
        raise failed(f"{error}") from None
    remote = signed_in(settings)

    async def describe() -> list[dict[str, Any]]:
        held, paused = await _held_and_paused(settings)
        rows = []
        for name, cls in sorted(classes.items()):
            row = cls.describe()
            row["health"] = await _health(cls, settings.connectors.get(name))
            row["held"] = held.get(f"{OUTBOUND_PREFIX}{name}", 0) if held is not None else "?"
            pause = paused.get(name)
            row["paused"] = f"by {pause.paused_by}: {pause.why}" if pause else ""
            rows.append(row)
        return rows

    rows = _from_the_hub(remote, classes) if remote is not None else asyncio.run(describe())
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    headers = ("name", "kind", "version", "partner", "topics", "health", "held", "paused")
    print_table(
        headers,
        [
            tuple(", ".join(r[h]) if isinstance(r[h], list) else str(r[h]) for h in headers)
            for r in rows
        ],
    )


def _from_the_hub(remote: Remote, classes: dict[str, type[Connector[Any]]]) -> list[dict[str, Any]]:
    """The connectors the signed-in account sees, as the running hub has them."""
    rows = []
    for seen in remote.call(list[ConnectorState], "GET", "/connectors"):
        row = classes[seen.name].describe() if seen.name in classes else {"name": seen.name}
        pause = seen.paused
        paused = "" if pause is None else f"since {pause.paused_at}"
        if pause is not None and pause.paused_by is not None:
            paused = f"by {pause.paused_by}: {pause.why}"
        row |= {"kind": seen.kind, "partner": seen.partner, "health": seen.health}
        row |= {"held": seen.held, "paused": paused}
        rows.append({"version": "?", "topics": [], **row})
    return sorted(rows, key=lambda r: str(r["name"]))


async def _held_and_paused(
    settings: HubSettings,
) -> tuple[dict[str, int] | None, dict[str, pauses.Pause]]:
    """What each connector holds and which are paused, from the state store; nothing
    (held unknown) where there is no store, as on a partner's development machine."""
    try:
        async with current_store(store_url(settings)) as engine, sessionmaker(engine)() as session:
            return await holdback.pending_by_consumer(session), await pauses.paused(session)
    except (HubError, DBAPIError, OSError):
        return None, {}


def _outbound(name: str) -> None:
    """Refuse, with one line, a name that is not an installed connector that delivers."""
    try:
        cls = registry.installed().get(name)
    except ConfigurationError as error:
        raise failed(f"{error}") from None
    if cls is None or cls.kind != "outbound":
        what = "is not an installed connector" if cls is None else "receives; it cannot be paused"
        raise failed(f"{name} {what}")


@app.command("pause")
def pause_command(
    name: str = typer.Argument(..., help="An installed connector that delivers."),
    why: str = typer.Option(..., "--why", help="Kept with the pause, for the other operators."),
) -> None:
    """Hold a connector's deliveries in their lanes until `hub connectors resume`: kept
    across restarts, nothing lost, none counted as an attempt."""
    why = operator_note(why)
    remote = signed_in(HubSettings())
    if remote is not None:
        path = f"/connectors/{name}/pause"
        paused = remote.call(PausedAnswer, "POST", path, body={"why": why}).paused
        at = dt.datetime.fromisoformat(paused.paused_at)
        typer.echo(f"{name} paused by {paused.paused_by} at {at:%Y-%m-%d %H:%M:%S} UTC")
        return
    _outbound(name)

    async def work(session: AsyncSession) -> pauses.Pause:
        async with session.begin():
            by = f"cli:{getpass.getuser()}"
            return await pauses.pause(session, name, by=by, why=why, now=_now())

    pause = with_session(work)
    typer.echo(f"{name} paused by {pause.paused_by} at {pause.paused_at:%Y-%m-%d %H:%M:%S} UTC")


@app.command("resume")
def resume_command(name: str = typer.Argument(..., help="A paused connector.")) -> None:
    """Lift a pause: what the connector holds is due at once, each lane in its order."""
    due = _due_now(name, resume=True)
    typer.echo(f"{name} resumed; {_due_text(due)}")


@app.command("retry-now")
def retry_now_command(name: str = typer.Argument(..., help="A connector that delivers.")) -> None:
    """Try what a connector holds now instead of after its backoff (its partner is
    back); a dead letter's stop stays until it is replayed (`hub dlq`)."""
    due = _due_now(name, resume=False)
    typer.echo(f"{name}: {_due_text(due)}")


def _due_text(lanes: int) -> str:
    """What was made due: a lane is one client's deliveries, which go in their order
    (``connectors list`` counts the deliveries)."""
    if not lanes:
        return "nothing was held"
    return f"what {lanes} client lane(s) hold is due now, each in its order"


def _due_now(name: str, *, resume: bool) -> int:
    """Resume ``name`` (or only hurry what it holds): through the hub when signed in."""
    remote = signed_in(HubSettings())
    if remote is not None:
        action = "resume" if resume else "retry-now"
        return remote.call(DueAnswer, "POST", f"/connectors/{name}/{action}").due_now
    _outbound(name)
    return with_session(lambda session: _make_due(session, name, resume=resume))


async def _make_due(session: AsyncSession, name: str, *, resume: bool) -> int:
    consumer = f"{OUTBOUND_PREFIX}{name}"
    async with session.begin():
        if resume:
            return await pauses.resume(session, name, consumer, _now())
        return await pauses.retry_now(session, name, consumer, _now())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@app.command("new")
def new_command(
    name: str = typer.Argument(..., help="Lower-case-with-dashes, e.g. politie-signalen."),
    kind: str = typer.Option(..., "--kind", help=f"One of: {', '.join(KINDS)}."),
    partner: str | None = typer.Option(None, help="The partner id or kind it serves."),
    standalone: Path | None = typer.Option(
        None, help="Write a standalone package with its own pyproject.toml under this directory."
    ),
) -> None:
    """Write a new connector from the template; edit it at its TODO markers."""
    try:
        rendered = new_connector(name, kind, partner=partner, standalone=standalone)
    except ConfigurationError as error:
        raise failed(f"{error}") from None
    for path in rendered.files:
        typer.echo(f"wrote {path}")
    if standalone is None:
        typer.echo('\nRegister it in pyproject.toml under [project.entry-points."hub.connectors"]:')
        typer.echo(f"  {rendered.entry_point}")
    typer.echo(f"\nRun its kit: pytest {rendered.test_file}")
