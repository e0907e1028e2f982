"""The outbound retry path, the circuit breaker and the dead letters, driven with a
fake partner and a clock the test moves: a partner that fails never blocks the others,
one client's deliveries keep their order, a poisonous delivery ends in the dead letters
with every attempt's error, and a dead partner is not hammered."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import event

from hub.backoff import Backoff
from hub.breaker import Breakers
from hub.bus.codec import encode
from hub.connectors.base import Delivery, OutboundConfig, OutboundConnector
from hub.connectors.runtime import outbound
from hub.connectors.runtime.outbound import (
    DeliveryDispatch,
    Origin,
    OutboundRuntime,
    Received,
    Result,
    retry_round,
)
from hub.connectors.testing.harness import Bus, Stores
from hub.connectors.testing.scenarios import sample_delivery
from hub.core.errors import PermanentError, RetryableError
from hub.schemas.categories import DataCategory
from hub.schemas.detention import DetentionStarted
from hub.schemas.envelope import HUB_SOURCE, Envelope
from hub.state import dead_letters, holdback, idempotency, pauses
from hub.state.dead_letters import LetterQuery
from hub.state.letter_states import LetterState
from tests.clock import ManualClock


class Partner(OutboundConnector[OutboundConfig]):
    """Fails for the subjects in ``failing`` (503) or ``refusing`` (400)."""

    name: ClassVar[str] = "fake-llc"
    version: ClassVar[str] = "0"
    partner: ClassVar[str] = "llz"
    config_model: ClassVar[type[OutboundConfig]] = OutboundConfig
    accepts = (DetentionStarted,)

    def __init__(self, config: OutboundConfig):
        super().__init__(config)
        self.failing: set[str] = set()
        self.refusing: set[str] = set()
        self.down = False
        self.calls: list[str] = []
        self.delivered: list[tuple[str, str]] = []
        self.pause_s = 0.0
        self.in_flight = self.most_in_flight = 0

    async def deliver(self, delivery: Delivery) -> None:
        self.calls.append(delivery.delivery_id)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.pause_s)
        finally:
            self.in_flight -= 1
        if self.down or delivery.subject in self.failing:
            raise RetryableError("fake-llc answered 503")
        if delivery.subject in self.refusing:
            raise PermanentError("fake-llc refused: 400")
        self.delivered.append((delivery.subject, delivery.delivery_id))


class Rig:
    def __init__(self, stores: Stores, *, max_attempts: int = 4, max_total_s: float = 3600):
        self.stores, self.bus, self.clock = stores, Bus(), ManualClock()
        self.partner = Partner(
            OutboundConfig(max_attempts=max_attempts, retry_max_total_s=max_total_s)
        )
        self.runtime = OutboundRuntime(
            self.partner,
            sessions=stores.sessions,
            vault=stores.vault,
            dead_letter=self.bus.dead_letter,
            backoff=Backoff(max_attempts=max_attempts, initial_s=1.0, max_s=1.0),
            breakers=Breakers(failures=3, open_s=30.0, clock=self.clock.monotonic),
            clock=self.clock,
        )
        self.offset = 0

    async def send(self, subject: str, key: str) -> Result:
        return await self.runtime.handle(*self.record(subject, key))

    async def send_batch(self, items: list[tuple[str, str]]) -> list[Result]:
        """As one fetch brings them."""
        return await self.runtime.handle_batch([Received(*self.record(*i)) for i in items])

    def beside(self, connector: Partner) -> OutboundRuntime:
        """Another connector of the same process: the same state store and clock."""
        return OutboundRuntime(
            connector,
            sessions=self.stores.sessions,
            vault=self.stores.vault,
            dead_letter=self.bus.dead_letter,
            backoff=Backoff(max_attempts=4, initial_s=1.0, max_s=1.0),
            clock=self.clock,
        )

    def record(
        self, subject: str, key: str, recipient: str = "llz:fivoor"
    ) -> tuple[dict[str, str], bytes, Origin]:
        notification = sample_delivery(
            recipient,
            DetentionStarted,
            {"levensloopaanpak": True},
            {"levensloopaanpak": DataCategory.LABEL},
            key=key,
        )
        envelope = Envelope.for_event(
            notification, subject=subject, source=HUB_SOURCE, event_id=f"ev-{key}"
        )
        record = encode(notification, envelope)
        self.offset += 1
        return record.headers, record.value, Origin(record.topic, 0, self.offset, record.key)

    async def retry_after(self, seconds: float) -> list[Result]:
        self.clock.advance(seconds)
        return await self.runtime.retry_due()

    async def queued(self) -> int:
        async with self.stores.sessions() as session:
            return await holdback.pending(session)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with Stores() as stores:
        yield Rig(stores)


def psn(name: str) -> str:
    return "psn-t1-" + hashlib.sha256(name.encode()).hexdigest()[:40]


A, B = psn("a"), psn("b")


async def test_a_failing_client_waits_in_order_while_others_are_delivered(rig: Rig) -> None:
    rig.partner.failing.add(A)
    assert await rig.send(A, "a1") is Result.QUEUED
    assert await rig.send(B, "b1") is Result.DELIVERED
    assert await rig.send(A, "a2") is Result.QUEUED  # behind a1, not attempted
    assert await rig.send(B, "b2") is Result.DELIVERED
    assert rig.partner.calls.count("a2") == 0
    rig.partner.failing.clear()
    assert await rig.retry_after(2) == [Result.DELIVERED, Result.DELIVERED]
    assert [k for s, k in rig.partner.delivered if s == A] == ["a1", "a2"]
    assert await rig.queued() == 0


async def test_a_paused_connector_holds_its_deliveries_and_sends_them_in_order_when_resumed(
    rig: Rig,
) -> None:
    """Paused for hours, nothing is tried and nothing counts towards the horizon (one
    hour in this rig): resumed, a partner that is still down gets retries, not a dead
    letter, and each client's deliveries go in their order."""
    async with rig.stores.sessions.begin() as session:
        await pauses.pause(
            session, rig.partner.name, by="cli:ops", why="partner maintenance", now=rig.clock.now()
        )
    sent = await rig.send_batch([(A, "a1"), (A, "a2"), (B, "b1")])
    assert sent == [Result.QUEUED] * 3
    for _ in range(5):
        assert await rig.retry_after(3600) == []
    assert rig.partner.calls == [], "a paused connector tries nothing"
    async with rig.stores.sessions() as session:
        head = await holdback.head(session, holdback.Lane(rig.runtime.consumer, A, "llz:fivoor"))
    assert head is not None
    assert head.reason == "connector paused by cli:ops: partner maintenance"
    assert head.attempts == 0

    rig.clock.advance(outbound.PAUSED_RECHECK_S - 10)  # the heads are due within a lease
    rig.partner.down = True
    async with rig.stores.sessions.begin() as session:
        resumed = await pauses.resume(
            session, rig.partner.name, rig.runtime.consumer, rig.clock.now()
        )
    assert resumed == 3, "everything the pause held is due at once, and counted"
    assert await rig.retry_after(0) == [], "tried at once, failed, held for a retry"
    assert set(rig.partner.calls) == {"a1", "b1"}
    rig.partner.down = False
    assert await rig.retry_after(2) == [Result.DELIVERED] * 3
    assert [k for s, k in rig.partner.delivered if s == A] == ["a1", "a2"]
    async with rig.stores.sessions() as session:
        assert await dead_letters.find(session, LetterQuery()) == []


