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

import datetime as dt
import getpass
import json
from typing import TYPE_CHECKING, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from hub.cli.endpoints import endpoints_path
from hub.cli.notes import operator_note
from hub.cli.remote import LetterSummary, ReplayAnswer, ShownLetter, signed_in
from hub.cli.store import current_store, run_or_exit, store_url, with_session
from hub.cli.tables import print_table
from hub.settings import HubSettings, KafkaSettings
from hub.state import dead_letters, holdback
from hub.state.database import sessionmaker
from hub.state.dead_letters import Letter, LetterQuery, LetterState, summary

if TYPE_CHECKING:
    from hub.routing.replay import Plan

app = typer.Typer(help="Dead letters: list, show, replay and discard.", no_args_is_help=True)
STATES = ", ".join(s.value for s in LetterState)


def _state(value: str) -> LetterState | None:
    if value == "all":
        return None
    try:
        return LetterState(value)
    except ValueError:
        raise typer.BadParameter(f"one of {STATES} or all") from None


def _kafka(settings: HubSettings) -> KafkaSettings:
    """The running embedded hub's broker when there is one, else the configured Kafka."""
    try:
        written = json.loads(endpoints_path(settings).read_text())
    except (OSError, ValueError):
        return settings.kafka
    if written.get("mode") == "embedded" and written.get("kafka_bootstrap_servers"):
        return settings.kafka.model_copy(
            update={"bootstrap_servers": written["kafka_bootstrap_servers"]}
        )
    return settings.kafka


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
        letters = [letter.model_dump() for letter in remote.letters(params, limit)]
    else:
        query = LetterQuery(state=wanted, recipient=partner, limit=limit)

        async def work(session: AsyncSession) -> list[dict[str, Any]]:
            found = await dead_letters.find(session, query)
            behind = await holdback.held_behind(session, [letter.id for letter in found])
            return [summary(letter, behind.get(letter.id, 0)) for letter in found]

        letters = with_session(work)
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

    async def work(session: AsyncSession) -> tuple[Letter | None, int]:
        letter = await dead_letters.get(session, letter_id)
        if letter is None:
            return None, 0
        return letter, (await holdback.held_behind(session, [letter.id])).get(letter.id, 0)

    letter, behind = with_session(work)
    if letter is None:
        typer.secho(f"error: no dead letter {letter_id}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    typer.echo(json.dumps(summary(letter, behind), indent=2, sort_keys=True))


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
                for letter in remote.letters({"state": "open", "partner": partner}, 10_000)
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
    # Imported here, not above: the broker, the policy engine and the key ring cost the
    # read commands half a second they do not need.
    from hub.bus.broker import make_broker
    from hub.bus.publisher import EventPublisher
    from hub.identity.keyring import Keyring, master_keys_from_settings
    from hub.routing.cedar_policy import policy_from_settings
    from hub.routing.replay import Replayer

    async def work() -> list[tuple[Plan, LetterState | None]]:
        async with current_store(store_url(settings)) as engine:
            sessions = sessionmaker(engine)
            replayer = Replayer(
                sessions,
                policy_from_settings(settings.policy),
                frozenset(settings.routing.bsn_authorised),
                Keyring(sessions, master_keys_from_settings(settings, create_key=False)),
            )
            async with sessions() as session:
                if letter_id is not None:
                    found = await dead_letters.get(session, letter_id)
                    letters = [found] if found else []
                else:
                    letters = await dead_letters.find(
                        session, LetterQuery(recipient=partner, limit=10_000)
                    )
            now = dt.datetime.now(dt.UTC)
            plans = [await replayer.plan(letter, now) for letter in letters]
            for plan in plans:
                _print_plan(plan.letter.id, plan.verdict.value, plan.explanation)
            if dry_run or not plans:
                return [(plan, None) for plan in plans]
            broker = make_broker(_kafka(settings))
            await broker.connect()
            try:
                send = EventPublisher(broker).send_all
                by = f"cli:{getpass.getuser()}"
                return [(p, await replayer.replay(p, send, by=by, now=now)) for p in plans]
            finally:
                await broker.stop()

    results = run_or_exit(work)
    if letter_id is not None and not results:
        typer.secho(f"error: no dead letter {letter_id}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    _replay_summary([state.value if state else None for _, state in results], dry_run)


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
    from hub.routing.replay import discard

    async def work() -> tuple[Letter | None, bool]:
        async with current_store(store_url(settings)) as engine:
            sessions = sessionmaker(engine)
            async with sessions() as session:
                letter = await dead_letters.get(session, letter_id)
            if letter is None:
                return None, False
            by = f"cli:{getpass.getuser()}"
            now = dt.datetime.now(dt.UTC)
            return letter, await discard(sessions, letter, by=by, why=why, now=now)

    letter, done = run_or_exit(work)
    if letter is None:
        typer.secho(f"error: no dead letter {letter_id}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    if not done:
        typer.secho(
            f"error: dead letter {letter.id} was {letter.state.value} already",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"{letter.id} discarded; what waited behind it goes on")
