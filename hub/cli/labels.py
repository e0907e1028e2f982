"""``hub labels status``: where the Levensloopaanpak label stands at each label partner,
per client, and which label sets or withdrawals are still incomplete, and why.

After ``hub login`` it asks the running hub (``GET /api/v1/labels``), which names a
client by pseudonym only; without a login it reads the state store, as on a hub machine,
where a BSN is pseudonymised first. Both give the same rows (:class:`LabelRow`).
"""

from __future__ import annotations

import datetime as dt

import typer

from hub.cli.failure import failed
from hub.cli.remote import LabelRow, Remote, signed_in
from hub.cli.tables import print_table
from hub.settings import HubSettings

app = typer.Typer(
    help="The label at the police, Reclassering and the crisis service.", no_args_is_help=True
)


@app.command("status")
def status_command(
    subject: str | None = typer.Argument(None, help="One client's BSN or pseudonym."),
    incomplete_after: float | None = typer.Option(
        None,
        min=0,
        help="List as incomplete what is not acknowledged after this many seconds "
        "(default: HUB_ROUTING__LABEL_INCOMPLETE_AFTER_S).",
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    check: bool = typer.Option(False, help="Exit 1 when anything is incomplete."),
) -> None:
    """Per client and per label partner: set, pending, failed or withdrawn."""
    settings = HubSettings()
    late_after = (
        settings.routing.label_incomplete_after_s if incomplete_after is None else incomplete_after
    )
    remote = signed_in(settings)
    if remote is not None:
        rows = _from_the_hub(remote, subject, late_after)
    else:
        rows = _from_the_store(subject, late_after)
    if as_json:
        for row in rows:
            typer.echo(row.model_dump_json())
    else:
        _print(rows, late_after)
    if check and any(row.incomplete for row in rows):
        raise typer.Exit(1)


def _from_the_hub(remote: Remote, subject: str | None, late_after: float) -> list[LabelRow]:
    from hub.core.subjects import is_pseudonym

    if subject is not None and not is_pseudonym(subject):
        raise failed(
            "signed in, the hub is asked, and it takes a pseudonym (psn-…), never a BSN; "
            "`hub logout` to read this machine's store"
        )
    params = {"subject": subject, "incomplete_after": late_after}
    return remote.listed(LabelRow, "/labels", params, limit=100_000)


def _from_the_store(subject: str | None, late_after: float) -> list[LabelRow]:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.cli.store import subjects_of, with_session
    from hub.console.wording import label_shown
    from hub.state import labels

    subjects = subjects_of(subject) if subject else None

    async def work(session: AsyncSession) -> list[labels.LabelView]:
        return await labels.status(session, subjects)

    now = dt.datetime.now(dt.UTC)
    return [LabelRow(**label_shown(v, now, late_after)) for v in with_session(work)]


def _print(rows: list[LabelRow], after: float) -> None:
    if not rows:
        typer.echo("no labels requested yet")
        return
    print_table(
        ("client", "partner", "state", "asked", "since"),
        [
            (r.subject, r.partner, r.state, r.asked, r.updated_at.isoformat(timespec="seconds"))
            for r in rows
        ],
    )
    late = [r for r in rows if r.incomplete]
    clients = len({r.subject for r in rows})
    typer.echo(f"\n{clients} client(s); incomplete after {after:.0f} s: {len(late)}")
    now = dt.datetime.now(dt.UTC)
    for row in late:
        waited = (now - row.requested_at).total_seconds()
        typer.secho(
            f"  {row.subject} at {row.partner}: {row.state} for {waited:.0f} s "
            f"({row.attempts} attempt(s), {row.resends} re-send(s)): {row.reason}",
            fg=typer.colors.YELLOW,
        )
