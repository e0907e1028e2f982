"""The router's consumer with a poisonous event in a fetch: the batch is split until
that event is alone; what came before it is routed, and the fetch comes again (what
came after waits, so no client's events overtake) until the poisonous one has failed
three times; then it is dead-lettered with its history and the rest is routed, each
event once."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Sequence
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.bus.codec import decode, encode
from hub.bus.deadletter import DeadLetters
from hub.core.record import KafkaRecord
from hub.core.topics import ROUTER_GROUP
from hub.identity.keyfiles import KeyDirectory
from hub.identity.keyring import Keyring, MasterKeys
from hub.identity.pseudonym import Pseudonymiser
from hub.identity.rekeying import Rekeyer
from hub.identity.vault import IdentityVault
from hub.routing.cedar_policy import CedarPolicy
from hub.routing.consumer import CRASHES_BEFORE_DEAD_LETTER, RouterConsumer
from hub.routing.lookup import StaticCaseLookup
from hub.routing.replay import Replayer, Verdicts
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import KedoLookupResult
from hub.schemas.detention import DetentionEnded
from hub.schemas.envelope import Envelope, partner_source
from hub.state import accepted, audit, dead_letters
from hub.state.database import sessionmaker
from hub.state.dead_letters import LetterQuery
from tests.data import TEST_BSNS, detention_started, kedo_hit, pseudonymiser
from tests.integration.test_router import Hub

SUBJECTS = [pseudonymiser().pseudonym(bsn) for bsn in TEST_BSNS[:5]]
POISON = SUBJECTS[2]
KEYS = MasterKeys("m1", {"m1": secrets.token_bytes(32)})


class BuggyLookup(StaticCaseLookup):
    """A look-up with a bug for one client (not an outage: a plain exception)."""

    async def lookup(self, subject: str) -> KedoLookupResult:
        if subject == POISON:
            raise ValueError("a bug in the look-up")
        return await super().lookup(subject)


def _encoded() -> list[KafkaRecord]:
    """Each client's START as the inbound edge publishes it."""
    return [
        encode(
            detention_started(),
            Envelope.for_event(
                detention_started(),
                subject=subject,
                source=partner_source("dji"),
                event_id=f"start-{offset}",
            ),
        )
        for offset, subject in enumerate(SUBJECTS)
    ]


def _records() -> list[ConsumerRecord[bytes, bytes]]:
    records = []
    for offset, record in enumerate(_encoded()):
        records.append(
            ConsumerRecord(
                record.topic, 0, offset, 0, 0, record.key, record.value, None,
                len(record.key), len(record.value), record.header_list(),
            )
        )  # fmt: skip
    return records


async def test_a_poisonous_event_is_split_off_and_dead_lettered_after_three_failures(
    engine: AsyncEngine,
) -> None:
    hub = Hub(engine, BuggyLookup({s: kedo_hit() for s in SUBJECTS}))
    published: list[bytes] = []

    async def publish(value: bytes, _key: bytes | None, _headers: dict[str, str]) -> None:
        published.append(value)

    consumer = RouterConsumer(hub.router, DeadLetters(hub.sessions, publish))
    records = _records()

    async def routed_subjects() -> Sequence[str]:
        found = await hub.records()
        return sorted({r["subject"] for r in found if r["event_id"].startswith("start-")})

    for attempt in range(1, CRASHES_BEFORE_DEAD_LETTER):
        with pytest.raises(ValueError, match="a bug"):
            await consumer.handle(records)  # raised: the fetch comes again
        assert await routed_subjects() == sorted(SUBJECTS[:2]), attempt  # what came before
    await consumer.handle(records)  # the third time: dead-lettered, not raised
    assert await routed_subjects() == sorted(set(SUBJECTS) - {POISON}), "then what came after"
    decisions = [(r["event_id"], r["recipient"], r["action"]) for r in await hub.records()]
    assert len(decisions) == len(set(decisions)), "each routed once, however often it came"
    async with hub.sessions() as session:
        (letter,) = await dead_letters.find(session, LetterQuery(consumer=ROUTER_GROUP))
    assert (letter.subject, letter.attempts, letter.offset) == (POISON, 3, 2)
    assert [f.error for f in letter.errors] == ["permanent"] * 3
    assert "ValueError in the router" in letter.detail
    assert json.loads(published[0])["id"] == letter.id
    delivered = {record.key.decode() for record in hub.sent}
    assert delivered == set(SUBJECTS) - {POISON}, "the poisonous client got nothing"
    async with hub.sessions() as session:
        assert (await audit.verify(session)).intact