async def test_a_poisonous_delivery_is_dead_lettered_with_its_history(rig: Rig) -> None:
    rig.partner.failing.add(A)
    assert await rig.send(A, "a1") is Result.QUEUED
    assert await rig.send(A, "a2") is Result.QUEUED
    outcomes: list[Result] = []
    for n in range(3):
        await rig.send(B, f"b{n}")  # others flow between the retries
        outcomes += await rig.retry_after(2)
    assert Result.DEAD_LETTERED in outcomes
    assert rig.partner.calls.count("a1") == 4  # max_attempts, then no more
    async with rig.stores.sessions() as session:
        (letter,) = await dead_letters.find(session, LetterQuery())
    assert (letter.recipient, letter.subject, letter.attempts) == ("llz:fivoor", A, 4)
    assert [f.attempt for f in letter.errors] == [1, 2, 3, 4]
    assert letter.detail.startswith("gave up after 4 attempts")
    body = json.loads(rig.bus.dead_letters[0][0])
    assert body["id"] == letter.id
    assert len(body["errors"]) == 4
    assert len([k for s, k in rig.partner.delivered if s == B]) == 3
    rig.partner.failing.clear()
    assert await rig.retry_after(2) == [], "a2 waits behind the dead letter of a1"
    async with rig.stores.sessions() as session:
        assert await holdback.held_behind(session, [letter.id]) == {letter.id: 1}
    async with rig.stores.sessions.begin() as session:  # what a replay does to the lane
        assert await holdback.resume(session, letter.id, letter.record, rig.clock.now())
    assert await rig.retry_after(0) == [Result.DELIVERED, Result.DELIVERED]
    assert [k for s, k in rig.partner.delivered if s == A] == ["a1", "a2"]


