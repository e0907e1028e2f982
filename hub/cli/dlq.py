"""``hub dlq``: the dead letters, why each failed, what waits behind each, and their
replay or discard.

A delivery's dead letter holds back what comes later for the same client and partner
(``held behind`` in the list), until it is replayed or discarded. ``replay`` first
decides again with today's consents and titles and prints the new outcome per dead
letter; ``--dry-run`` stops there. A replayed delivery goes first in its lane, then what
waited behind it; any other replayed record goes out through the outbox to the hub's
Kafka (the embedded broker's address comes from the running ``hub up``'s endpoints
file). ``discard`` gives a dead letter up and lets its lane go on.

After ``hub login`` every command goes through the running hub's management API instead
(``hub.cli.remote``), under the signed-in account's role.
"""

from __future__ import annotations

import json

import typer

from hub.cli.failure import failed
from hub.cli.notes import operator_note
from hub.cli.remote import LetterSummary, ReplayAnswer, ShownLetter, signed_in
from hub.cli.tables import print_table
from hub.settings import HubSettings
from hub.state.letter_states import LetterState

app = typer.Typer(help="Dead letters: list, show, replay and discard.", no_args_is_help=True)
STATES = ", ".join(s.value for s in LetterState)


def _state(value: str) -> LetterState | None:
    if value == "all":
        return None
    try:
        return LetterState(value)
    except ValueError:
        raise typer.BadParameter(f"one of {STATES} or all") from None


@app.command("list")
def list_command(
    partner: str | None = typer.Option(None, help="Only dead letters for this partner."),
    state: str = typer.Option("open", help=f"{STATES} or all."),
    limit: int = typer.Option(100, min=1),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Dead letters, newest first."""
    wanted = _state(state)
    remote = signed_in(HubSettings())
    if remote is not None:
        params = {"state": wanted.value if wanted else None, "partner": partner}
        letters = [
            letter.model_dump()
            for letter in remote.listed(LetterSummary, "/dead-letters", params, limit)
        ]
    else:
        from hub.cli import dlq_store

        letters = dlq_store.letters(wanted, partner, limit)
    if as_json:
        for letter in letters:
            typer.echo(json.dumps(letter, sort_keys=True))
        return
    if not letters:
        typer.echo("no dead letters")
        return
    print_table(
        ("id", "state", "recipient", "attempts", "held behind", "reason"),
        [
            (
                letter["id"],
                letter["state"],
                letter["recipient"] or "-",
                letter["attempts"],
                letter["held_behind"],
                f"{letter['reason']}: {letter['detail'][:80]}",
            )
            for letter in letters
        ],
    )
    held = sum(letter["held_behind"] for letter in letters)
    typer.echo(
        f"\n{len(letters)} dead letter(s)"
        + (f"; {held} later deliveries held behind them (replay or discard)" if held else "")
    )


@app.command("show")
def show_command(
    letter_id: str = typer.Argument(..., help="Id, or its first 8+ characters."),
) -> None:
    """One dead letter: where it came from, why, and every attempt's error."""
    remote = signed_in(HubSettings())
    if remote is not None:
        shown = remote.call(ShownLetter, "GET", f"/dead-letters/{letter_id}").letter
        typer.echo(json.dumps(shown, indent=2, sort_keys=True))
        return
    from hub.cli import dlq_store

    found = dlq_store.letter(letter_id)
    if found is None:
        raise failed(f"no dead letter {letter_id}")
    typer.echo(json.dumps(found, indent=2, sort_keys=True))


COLOURS = {"send": typer.colors.GREEN, "reroute": typer.colors.GREEN, "denied": typer.colors.YELLOW}


def _print_plan(letter_id: str, verdict: str, explanation: str) -> None:
    colour = COLOURS.get(verdict, typer.colors.RED)
    typer.secho(f"{letter_id}  {verdict:<10} {explanation}", fg=colour)


@app.command("replay")
def replay_command(
    letter_id: str | None = typer.Argument(None, help="Id, or its first 8+ characters."),
    partner: str | None = typer.Option(None, help="Every open dead letter for this partner."),
    every: bool = typer.Option(False, "--all", help="Every open dead letter."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the new outcomes; send nothing."),
) -> None:
    """Decide again with today's consents and titles, show the outcome, then send."""
    if (letter_id is not None) + (partner is not None) + every != 1:
        raise typer.BadParameter("give one of: an ID, --partner P, --all")
    settings = HubSettings()
    remote = signed_in(settings)
    if remote is not None:
        ids = (
            [letter_id]
            if letter_id is not None
            else [
                letter.id
                for letter in remote.listed(
                    LetterSummary, "/dead-letters", {"state": "open", "partner": partner}, 10_000
                )
            ]
        )
        states: list[str | None] = []
        for one in ids:
            done = remote.call(
                ReplayAnswer,
                "POST",
                f"/dead-letters/{one}/replay",
                params={"preview": str(dry_run).lower()},
            )
            _print_plan(done.letter.id, done.verdict, done.explanation)
            states.append(done.state)
        _replay_summary(states, dry_run)
        return
    from hub.cli import dlq_store

    results = dlq_store.replay(settings, letter_id, partner, dry_run=dry_run, shown=_print_plan)
    if letter_id is not None and not results:
        raise failed(f"no dead letter {letter_id}")
    _replay_summary(results, dry_run)


def _replay_summary(states: list[str | None], dry_run: bool) -> None:
    """One line: what the replays came to (each letter's new state, None if unchanged)."""
    if dry_run:
        typer.echo(f"{len(states)} dead letter(s) decided again; nothing sent (--dry-run)")
        return
    done = [state for state in states if state is not None]
    replayed = done.count(LetterState.REPLAYED.value)
    denied = done.count(LetterState.DENIED.value)
    typer.echo(
        f"{replayed} replayed, {denied} denied by today's policy, "
        f"{len(states) - len(done)} left as they were"
    )


@app.command("discard")
def discard_command(
    letter_id: str = typer.Argument(..., help="Id, or its first 8+ characters."),
    why: str = typer.Option(..., "--why", help="Why it is given up (kept with the letter)."),
) -> None:
    """Give a dead letter up: nothing is sent, and what waited behind it goes on."""
    why = operator_note(why)
    settings = HubSettings()
    remote = signed_in(settings)
    if remote is not None:
        path = f"/dead-letters/{letter_id}/discard"
        settled = remote.call(LetterSummary, "POST", path, body={"why": why})
        typer.echo(f"{settled.id} discarded; what waited behind it goes on")
        return
    from hub.cli import dlq_store

    letter, done = dlq_store.discard(settings, letter_id, why)
    if letter is None:
        raise failed(f"no dead letter {letter_id}")
    if not done:
        raise failed(f"dead letter {letter.id} was {letter.state.value} already", code=1)
    typer.echo(f"{letter.id} discarded; what waited behind it goes on")