async def test_a_dead_lettered_event_is_settled_until_it_is_replayed(engine: AsyncEngine) -> None:
    """The relay publishes again what the router does not have: a dead-lettered event is
    settled with its letter, so it does not come back every minute as a new letter (an
    outside look found that loop). A replay releases it, and the router takes it again."""
    hub = Hub(engine, BuggyLookup({s: kedo_hit() for s in SUBJECTS}))

    async def publish(value: bytes, _key: bytes | None, _headers: dict[str, str]) -> None:
        return None

    async with hub.sessions.begin() as session:
        for offset, (subject, record) in enumerate(zip(SUBJECTS, _encoded(), strict=True)):
            await accepted.accept(session, f"start-{offset}", subject, record)
    consumer = RouterConsumer(hub.router, DeadLetters(hub.sessions, publish))
    for _ in range(1, CRASHES_BEFORE_DEAD_LETTER):
        with pytest.raises(ValueError, match="a bug"):
            await consumer.handle(_records())
    await consumer.handle(_records())
    async with hub.sessions() as session:
        assert await accepted.unrouted(session, ROUTER_GROUP) == []
        (letter,) = await dead_letters.find(session, LetterQuery(consumer=ROUTER_GROUP))
    replayer = Replayer(hub.sessions, CedarPolicy(), frozenset())
    plan = await replayer.plan(letter, dt.datetime.now(dt.UTC))
    assert plan.verdict is Verdicts.REROUTE

    async def send(records: Sequence[KafkaRecord]) -> None:
        return None

    await replayer.replay(plan, send, by="test", now=dt.datetime.now(dt.UTC))
    async with hub.sessions() as session:
        (again,) = await accepted.unrouted(session, ROUTER_GROUP)
    assert again.subject == POISON, "released: the router (or the relay) takes it again"


async def _nowhere(value: bytes, _key: bytes | None, _headers: dict[str, str]) -> None:
    return None


def _record(event: CanonicalEvent, subject: str, event_id: str) -> KafkaRecord:
    envelope = Envelope.for_event(
        event, subject=subject, source=partner_source("dji"), event_id=event_id
    )
    return encode(event, envelope)


def _fetched(record: KafkaRecord, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        record.topic, 0, offset, 0, 0, record.key, record.value, None,
        len(record.key), len(record.value), record.header_list(),
    )  # fmt: skip


