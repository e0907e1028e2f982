"""``hub audit``: search the trail, verify its hash chain, and report per person.

The store's modules are imported where a command works on the store: `hub audit report`
after `hub login` asks the running hub and loads no database layer."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import typer

from hub.cli.failure import failed
from hub.cli.remote import signed_in
from hub.core.subjects import is_pseudonym
from hub.settings import HubSettings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

app = typer.Typer(help="The audit trail of sharing decisions (NEN 7513).", no_args_is_help=True)


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


@app.command("search")
def search_command(
    subject: str | None = typer.Option(None, help="Subject pseudonym or BSN."),
    partner: str | None = typer.Option(None, help="Partner id, as sender or recipient."),
    outcome: str | None = typer.Option(
        None, help="An outcome: PERMIT, PERMIT_REDACTED, DENY, NO_CASE, DUPLICATE_START, …"
    ),
    since: str | None = typer.Option(None, help="Recorded at or after (ISO 8601)."),
    until: str | None = typer.Option(None, help="Recorded before (ISO 8601)."),
    event_id: str | None = typer.Option(None, help="One source event id."),
    limit: int | None = typer.Option(None, min=1, help="At most this many records."),
) -> None:
    """Print matching records as JSON lines, oldest first."""
    from hub.cli.store import subjects_of, with_session
    from hub.identity.rekeying import with_history
    from hub.state import audit

    if outcome is not None and outcome not in audit.OUTCOMES:
        raise typer.BadParameter(f"one of: {', '.join(audit.OUTCOMES)}", param_hint="--outcome")
    query = audit.AuditQuery(
        subjects=subjects_of(subject) if subject else (),
        partner=partner,
        outcome=outcome,
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
        event_id=event_id,
        limit=limit,
    )

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        found = replace(query, subjects=await with_history(session, query.subjects))
        return [record async for record in audit.search(session, found)]

    for record in with_session(work):
        typer.echo(json.dumps(record, ensure_ascii=False, sort_keys=True))


@app.command("verify")
def verify_command() -> None:
    """Check the whole hash chain; exit 1 naming the first broken record."""
    from hub.cli.store import with_session
    from hub.state import audit

    report = with_session(audit.verify)
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
    """Per-person disclosure report (GDPR art. 15): who received what, when, on which
    basis. After `hub login`, the running hub's (a privacy officer's account, a
    pseudonym; the look is audited there)."""
    remote = signed_in(HubSettings())
    if remote is not None:
        if not is_pseudonym(subject):
            raise failed(
                "signed in, the hub is asked, and it takes a pseudonym (psn-…), never a BSN; "
                "`hub logout` to read this machine's store"
            )
        report = remote.call(dict[str, Any], "GET", f"/subjects/{subject}/disclosures")
    else:
        from hub.cli.store import subjects_of, with_session
        from hub.identity.rekeying import with_history
        from hub.state import audit

        subjects = subjects_of(subject)

        async def work(session: AsyncSession) -> dict[str, Any]:
            return await audit.disclosure_report(session, await with_history(session, subjects))

        report = with_session(work)
    report["generated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
