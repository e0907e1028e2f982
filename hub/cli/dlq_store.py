"""The dead-letter commands' work on the state store itself, as on a hub machine without
``hub login`` (``hub.cli.dlq`` imports this module only then: the store's modules cost a
command through the API about half a second it does not need)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.cli.endpoints import endpoints_path
from hub.cli.store import current_store, run_or_exit, store_url, with_session
from hub.settings import HubSettings, KafkaSettings
from hub.state import dead_letters, holdback
from hub.state.database import sessionmaker
from hub.state.dead_letters import Letter, LetterQuery, summary
from hub.state.letter_states import LetterState


def letters(state: LetterState | None, partner: str | None, limit: int) -> list[dict[str, Any]]:
    """Dead letters, newest first, each with what waits behind it."""
    query = LetterQuery(state=state, recipient=partner, limit=limit)

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        found = await dead_letters.find(session, query)
        behind = await holdback.held_behind(session, [letter.id for letter in found])
        return [summary(letter, behind.get(letter.id, 0)) for letter in found]

    return with_session(work)


def letter(letter_id: str) -> dict[str, Any] | None:
    """One dead letter (by id or its first 8+ characters), or None."""

    async def work(session: AsyncSession) -> dict[str, Any] | None:
        found = await dead_letters.get(session, letter_id)
        if found is None:
            return None
        behind = await holdback.held_behind(session, [found.id])
        return summary(found, behind.get(found.id, 0))

    return with_session(work)


def replay(
    settings: HubSettings,
    letter_id: str | None,
    partner: str | None,
    *,
    dry_run: bool,
    shown: Callable[[str, str, str], None],
) -> list[str | None]:
    """Decide again, ``shown`` each plan, then send (not with ``dry_run``); each
    letter's new state, None where nothing changed."""
    # Imported here: the broker, the policy engine and the key ring cost the read
    # commands half a second they do not need.
    from hub.bus.broker import make_broker
    from hub.bus.publisher import EventPublisher
    from hub.identity.keyring import Keyring, master_keys_from_settings
    from hub.routing.cedar_policy import policy_from_settings
    from hub.routing.replay import Replayer

    async def work() -> list[str | None]:
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
                    chosen = [found] if found else []
                else:
                    chosen = await dead_letters.find(
                        session, LetterQuery(recipient=partner, limit=10_000)
                    )
            now = dt.datetime.now(dt.UTC)
            plans = [await replayer.plan(one, now) for one in chosen]
            for plan in plans:
                shown(plan.letter.id, plan.verdict.value, plan.explanation)
            if dry_run or not plans:
                return [None for _ in plans]
            broker = make_broker(_kafka(settings))
            await broker.connect()
            try:
                send = EventPublisher(broker).send_all
                by = f"cli:{getpass.getuser()}"
                states = [await replayer.replay(p, send, by=by, now=now) for p in plans]
            finally:
                await broker.stop()
            return [state.value if state else None for state in states]

    return run_or_exit(work)


def discard(settings: HubSettings, letter_id: str, why: str) -> tuple[Letter | None, bool]:
    """Give a dead letter up; the letter, and whether this call settled it."""
    from hub.routing.replay import discard as give_up

    async def work() -> tuple[Letter | None, bool]:
        async with current_store(store_url(settings)) as engine:
            sessions = sessionmaker(engine)
            async with sessions() as session:
                found = await dead_letters.get(session, letter_id)
            if found is None:
                return None, False
            by = f"cli:{getpass.getuser()}"
            now = dt.datetime.now(dt.UTC)
            return found, await give_up(sessions, found, by=by, why=why, now=now)

    return run_or_exit(work)


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