async def test_the_total_time_cap_ends_retries_before_the_attempts_run_out() -> None:
    async with Stores() as stores:
        rig = Rig(stores, max_attempts=50, max_total_s=10)
        rig.partner.failing.add(A)
        await rig.send(A, "a1")
        assert await rig.retry_after(2) == []
        assert await rig.retry_after(20) == [Result.DEAD_LETTERED]
        assert rig.partner.calls.count("a1") == 3


async def test_a_refusal_is_dead_lettered_at_once_and_never_retried(rig: Rig) -> None:
    rig.partner.refusing.add(A)
    assert await rig.send(A, "a1") is Result.DEAD_LETTERED
    assert await rig.retry_after(60) == []
    assert rig.partner.calls == ["a1"]
    async with rig.stores.sessions() as session:
        (letter,) = await dead_letters.find(session, LetterQuery())
    assert letter.reason == "permanent"
    assert letter.attempts == 1


async def test_a_replay_refused_again_is_a_new_open_dead_letter_that_still_holds_its_lane(
    rig: Rig,
) -> None:
    """Found by an outside look: the second refusal kept the first letter's id, which
    was settled, so the lane stayed stopped with nothing open to replay or discard."""
    rig.partner.refusing.add(A)
    assert await rig.send(A, "a1") is Result.DEAD_LETTERED
    assert await rig.send(A, "a2") is Result.QUEUED
    async with rig.stores.sessions() as session:
        (first,) = await dead_letters.find(session, LetterQuery())
    now = rig.clock.now()
    async with rig.stores.sessions.begin() as session:  # what `hub dlq replay` does
        await dead_letters.settle(
            session, first.id, LetterState.REPLAYED, by="test", settlement="replay", now=now
        )
        assert await holdback.resume(session, first.id, first.record, now)
    assert await rig.retry_after(0) == [Result.DEAD_LETTERED], "refused again"
    async with rig.stores.sessions() as session:
        (second,) = await dead_letters.find(session, LetterQuery())  # the open ones
        assert second.id != first.id
        assert await holdback.held_behind(session, [second.id]) == {second.id: 1}
    rig.partner.refusing.clear()
    async with rig.stores.sessions.begin() as session:  # `hub dlq discard`
        assert await holdback.resume(session, second.id, None, now)
    assert await rig.retry_after(0) == [Result.DELIVERED]
    assert [k for s, k in rig.partner.delivered if s == A] == ["a2"]


async def test_an_open_breaker_leaves_a_dead_partner_alone(rig: Rig) -> None:
    rig.partner.down = True
    for n in range(3):
        assert await rig.send(psn(f"s{n}"), f"k{n}") is Result.QUEUED
    calls = len(rig.partner.calls)
    for n in range(3, 20):
        assert await rig.send(psn(f"s{n}"), f"k{n}") is Result.QUEUED
    assert len(rig.partner.calls) == calls == 3  # the breaker opened after 3 failures
    assert await rig.retry_after(5) == []  # still open: not one attempt
    assert len(rig.partner.calls) == 3
    rig.partner.down = False
    delivered = await rig.retry_after(30)  # half-open: one trial, then closed
    delivered += await rig.retry_after(1)
    assert delivered.count(Result.DELIVERED) == 20
    assert sorted(k for _, k in rig.partner.delivered) == sorted(f"k{n}" for n in range(20))


