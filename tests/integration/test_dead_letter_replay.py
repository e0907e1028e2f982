"""Dead letters and their replay through ``hub dlq``, on the embedded broker with the
partner simulators: a delivery the LLC could not take is dead-lettered with its
history; replay decides it again with today's consent (which was withdrawn meanwhile,
so the medical fields stay behind), keeps its idempotency key, and a client who left
the approach since gets nothing at all."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.connectors.testing.harness import wait_until
from hub.simulators.population import consent as population_consent
from hub.simulators.population import inclusion, person
from hub.state import audit
from hub.state.database import sessionmaker
from tests.backends import Backend
from tests.integration.simulated_chain import (
    Chain,
    crisis_contact,
    llc_content,
    simulated_chain,
    today,
)

pytestmark = pytest.mark.integration
SMIT = "300000005"
FAST = {"max_attempts": 2, "backoff_initial_s": 0.05, "backoff_max_s": 0.1, "breaker_open_s": 0.2}


@asynccontextmanager
async def _chain(
    backend: Backend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    connectors: dict[str, dict[str, Any]] | None,
) -> AsyncIterator[Chain]:
    database_url = backend.sqlite_or(tmp_path)
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HUB_DATABASE__URL", database_url)
    monkeypatch.setenv("HUB_KAFKA__BOOTSTRAP_SERVERS", backend.kafka.bootstrap_servers)
    monkeypatch.setenv("HUB_KAFKA__IDEMPOTENT_PRODUCER", str(backend.kafka.idempotent_producer))
    async with simulated_chain(
        backend.kafka, tmp_path, connectors=connectors, database_url=database_url
    ) as running:
        yield running


@pytest.fixture
async def chain(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Chain]:
    """The LLC's retries cut short (FAST): a 503 becomes a dead letter in a second,
    because replay needs a dead letter and the shipped horizon is 72 hours. The shipped
    settings are shown by the refusal tests below (a 400 dead-letters at once) and by
    tests/integration/test_long_partner_outage.py (an outage outlasted)."""
    async with _chain(backend, tmp_path, monkeypatch, {"llc-communication": FAST}) as running:
        yield running


@pytest.fixture
async def shipped_chain(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Chain]:
    """Every setting as shipped."""
    async with _chain(backend, tmp_path, monkeypatch, None) as running:
        yield running


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _zvh(kind: str) -> dict[str, Any]:
    return {
        "schemaVersie": "1",
        "id": _id(kind),
        "soort": kind,
        "bsn": SMIT,
        "zvh": "zvh:amsterdam",
    }


async def hub_cli(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
    return result.exit_code, result.stdout


async def open_letters(chain: Chain, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        _, out = await hub_cli("dlq", "list", "--partner", "llz:fivoor", "--json")
        found[:] = [json.loads(line) for line in out.splitlines()]
        return len(found) >= count

    await wait_until(enough)
    return found


async def _client_with_consent(chain: Chain) -> str:
    found = person(SMIT)
    assert found is not None
    await chain.send("zvh", inclusion(found, _id("INCL")))
    await chain.send(
        "zvh", {**_zvh("TOESTEMMING"), "consent": population_consent("r-1", "llz:fivoor", SMIT)}
    )
    await chain.recorded(SMIT, 2)
    return chain.subject(SMIT)


def _contact(n: int) -> dict[str, Any]:
    return {**crisis_contact(SMIT, _id(f"GGZ{n}")), "uitkomst": f"uitkomst {n}"}


async def _held_behind(letter_id: str, count: int) -> None:
    async def held() -> bool:
        _, shown = await hub_cli("dlq", "show", letter_id)
        return bool(json.loads(shown)["held_behind"] == count)

    await wait_until(held)


async def test_a_refusal_holds_what_follows_until_a_replay_releases_it_in_order(
    shipped_chain: Chain,
) -> None:
    """The issue's acceptance, with every setting as shipped: the LLC refuses one
    delivery as invalid (400): dead-lettered at once with the reason; the client's later
    deliveries to the LLC are held behind it, and shown; a replay releases all, in order."""
    chain = shipped_chain
    subject = await _client_with_consent(chain)
    await chain.faults("llc", refuse_next=1)
    for n in range(1, 4):
        await chain.send("crisis", _contact(n))
    (letter,) = await open_letters(chain, 1)
    assert (letter["reason"], letter["attempts"]) == ("permanent", 1)
    assert "400" in letter["detail"]
    await _held_behind(letter["id"], 2)
    code, listing = await hub_cli("dlq", "list", "--partner", "llz:fivoor")
    assert code == 0
    assert "2 later deliveries held behind them" in listing
    assert await chain.received("llc", SMIT, subject) == [], "nothing overtook the refusal"

    code, done = await hub_cli("dlq", "replay", letter["id"])
    assert code == 0, done
    assert "1 replayed" in done
    arrived = await chain.until("llc", 3, SMIT, subject)
    assert [llc_content(c)["outcome"] for c in arrived] == [f"uitkomst {n}" for n in (1, 2, 3)]
    await _held_behind(letter["id"], 0)
    await asyncio.sleep(0.5)
    assert len(await chain.received("llc", SMIT, subject)) == 3, "each once"


async def test_a_discard_lets_what_waited_behind_go_on(shipped_chain: Chain) -> None:
    chain = shipped_chain
    subject = await _client_with_consent(chain)
    await chain.faults("llc", refuse_next=1)
    for n in range(1, 3):
        await chain.send("crisis", _contact(n))
    (letter,) = await open_letters(chain, 1)
    await _held_behind(letter["id"], 1)
    code, _ = await hub_cli("dlq", "discard", letter["id"], "--why", " ")
    assert code == 2, "a discard says why"
    code, done = await hub_cli("dlq", "discard", letter["id"][:12], "--why", "sent by phone")
    assert code == 0, done
    (arrived,) = await chain.until("llc", 1, SMIT, subject)
    assert llc_content(arrived)["outcome"] == "uitkomst 2"
    code, _ = await hub_cli("dlq", "discard", letter["id"], "--why", "again")
    assert code == 1
    _, shown = await hub_cli("dlq", "show", letter["id"])
    assert json.loads(shown)["settlement"] == "sent by phone"
    code, found = await hub_cli("audit", "search", "--subject", subject, "--outcome", "DISCARDED")
    (record,) = [json.loads(line) for line in found.splitlines()]
    assert (record["action"], record["recipient"]) == ("withhold", "llz:fivoor")
    assert letter["id"] in record["object"]
    assert "phone" not in record["object"], "the reason stays with the letter"


async def test_replay_decides_again_with_todays_consent_and_keeps_the_key(chain: Chain) -> None:
    subject = await _client_with_consent(chain)
    await chain.faults("llc", down=True)
    await chain.send("crisis", _contact(1))
    await chain.send("crisis", _contact(2))
    (first,) = await open_letters(chain, 1)
    await _held_behind(first["id"], 1)
    assert first["subject"] == subject
    assert first["attempts"] == 2
    assert [e["error"] for e in first["errors"]] == ["retryable", "retryable"]
    assert "answered 503" in first["detail"]
    assert "gave up after 2 attempts" in first["detail"]
    code, shown = await hub_cli("dlq", "show", first["id"][:12])
    assert code == 0
    assert json.loads(shown)["id"] == first["id"]
    assert SMIT not in shown
    assert "Decompensatie" not in shown

    await chain.send(
        "zvh",
        {
            **_zvh("TOESTEMMING"),
            "consent": {**population_consent("r-1", "llz:fivoor", SMIT), "status": "inactive"},
        },
    )
    await chain.recorded(SMIT, 3)
    await chain.faults("llc", down=False)
    code, planned = await hub_cli("dlq", "replay", first["id"], "--dry-run")
    assert code == 0, planned
    assert "send" in planned
    assert "removed now:" in planned
    assert "assessment" in planned
    assert "nothing sent" in planned
    await asyncio.sleep(0.5)
    assert await chain.received("llc", SMIT, subject) == [], "the second waits behind the first"

    code, done = await hub_cli("dlq", "replay", first["id"])
    assert code == 0, done
    assert "1 replayed" in done
    communication, behind = await chain.until("llc", 2, SMIT, subject)
    content = llc_content(communication)
    assert "assessment" not in content  # the consent is withdrawn now
    assert "outcome" not in content
    assert "police_involved" in content, "the rest of the contact went"
    assert communication["idempotency_key"] != behind["idempotency_key"]
    code, again = await hub_cli("dlq", "replay", first["id"])
    assert "already replayed" in again
    assert "0 replayed" in again
    await asyncio.sleep(0.5)
    assert len(await chain.received("llc", SMIT, subject)) == 2

    await chain.faults("llc", down=True)
    await chain.send("crisis", _contact(3))
    letters = await open_letters(chain, 1)
    (second,) = [row for row in letters if row["id"] != first["id"]]
    await chain.send("zvh", {**_zvh("EXCLUSIE"), "datum": today(), "reden": "stable-two-years"})
    await chain.recorded(SMIT, 4)
    await chain.faults("llc", down=False)
    code, denied = await hub_cli("dlq", "replay", second["id"])
    assert code == 0, denied
    assert "1 denied" in denied
    await _held_behind(second["id"], 0)
    await asyncio.sleep(0.5)
    assert len(await chain.received("llc", SMIT, subject)) == 2
    _, states = await hub_cli("dlq", "list", "--state", "all", "--json")
    by_id = {row["id"]: row for row in map(json.loads, states.splitlines())}
    assert by_id[first["id"]]["state"] == "replayed"
    assert by_id[second["id"]]["state"] == "denied"
    async with sessionmaker(chain.hub.engine)() as session:
        query = audit.AuditQuery(subjects=[subject], partner="llz:fivoor")
        records = [r async for r in audit.search(session, query)]
    replays = [r for r in records if "replay of" in r["object"]]
    assert [(r["action"], r["outcome"]) for r in replays] == [
        ("disclose", "PERMIT_REDACTED"),
        ("withhold", "DENY"),
    ]
    key = replays[0]["delivery_id"]
    assert communication["idempotency_key"] == key
    first_decision = [r for r in records if r["delivery_id"] == key and r not in replays]
    assert first_decision
    assert first_decision[0]["action"] == "disclose"