async def test_a_start_the_broker_brings_before_a_lost_end_accepted_earlier_opens_a_new_stay(
    engine: AsyncEngine,
) -> None:
    """Two quick broker deaths: the client's END was taken by the first, and the new
    broker brings the next START before the relay sends the END again. Routed as
    fetched, the START was judged a repeat of the open stay and its notice never sent
    (the outside look lost 4 of 394 that way). Routed in the order accepted, the END is
    read from the store and goes first, with its deliveries; the END that arrives after
    is a repeat."""
    subject = SUBJECTS[0]
    hub = Hub(engine, StaticCaseLookup({subject: kedo_hit()}))

    async def publish(value: bytes, _key: bytes | None, _headers: dict[str, str]) -> None:
        return None

    def record(event: CanonicalEvent, event_id: str) -> KafkaRecord:
        envelope = Envelope.for_event(
            event, subject=subject, source=partner_source("dji"), event_id=event_id
        )
        return encode(event, envelope)

    start = record(detention_started(), "stay-1")
    base = detention_started().model_dump(exclude={"start_date"})
    end = record(
        DetentionEnded(**base, end_date=dt.date(2026, 12, 1), release_municipality="GM0363"),
        "end-1",
    )
    again = record(
        detention_started(source_event_id="INJUS-0002", start_date=dt.date(2027, 3, 1)), "stay-2"
    )
    async with hub.sessions.begin() as session:
        for event_id, kept in (("stay-1", start), ("end-1", end), ("stay-2", again)):
            await accepted.accept(session, event_id, subject, kept)
    consumer = RouterConsumer(hub.router, DeadLetters(hub.sessions, publish))

    await consumer.handle([_fetched(start, 0)])
    await consumer.handle([_fetched(again, 1)])  # the END is not on this broker

    stays = [
        (r["event_id"], r["outcome"], r["object"])
        for r in await hub.records(subjects=[subject])
        if r["recipient"] is None and r["event_id"] != "end-1"
    ]
    assert stays == [
        ("stay-1", "START", "stay stay-1: start"),
        ("stay-2", "START", "stay stay-2: start"),
    ]
    causes = [decode(r.headers, r.value)[0].causationid for r in hub.sent]
    assert causes.count("end-1") > 0, "the END's notices were sent"
    assert causes.count("stay-2") == 4, "a new stay's START notice to each team member"
    last_end = max(n for n, cause in enumerate(causes) if cause == "end-1")
    first_again = causes.index("stay-2")
    assert last_end < first_again, "the END's notices go out before the next START's"

    sent = len(hub.sent)
    decided = len(await hub.records())
    await consumer.handle([_fetched(end, 2)])  # the relay sends the END again
    assert (len(hub.sent), len(await hub.records())) == (sent, decided), "a repeat, nothing new"
    async with hub.sessions() as session:
        assert await accepted.unrouted(session, ROUTER_GROUP) == []
        assert (await audit.verify(session)).intact


async def test_a_start_under_the_new_pseudonym_waits_for_the_end_under_the_old_one(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A key rotation between a client's END and their next START: the END, under the
    old pseudonym, is on another partition than the START, under the new one. Seen as
    two clients, the START was routed first whenever its partition was fetched first,
    and judged a repeat of the open stay (1 of 300 in the rotation chaos test). As one
    client, the END goes first."""
    directory = KeyDirectory(tmp_path, "pseudonym", default_id="k1", create=True, reload_s=0)
    pseudonyms = Pseudonymiser(source=directory)
    vault = IdentityVault.for_pseudonymiser(pseudonyms)
    bsn = TEST_BSNS[0]
    old = pseudonyms.pseudonym(bsn)
    directory.rotate()
    new = pseudonyms.pseudonym(bsn)
    assert new != old
    hub = Hub(
        engine,
        StaticCaseLookup({old: kedo_hit(), new: kedo_hit()}),
        rekeyer=Rekeyer(pseudonyms, vault, Keyring(hub_sessions := sessionmaker(engine), KEYS)),
    )
    start = _record(detention_started(), old, "stay-1")
    base = detention_started().model_dump(exclude={"start_date"})
    end = _record(
        DetentionEnded(**base, end_date=dt.date(2026, 12, 1), release_municipality="GM0363"),
        old,
        "end-1",
    )
    again = _record(
        detention_started(source_event_id="INJUS-0002", start_date=dt.date(2027, 3, 1)),
        new,
        "stay-2",
    )
    async with hub_sessions.begin() as session:
        await vault.remember(session, old, bsn)
        for event_id, subject, kept in (
            ("stay-1", old, start),
            ("end-1", old, end),
            ("stay-2", new, again),
        ):
            await accepted.accept(session, event_id, subject, kept)
        await vault.remember(session, new, bsn)
    consumer = RouterConsumer(hub.router, DeadLetters(hub.sessions, _nowhere))

    await consumer.handle([_fetched(start, 0)])
    await consumer.handle([_fetched(again, 1)])  # the END's partition is fetched later

    decided = [(r["event_id"], r["outcome"], r["recipient"]) for r in await hub.records()]
    stays = [(event_id, outcome) for event_id, outcome, to in decided if to is None]
    assert stays == [("stay-1", "START"), ("stay-2", "START")], "a new stay, not a repeat"
    order = list(dict.fromkeys(event_id for event_id, _, _ in decided))
    assert order == ["stay-1", "end-1", "stay-2"], "the END decided before the next START"
    sent = len(hub.sent)
    await consumer.handle([_fetched(end, 2)])
    assert len(hub.sent) == sent, "the END from its own partition is a repeat"