async def test_a_half_open_trial_that_finds_a_repeat_is_given_back(rig: Rig) -> None:
    """The first head tried after the breaker's pause was delivered meanwhile (another
    hub process, say): no call is made, so the trial is not used up. It was: the breaker
    stayed half-open with its trial taken and kept every later delivery queued, for as
    long as the process ran (an outside look's finding)."""
    rig.partner.down = True
    for n in range(3):  # three failures: the breaker opens
        assert await rig.send(psn(f"h{n}"), f"t{n}") is Result.QUEUED
        rig.clock.advance(0.1)  # the first one is the first due
    async with rig.stores.sessions.begin() as session:
        assert await idempotency.claim(session, rig.runtime.consumer, "ev-t0")
    rig.partner.down = False
    results = await rig.retry_after(30)  # half-open
    results += await rig.retry_after(1)
    assert Result.DUPLICATE in results
    assert results.count(Result.DELIVERED) == 2, results
    assert sorted(k for _, k in rig.partner.delivered) == ["t1", "t2"]
    assert await rig.queued() == 0


async def test_a_redelivered_record_is_queued_once_and_delivered_once(rig: Rig) -> None:
    rig.partner.failing.add(A)
    assert await rig.send(A, "a1") is Result.QUEUED
    rig.offset -= 1  # the same record again, as after a crash before the offset commit
    assert await rig.send(A, "a1") is Result.QUEUED
    assert await rig.queued() == 1
    rig.partner.failing.clear()
    assert await rig.retry_after(2) == [Result.DELIVERED]
    rig.offset -= 1
    assert await rig.send(A, "a1") is Result.DUPLICATE
    assert rig.partner.delivered == [(A, "a1")]


async def test_in_one_batch_a_failing_client_waits_in_order_while_others_go_at_once(
    rig: Rig,
) -> None:
    rig.partner.failing.add(A)
    rig.partner.pause_s = 0.02
    others = [(psn(f"o{n}"), f"o{n}") for n in range(6)]
    results = await rig.send_batch([(A, "a1"), *others[:3], (A, "a2"), (A, "a1"), *others[3:]])
    delivered = [Result.DELIVERED] * 3
    assert results == [Result.QUEUED, *delivered, Result.QUEUED, Result.DUPLICATE, *delivered]
    assert rig.partner.calls.count("a2") == 0, "a2 waits behind a1 without being tried"
    assert rig.partner.calls.count("a1") == 1, "the same record twice is tried once"
    assert rig.partner.most_in_flight > 1, "different clients' deliveries go at once"
    async with rig.stores.sessions() as session:
        assert await idempotency.processed_among(
            session, rig.runtime.consumer, [f"ev-o{n}" for n in range(6)]
        ) == {f"ev-o{n}" for n in range(6)}, "every delivered one is recorded"
    assert await rig.send_batch(others) == [Result.DUPLICATE] * 6
    rig.partner.failing.clear()
    assert await rig.retry_after(2) == [Result.DELIVERED, Result.DELIVERED]
    assert [k for s, k in rig.partner.delivered if s == A] == ["a1", "a2"]


class OtherPartner(Partner):
    """A second connector of the same process, on its own lanes."""

    name: ClassVar[str] = "fake-pi"


async def test_one_retry_round_serves_every_connector_of_the_process(rig: Rig) -> None:
    other = OtherPartner(OutboundConfig())
    second = rig.beside(other)
    rig.partner.failing.add(A)
    other.failing.add(B)
    assert await rig.send(A, "a1") is Result.QUEUED
    assert await second.handle(*rig.record(B, "b1")) is Result.QUEUED
    rig.partner.failing.clear()
    other.failing.clear()
    rig.clock.advance(2)
    assert await retry_round([rig.runtime, second]) == [Result.DELIVERED, Result.DELIVERED]
    assert rig.partner.delivered == [(A, "a1")], "each lane goes to its own connector"
    assert other.delivered == [(B, "b1")]
    assert await rig.queued() == 0


