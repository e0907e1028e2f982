"""``hub audit``: search the trail, verify its hash chain, and report per person."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from hub.identity.bsn import normalise_bsn
from hub.identity.pseudonym import is_pseudonym, pseudonymiser_from_settings
from hub.settings import HubSettings
from hub.state import audit
from hub.state.database import make_engine, migrate, sessionmaker

app = typer.Typer(help="The audit trail of sharing decisions (NEN 7513).", no_args_is_help=True)
T = TypeVar("T")


def _with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = make_engine(HubSettings().database_url)
        try:
            await migrate(engine)
            async with sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _moment(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            "use ISO 8601, e.g. 2026-11-23T10:00:00+01:00", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _subjects(subject: str) -> list[str]:
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


@app.command("search")
def search_command(
    subject: str | None = typer.Option(None, help="Subject pseudonym or BSN."),
    partner: str | None = typer.Option(None, help="Partner id, as sender or recipient."),
    outcome: str | None = typer.Option(
        None, help="PERMIT, PERMIT_REDACTED, PERMIT_BREAK_GLASS, DENY, NO_CASE or RECORDED."
    ),
    since: str | None = typer.Option(None, help="Recorded at or after (ISO 8601)."),
    until: str | None = typer.Option(None, help="Recorded before (ISO 8601)."),
    event_id: str | None = typer.Option(None, help="One source event id."),
    limit: int | None = typer.Option(None, min=1, help="At most this many records."),
) -> None:
    """Print matching records as JSON lines, oldest first."""
    query = audit.AuditQuery(
        subjects=_subjects(subject) if subject else (),
        partner=partner,
        outcome=outcome,
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
        event_id=event_id,
        limit=limit,
    )

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [record async for record in audit.search(session, query)]

    for record in _with_session(work):
        typer.echo(json.dumps(record, ensure_ascii=False, sort_keys=True))


@app.command("verify")
def verify_command() -> None:
    """Check the whole hash chain; exit 1 naming the first broken record."""
    report = _with_session(audit.verify)
    if report.broken is None:
        typer.echo(f"audit chain intact: {report.records} records")
        return
    broken = report.broken
    typer.secho(
        f"audit chain broken at record {broken.seq}"
        + (f" ({broken.record_id})" if broken.record_id else "")
        + f": {broken.reason}; {report.records} records before it are intact",
        fg=typer.colors.RED,
        err=True,
    )
    raise typer.Exit(1)


@app.command("report")
def report_command(
    subject: str = typer.Argument(..., help="The person's BSN or pseudonym."),
) -> None:
    """Per-person disclosure report (GDPR art. 15): who received what, when, on which basis."""
    subjects = _subjects(subject)

    async def work(session: AsyncSession) -> dict[str, Any]:
        return await audit.disclosure_report(session, subjects)

    report = _with_session(work)
    report["generated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
