"""Issue 21: the LLC down for 10 minutes, run in seconds on an injected clock
(``tests.clock.ManualClock`` through ``hub.clock``), with the SHIPPED retry settings
(retried by time for 72 hours, exponential backoff with full jitter, at most 5 minutes
apart, the breaker's 5 failures and 30 s).

Four clients' detention starts, crisis contacts, transfers and releases are sent
interleaved, a round every two minutes of the outage, through the whole hub (webhooks,
router, broker) to the LLC simulator, which answers 503. The clock moves from one due
attempt to the next. After the LLC returns, the clock moves on and nothing else is done:
every delivery arrives exactly once, in the order the router decided it per client, none
is dead-lettered. During the outage the LLC was tried again and again, never left alone
for more than 5 minutes, and no delivery was ever set to wait more than 5 minutes.

The cap is on the wait, not on one delivery's own attempts: while the breaker is open,
the one trial every 30 s speaks for all of the partner's deliveries, and the others are
held until it succeeds, so one delivery can go the whole outage without an attempt of
its own (the test reports the longest such gap).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.connectors.runtime.outbound import OutboundRuntime
from hub.connectors.testing.harness import wait_until
from hub.core.polling import RESTING_PAUSE_S
from hub.settings import KafkaSettings
from hub.simulators.population import inclusion, person, synthetic_bsns
from hub.state import dead_letters, failures
from hub.state.database import sessionmaker
from hub.state.dead_letters import LetterQuery
from hub.state.tables import HeldItem
from tests.clock import ManualClock
from tests.integration.simulated_chain import Chain, crisis_contact, simulated_chain

pytestmark = pytest.mark.integration

OUTAGE_S = 600.0
ROUND_EVERY_S = 120.0
"""A round of every client's next message every two minutes of the outage."""
KINDS = ("START", "contact", "OVERPLAATSING", "contact", "EINDE")
"""Each one a delivery to the LLC, so every client has five waiting by the end."""
CLIENTS = 4
LOOP_PAUSE_S = RESTING_PAUSE_S
"""The retry loop's longest pause (``run_retries``): a smaller step wakes no loop."""
MAX_STEP_S = 10.0
DRAIN_LIMIT_S = 900.0
"""How long after the LLC's return the test moves the clock before it calls it stuck:
every head is due within the 5-minute cap, and the first success closes the breaker."""


@dataclass
class Observed:
    """Every LLC attempt, in injected seconds since the outage began, from the hub's own
    retry queue: each row's error history, and the moment a row left it (delivered, or
    dead-lettered)."""

    failed: dict[str, list[float]] = field(default_factory=dict)
    left: dict[str, float] = field(default_factory=dict)
    heads: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    """The next attempt of each client's first waiting delivery."""
    queued: set[str] = field(default_factory=set)
    longest_wait_s: float = 0.0
    """The furthest ahead any waiting delivery's next attempt was ever set."""

    def attempts(self, event_id: str) -> list[float]:
        done = [self.left[event_id]] if event_id in self.left else []
        return [*self.failed.get(event_id, []), *done]

    def all_attempts(self) -> list[float]:
        return sorted(t for event_id in self.failed for t in self.attempts(event_id))


class Outage:
    def __init__(self, chain: Chain, clock: ManualClock, runtime: OutboundRuntime):
        self.chain, self.clock, self.runtime = chain, clock, runtime
        self.seen = Observed()

    async def look(self) -> None:
        """Read the LLC's retry queue: histories, heads, and what left it since."""
        async with sessionmaker(self.chain.hub.engine)() as session:
            rows = (
                await session.scalars(
                    select(HeldItem)
                    .where(HeldItem.consumer == self.runtime.consumer)
                    .order_by(HeldItem.seq)
                )
            ).all()
        present = {row.item_id for row in rows}
        for gone in self.seen.queued - present:
            self.seen.left[gone] = self.clock.elapsed
        self.seen.queued = present
        self.seen.heads = {}
        for row in rows:
            wait_s = (row.next_attempt_at - self.clock.now()).total_seconds()
            self.seen.longest_wait_s = max(self.seen.longest_wait_s, wait_s)
            self.seen.failed[row.item_id] = [
                (dt.datetime.fromisoformat(f.at) - self.clock.start).total_seconds()
                for f in failures.load(row.errors)
            ]
            self.seen.heads.setdefault((row.subject, row.partner), row.next_attempt_at)

    async def run_until(self, limit_s: float, done: Callable[[], bool] = lambda: False) -> None:
        """Move the clock to each next due attempt (at least a loop's pause, at most
        MAX_STEP_S) until ``limit_s`` or ``done()``, letting every retry loop run its
        round at each step."""
        while self.clock.elapsed < limit_s and not done():
            due = min(self.seen.heads.values(), default=None)
            due_s = (due - self.clock.start).total_seconds() if due else limit_s
            target = min(
                limit_s,
                max(self.clock.elapsed + LOOP_PAUSE_S, due_s),
                self.clock.elapsed + MAX_STEP_S,
            )
            await self.clock.tick(target - self.clock.elapsed)
            await self.look()

    async def send_round(self, kind: str, bsns: list[str], round_no: int) -> None:
        """One message per client, then wait (real time, clock still) until the router
        decided each and the LLC connector took each (into its queue, or off it). Each is
        dated by the test's clock: the hub refuses a fact dated ahead of its clock."""
        now = self.clock.now()
        for bsn in bsns:
            tag = f"{kind[:1]}{round_no}-{uuid.uuid4().hex[:10]}"
            if kind == "contact":
                await self.chain.send("crisis", crisis_contact(bsn, tag, at=now))
            else:
                day = now.date().isoformat()
                await self.chain.send(
                    "injus", {"kind": kind, "bsn": bsn, "event_id": tag, "date": day}
                )

        async def taken() -> bool:
            decided = [len(await self.chain.disclosed(bsn, "llz:")) for bsn in bsns]
            await self.look()
            handled = len(self.seen.queued) + len(self.seen.left)
            return decided == [round_no] * len(bsns) and handled == sum(decided)

        await wait_until(taken, timeout_s=30)