class PiPartner(Partner):
    """A connector of the same process for another partner, on its own topic."""

    name: ClassVar[str] = "fake-pi"
    partner: ClassVar[str] = "pi"


def _consumed(record: tuple[dict[str, str], bytes, Origin]) -> ConsumerRecord[bytes, bytes]:
    headers, value, origin = record
    return ConsumerRecord(
        origin.topic,
        0,
        origin.offset,
        0,
        0,
        origin.key,
        value,
        None,
        len(origin.key or b""),
        len(value),
        [(k, v.encode()) for k, v in headers.items()],
    )


@pytest.fixture
async def two(rig: Rig) -> tuple[Rig, OutboundRuntime, Partner]:
    pi = PiPartner(OutboundConfig())
    return rig, rig.beside(pi), pi


async def test_one_fetch_of_two_connectors_is_read_once_and_recorded_once(
    two: tuple[Rig, OutboundRuntime, Partner],
) -> None:
    rig, second, pi = two
    fetch = [
        _consumed(rig.record(A, "a1")),
        _consumed(rig.record(B, "p1", "pi:pi-zwolle")),
        _consumed(rig.record(B, "b1")),
    ]
    transactions: list[str] = []
    engine = rig.stores.engine.sync_engine
    event.listen(engine, "begin", lambda connection: transactions.append("begin"))
    await DeliveryDispatch([rig.runtime, second])(fetch)
    assert rig.partner.delivered == [(A, "a1"), (B, "b1")], "each its own topic, in order"
    assert pi.delivered == [(B, "p1")]
    assert len(transactions) == 2, "one read and one write for the whole fetch"
    assert await rig.send(A, "a1") is Result.DUPLICATE, "recorded"


async def test_when_one_connector_fails_the_others_deliveries_are_still_recorded(
    two: tuple[Rig, OutboundRuntime, Partner], monkeypatch: pytest.MonkeyPatch
) -> None:
    rig, second, _ = two

    async def store_away(fetch: object) -> None:
        await asyncio.sleep(0.01)  # fails after the other connector began
        raise RetryableError("the state store is away")

    monkeypatch.setattr(second, "_deliver", store_away)
    with pytest.raises(RetryableError):
        await DeliveryDispatch([rig.runtime, second])(
            [_consumed(rig.record(A, "a1")), _consumed(rig.record(B, "p1", "pi:pi-zwolle"))]
        )
    assert rig.partner.delivered == [(A, "a1")]
    rig.offset -= 2  # the fetch comes again
    assert await rig.send(A, "a1") is Result.DUPLICATE, "not delivered twice"


async def test_a_slow_partner_holds_no_other_partner_of_the_process(
    two: tuple[Rig, OutboundRuntime, Partner],
) -> None:
    """The LLC answers, but after 6 s: past the fetch's budget (the shipped 5 s) its
    deliveries wait in their lanes, in order, and the PI's are made at once; the LLC's
    breaker opens, and after it the retry loop delivers them, the one cut off again with
    its idempotency key."""
    rig, second, pi = two
    rig.partner.pause_s = 6.0
    await DeliveryDispatch([rig.runtime, second])(
        [
            _consumed(rig.record(A, "a1")),
            _consumed(rig.record(B, "p1", "pi:pi-zwolle")),
            _consumed(rig.record(A, "a2")),
        ]
    )
    assert pi.delivered == [(B, "p1")]
    assert rig.partner.delivered == []
    assert rig.partner.calls == ["a1"], "a1 was cut off; a2 was never tried"
    assert await rig.queued() == 2
    assert await rig.send(B, "b1") is Result.QUEUED, "the breaker is open: no attempt"
    rig.partner.pause_s = 0.0
    await rig.retry_after(31)
    assert rig.partner.delivered == [(A, "a1"), (A, "a2"), (B, "b1")]
    assert rig.partner.calls.count("a1") == 2, "the cut-off call again, with its key"
    assert await rig.queued() == 0
