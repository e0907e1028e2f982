"""``hub labels status``: where the Levensloopaanpak label stands at each label partner,
per client, and which label sets or withdrawals are still incomplete, and why."""

from __future__ import annotations

import datetime as dt
import json

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from hub.cli.store import subjects_of, with_session
from hub.cli.tables import print_table
from hub.settings import HubSettings
from hub.state import labels
from hub.state.labels import LabelView

app = typer.Typer(
    help="The label at the police, Reclassering and the crisis service.", no_args_is_help=True
)


def _age(view: LabelView, now: dt.datetime) -> str:
    return f"{(now - view.requested_at).total_seconds():.0f} s"


def _row(view: LabelView) -> dict[str, object]:
    return {
        "subject": view.subject,
        "partner": view.partner,
        "state": view.state.value,
        "asked": view.action.value,
        "requested_at": view.requested_at.isoformat(timespec="seconds"),
        "updated_at": view.updated_at.isoformat(timespec="seconds"),
        "attempts": view.attempts,
        "resends": view.resends,
        "detail": view.detail,
    }


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
    subjects = subjects_of(subject) if subject else None

    async def work(session: AsyncSession) -> list[LabelView]:
        return await labels.status(session, subjects)

    views = with_session(work)
    now = dt.datetime.now(dt.UTC)
    late = [v for v in views if v.incomplete_after(now, late_after)]
    if as_json:
        for view in views:
            row = _row(view)
            row["incomplete"] = view in late
            typer.echo(json.dumps(row, ensure_ascii=False, sort_keys=True))
    else:
        _print(views, late, late_after, now)
    if check and late:
        raise typer.Exit(1)


def _print(views: list[LabelView], late: list[LabelView], after: float, now: dt.datetime) -> None:
    if not views:
        typer.echo("no labels requested yet")
        return
    print_table(
        ("client", "partner", "state", "asked", "since"),
        [
            (
                view.subject,
                view.partner,
                view.state.value,
                view.action.value,
                view.updated_at.isoformat(timespec="seconds"),
            )
            for view in views
        ],
    )
    clients = len({v.subject for v in views})
    typer.echo(f"\n{clients} client(s); incomplete after {after:.0f} s: {len(late)}")
    for view in late:
        typer.secho(
            f"  {view.subject} at {view.partner}: {view.state.value} for {_age(view, now)} "
            f"({view.attempts} attempt(s), {view.resends} re-send(s)): "
            f"{view.detail or 'no answer yet'}",
            fg=typer.colors.YELLOW,
        )