@pytest.fixture
async def outage(kafka_settings: KafkaSettings, tmp_path: Path) -> AsyncIterator[Outage]:
    clock = ManualClock()
    async with simulated_chain(kafka_settings, tmp_path, clock=clock) as chain:
        runtimes = chain.hub.connectors.outbound_runtimes
        (llc,) = [r for r in runtimes if r.connector.name == "llc-communication"]
        await clock.until_sleeping(1)  # the one retry loop of the process's connectors
        yield Outage(chain, clock, llc)


async def test_a_10_minute_llc_outage_on_an_injected_clock_needs_no_manual_step(
    outage: Outage, report: Callable[[str], None]
) -> None:
    chain, clock, seen = outage.chain, outage.clock, outage.seen
    assert outage.runtime.backoff.max_s == 300.0, "the shipped backoff cap"
    assert outage.runtime.backoff.max_attempts is None, "the shipped retries: by time only"
    assert outage.runtime.max_total == dt.timedelta(hours=72), "the shipped horizon"
    began = time.monotonic()
    bsns = synthetic_bsns(CLIENTS, first=5000)
    for bsn in bsns:
        found = person(bsn)
        assert found is not None
        await chain.send("zvh", inclusion(found, f"INCL-{uuid.uuid4().hex[:10]}"))
    for bsn in bsns:
        await chain.recorded(bsn, 1)
    await chain.faults("llc", down=True)
    for round_no, kind in enumerate(KINDS, start=1):
        await outage.run_until((round_no - 1) * ROUND_EVERY_S)
        await outage.send_round(kind, bsns, round_no)
    await outage.run_until(OUTAGE_S)
    assert await chain.received("llc", *bsns) == [], "the LLC was down"
    assert not seen.left, f"{len(seen.left)} deliveries left the queue during the outage"
    tried = seen.all_attempts()
    await chain.faults("llc", down=False)
    await outage.run_until(OUTAGE_S + DRAIN_LIMIT_S, done=lambda: not seen.queued)
    drained_s = clock.elapsed - OUTAGE_S

    config = outage.runtime.connector.config
    during = [t for t in tried if t < OUTAGE_S]
    partner_gaps = [b - a for a, b in zip([0.0, *during], [*during, OUTAGE_S], strict=True)]
    assert max(partner_gaps) <= config.backoff_max_s + LOOP_PAUSE_S, (
        f"the LLC was left alone for {max(partner_gaps):.0f} s during the outage"
    )
    assert seen.longest_wait_s <= config.backoff_max_s, (
        f"a delivery was set to wait {seen.longest_wait_s:.0f} s"
    )
    assert drained_s <= config.backoff_max_s + config.breaker_open_s, "slow after the return"
    expected = {bsn: await chain.disclosed(bsn, "llz:") for bsn in bsns}
    for bsn in bsns:
        arrived = [r["idempotency_key"] for r in await chain.received("llc", bsn)]
        assert arrived == expected[bsn], f"one client's deliveries out of order: {arrived}"
    assert sum(map(len, expected.values())) == CLIENTS * len(KINDS)
    assert await chain.duplicates("llc") == 0
    async with sessionmaker(chain.hub.engine)() as session:
        letters = await dead_letters.find(session, LetterQuery())
    # Only this test's clients: on the session's shared broker a delivery topic can hold
    # another test's records, which this hub rightly refuses (not sealed under its keys).
    mine = {chain.subject(bsn) for bsn in bsns}
    assert [letter for letter in letters if letter.subject in mine] == []
    own_gaps = [
        b - a
        for event_id in seen.failed
        for a, b in zip(seen.attempts(event_id), seen.attempts(event_id)[1:], strict=False)
    ]
    wall_s = time.monotonic() - began
    report(
        f"[integration] LLC down {OUTAGE_S / 60:.0f} min of injected time, shipped retry "
        f"settings: {CLIENTS * len(KINDS)} deliveries for {CLIENTS} clients; {len(during)} "
        f"attempts during the outage, the LLC never left alone over "
        f"{max(partner_gaps):.0f} s, no delivery set to wait over {seen.longest_wait_s:.0f} s "
        f"(one delivery's own attempts up to {max(own_gaps):.0f} s apart, behind the breaker); "
        f"all arrived {drained_s:.0f} s (injected) after it returned, in order per client, "
        f"once each, 0 dead letters; {wall_s:.1f} s wall"
    )
