"""The retention clocks of the hub's housekeeping, on the hub's own (injected) clock, with
the shipped settings, on SQLite and PostgreSQL.

A person in no case (Injus reported them, the router decided NO_CASE) loses their BSN
link, state and data keys a week after the last event about them, and the audit trail
says so; a person included in that week, one with a newer event, and one with work
still waiting keep them. Records without a legal term (settled dead letters, receipts,
event claims) go when their own term ends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner, Result

from hub.app import HubProcess
from hub.cli import app
from hub.core.calendar import local_day
from hub.core.errors import HubError
from hub.core.record import KafkaRecord
from hub.core.topics import ROUTER_GROUP
from hub.identity.erasure import ERASED, RETENTION, erase_no_case
from hub.identity.keyfiles import KeyDirectory
from hub.identity.keyring import CLIENT, DETENTION, Keyring, MasterKeys
from hub.identity.pseudonym import Pseudonymiser
from hub.identity.rekeying import Rekeyer
from hub.identity.vault import IdentityVault
from hub.routing.lookup import StaticCaseLookup
from hub.schemas.base import CanonicalEvent
from hub.schemas.consent import ConsentRecorded
from hub.schemas.envelope import Envelope, partner_source
from hub.settings import DatabaseSettings, HubSettings
from hub.state import accepted, activity, audit, dead_letters, holdback, idempotency, receipts
from hub.state.database import sessionmaker
from hub.state.dead_letters import Source
from hub.state.holdback import Lane
from hub.state.letter_states import LetterState
from hub.state.receipts import Receipt
from hub.state.tables import (
    AuditRecord,
    ConsentRecord,
    DataKeyRecord,
    DeadLetterRecord,
    DeliveryReceipt,
    IdentityVaultEntry,
    ProcessedEvent,
    PseudonymAlias,
    SubjectActivity,
)
from tests.clock import ManualClock
from tests.data import TEST_BSNS, client_included, detention_started, fhir_consent

DAY = 86_400.0
MINUTE = 60.0
BSN = TEST_BSNS[0]


class Hub:
    """A hub process on an injected clock that is never started: its router takes events
    directly (as from Kafka), and its housekeeping's retention round runs on demand."""

    def __init__(self, process: HubProcess, clock: ManualClock, pseudonymiser: Pseudonymiser):
        self.process, self.clock = process, clock
        self.vault = IdentityVault.for_pseudonymiser(pseudonymiser)
        self.subject = pseudonymiser.pseudonym(BSN)
        self.sessions = process.sessions

    async def accept(self, event: CanonicalEvent, sender: str) -> Envelope:
        """What an inbound connector does for a message about the person (the BSN link
        and a data key), then the router's decision."""
        async with self.sessions.begin() as session:
            await self.vault.remember(session, self.subject, BSN)
        await self.process.keyring.current(self.subject, DETENTION)
        envelope = Envelope.for_event(
            event, subject=self.subject, source=partner_source(sender), event_id=None
        )
        await self.process.router.route(envelope, event)
        return envelope

    async def housekeeping_after(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.process._erase_due()

    async def bsn(self) -> str | None:
        async with self.sessions() as session:
            return await self.vault.reveal(session, self.subject)

    async def live_keys(self) -> int:
        async with self.sessions() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(DataKeyRecord)
                    .where(
                        DataKeyRecord.subject == self.subject, DataKeyRecord.wrapped.is_not(None)
                    )
                )
                or 0
            )

    async def erasures(self) -> list[dict[str, object]]:
        async with self.sessions() as session:
            query = audit.AuditQuery(subjects=[self.subject], outcome=ERASED)
            return [record async for record in audit.search(session, query)]


@pytest.fixture
async def hub(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Hub]:
    settings = HubSettings(
        data_dir=tmp_path,
        database=DatabaseSettings(url=engine.url.render_as_string(hide_password=False)),
    )
    assert settings.routing.no_case_retention_days == 7, "the shipped default"
    pseudonymiser = Pseudonymiser(active_key_id="p1", keys={"p1": secrets.token_bytes(32)})
    # Starts at the wall clock's now: an event claim is stamped by it (``idempotency``).
    clock = ManualClock(dt.datetime.now(dt.UTC))
    process = HubProcess(settings, pseudonymiser, lookup=StaticCaseLookup(), clock=clock)
    yield Hub(process, clock, pseudonymiser)
    await process.engine.dispose()


async def test_a_person_in_no_case_is_erased_a_week_after_the_last_event_and_audited(
    hub: Hub,
) -> None:
    await hub.accept(
        ConsentRecorded(consent=fhir_consent("c-1", patient=hub.subject)), "zvh:amsterdam"
    )
    await hub.accept(detention_started(), "dji")
    assert await hub.bsn() == BSN
    assert await hub.live_keys() == 2, "the client key (the consent) and the detention key"
    assert await _count(hub, ConsentRecord) == 1

    await hub.housekeeping_after(6 * DAY)
    assert await hub.bsn() == BSN, "six days: kept"
    assert await hub.live_keys() == 2
    assert await hub.erasures() == []

    await hub.housekeeping_after(DAY + MINUTE)
    assert await hub.bsn() is None, "the BSN look-up is gone"
    assert await hub.live_keys() == 0, "the data keys are shredded"
    (erasure,) = await hub.erasures()
    assert erasure["sender"] == RETENTION
    assert "no case" in str(erasure["object"])
    assert BSN not in str(erasure)
    async with hub.sessions() as session:
        assert (await audit.verify(session)).broken is None
        assert await session.get(IdentityVaultEntry, hub.subject) is None
        assert await session.get(SubjectActivity, hub.subject) is None
    assert await _count(hub, ConsentRecord) == 0, "what state there was went too"

    await hub.housekeeping_after(DAY)
    assert len(await hub.erasures()) == 1, "erased once, not every round"


async def test_a_person_included_within_the_week_is_kept(hub: Hub) -> None:
    await hub.accept(detention_started(), "dji")
    hub.clock.advance(DAY)
    await hub.accept(client_included(), "zvh:amsterdam")
    await hub.housekeeping_after(30 * DAY)
    assert await hub.bsn() == BSN
    assert await hub.live_keys() == 2, "the detention key and the one for the case"
    assert await hub.erasures() == []


async def test_a_new_event_about_a_person_in_no_case_restarts_the_clock(hub: Hub) -> None:
    await hub.accept(detention_started(), "dji")
    hub.clock.advance(5 * DAY)
    await hub.accept(detention_started(source_event_id="INJUS-0002"), "dji")
    await hub.housekeeping_after(3 * DAY)
    assert await hub.bsn() == BSN, "eight days after the first event, three after the last"
    await hub.housekeeping_after(4 * DAY + MINUTE)
    assert await hub.bsn() is None
    assert len(await hub.erasures()) == 1


async def _accepted_unrouted(hub: Hub) -> None:
    async with hub.sessions.begin() as session:
        await accepted.accept(session, "evt-waiting", hub.subject, _record())


async def _held_back(hub: Hub) -> None:
    async with hub.sessions.begin() as session:
        now = hub.clock.now()
        await holdback.hold(
            session,
            Lane(ROUTER_GROUP, hub.subject, ""),
            "evt-held",
            _record(),
            reason="case look-up failed",
            now=now,
            next_attempt_at=now,
        )


async def _dead_lettered(hub: Hub) -> None:
    async with hub.sessions.begin() as session:
        await dead_letters.record(
            session,
            _source(hub.subject),
            HubError("the router gave up"),
            [],
            attempts=1,
            now=hub.clock.now(),
        )


@pytest.mark.parametrize("waiting", [_accepted_unrouted, _held_back, _dead_lettered])
async def test_nothing_still_waiting_loses_its_keys(hub: Hub, waiting: object) -> None:
    await hub.accept(detention_started(), "dji")
    assert callable(waiting)
    await waiting(hub)
    await hub.housekeeping_after(8 * DAY)
    assert await hub.bsn() == BSN
    assert await hub.live_keys() == 1


async def test_a_rotation_moves_the_clock_and_after_the_erasure_resurrects_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = sessionmaker(engine)
    directory = KeyDirectory(tmp_path, "pseudonym", default_id="k1", create=True, reload_s=0)
    pseudonymiser = Pseudonymiser(source=directory)
    vault = IdentityVault.for_pseudonymiser(pseudonymiser)
    keyring = Keyring(sessions, MasterKeys("m1", {"m1": secrets.token_bytes(32)}))
    rekeyer = Rekeyer(pseudonymiser, vault, keyring)
    old = pseudonymiser.pseudonym(BSN)
    now = dt.datetime.now(dt.UTC)
    async with sessions.begin() as session:
        await vault.remember(session, old, BSN)
        await activity.seen(session, [old], now)
    await keyring.current(old, CLIENT)
    directory.rotate()
    new = pseudonymiser.pseudonym(BSN)
    assert (await rekeyer.rekey_all(sessions)).moved == 1
    week = dt.timedelta(days=7)
    async with sessions.begin() as session:
        assert await erase_no_case(session, keyring, now=now + week, retention=week) == []
        erased = await erase_no_case(
            session, keyring, now=now + week + dt.timedelta(minutes=1), retention=week
        )
    assert erased == [new], "the clock moved with the person, and kept its time"

    assert (await rekeyer.rekey_all(sessions)).moved == 0
    directory.rotate()
    assert (await rekeyer.rekey_all(sessions)).moved == 0
    async with sessions.begin() as session:
        assert await rekeyer.canonical(session, old) in {old, new}
        assert await vault.reveal(session, old) is None
        assert await vault.reveal(session, new) is None
        assert await vault.reveal(session, pseudonymiser.pseudonym(BSN)) is None
        assert await session.scalar(select(func.count()).select_from(PseudonymAlias)) == 0
        assert await session.scalar(select(func.count()).select_from(IdentityVaultEntry)) == 0
        live = await session.scalar(
            select(func.count())
            .select_from(DataKeyRecord)
            .where(DataKeyRecord.wrapped.is_not(None))
        )
    assert live == 0


async def test_a_key_made_for_a_refused_message_gets_a_clock_too(hub: Hub) -> None:
    """A data key is made before the webhook claims the message; a refused replay
    leaves it without an event. The housekeeping starts its clock when it finds it."""
    key = await hub.process.keyring.current(hub.subject, DETENTION)
    await hub.housekeeping_after(MINUTE)
    assert await hub.live_keys() == 1
    await hub.housekeeping_after(7 * DAY - MINUTE)
    assert await hub.live_keys() == 1, "the clock started when it was found"
    await hub.housekeeping_after(2 * MINUTE)
    assert (await hub.process.keyring.find([key.key_id]))[key.key_id] is None


async def test_settled_dead_letters_go_after_their_term_and_open_ones_stay(hub: Hub) -> None:
    async with hub.sessions.begin() as session:
        now = hub.clock.now()
        settled = await dead_letters.record(
            session, _source(hub.subject, offset=1), HubError("x"), [], attempts=1, now=now
        )
        kept = await dead_letters.record(
            session, _source(hub.subject, offset=2), HubError("x"), [], attempts=1, now=now
        )
        await dead_letters.settle(
            session, settled, LetterState.DISCARDED, by="op", settlement="gone", now=now
        )
    await hub.housekeeping_after(29 * DAY)
    assert await _count(hub, DeadLetterRecord) == 2
    await hub.housekeeping_after(DAY + MINUTE)
    async with hub.sessions() as session:
        assert [row.id for row in await session.scalars(select(DeadLetterRecord))] == [kept]


async def test_receipts_and_event_claims_go_after_their_term(hub: Hub) -> None:
    async with hub.sessions.begin() as session:
        await receipts.record(session, [_receipt(hub.clock.now())])
        await idempotency.claim(session, ROUTER_GROUP, "evt-old")
    await hub.housekeeping_after(89 * DAY)
    assert await _count(hub, DeliveryReceipt) == 1
    await hub.housekeeping_after(DAY + MINUTE)
    assert await _count(hub, DeliveryReceipt) == 0
    assert await _count(hub, ProcessedEvent) == 1, "a claim outlives every topic's retention"
    await hub.housekeeping_after(30 * DAY)
    assert await _count(hub, ProcessedEvent) == 0


async def _count(
    hub: Hub,
    table: type[
        ConsentRecord | DataKeyRecord | DeadLetterRecord | DeliveryReceipt | ProcessedEvent
    ],
) -> int:
    async with hub.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


def _record() -> KafkaRecord:
    return KafkaRecord(topic="detention.v1", key=b"k", value=b"sealed", headers={})


def _source(subject: str, offset: int = 0) -> Source:
    return Source(
        consumer=ROUTER_GROUP,
        topic="detention.v1",
        partition=0,
        offset=offset,
        key=subject.encode(),
        headers={},
        value=b"sealed",
        subject=subject,
    )


def _receipt(now: dt.datetime) -> Receipt:
    return Receipt(
        delivery_id="d1",
        correlation_id="c1",
        connector="llc-communication",
        recipient="llz:fivoor",
        flow="A",
        outcome="delivered",
        attempts=1,
        seconds=0.1,
        detail=None,
        finished_at=now,
    )


async def test_a_shredded_key_s_row_goes_after_its_term(hub: Hub) -> None:
    """The row of a shredded key holds no secret, but the pseudonym and the reason."""
    await hub.accept(detention_started(), "dji")
    await hub.housekeeping_after(7 * DAY + MINUTE)
    assert await hub.bsn() is None
    assert await _count(hub, DataKeyRecord) == 1, "shredded, the row stays for now"
    await hub.housekeeping_after(29 * DAY)
    assert await _count(hub, DataKeyRecord) == 1
    await hub.housekeeping_after(DAY + MINUTE)
    assert await _count(hub, DataKeyRecord) == 0
    assert len(await hub.erasures()) == 1, "the audit trail keeps the erasure"


async def test_a_clock_started_under_the_new_pseudonym_does_not_block_the_move(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """During a rotation a message under the new pseudonym records the BSN under it
    before the router moves the client; the housekeeping may start a clock for it
    first. The move goes through and keeps the later of the two clocks."""
    sessions = sessionmaker(engine)
    directory = KeyDirectory(tmp_path, "pseudonym", default_id="k1", create=True, reload_s=0)
    pseudonymiser = Pseudonymiser(source=directory)
    vault = IdentityVault.for_pseudonymiser(pseudonymiser)
    keyring = Keyring(sessions, MasterKeys("m1", {"m1": secrets.token_bytes(32)}))
    old = pseudonymiser.pseudonym(BSN)
    then = dt.datetime.now(dt.UTC)
    async with sessions.begin() as session:
        await vault.remember(session, old, BSN)
        await activity.seen(session, [old], then)
    directory.rotate()
    new = pseudonymiser.pseudonym(BSN)
    async with sessions.begin() as session:
        await vault.remember(session, new, BSN)
        assert await activity.adopt(session, then + dt.timedelta(hours=1)) == 1
    async with sessions.begin() as session:
        assert await Rekeyer(pseudonymiser, vault, keyring).canonical(session, old) == new
    async with sessions() as session:
        clocks = {
            row.subject: row.last_event_at for row in await session.scalars(select(SubjectActivity))
        }
    assert clocks == {new: then + dt.timedelta(hours=1)}


async def test_hub_erasure_run_erases_what_is_due_as_of_a_day_and_a_day_ahead_needs_leave(
    hub: Hub,
) -> None:
    """`hub erasure run`: the pass at once, not at the router's next hourly one. As of a
    day ahead it would erase early, so it is refused without ``--ahead``; with it, a
    person in no case is erased as of eight days on, and the audit says so."""
    await hub.accept(detention_started(), "dji")  # NO_CASE: no case in the look-up
    settings = hub.process.settings
    env = {
        "HUB_DATA_DIR": str(settings.data_dir),
        "HUB_DATABASE__URL": str(settings.database.url),
    }
    ahead = (local_day(dt.datetime.now(dt.UTC)) + dt.timedelta(days=8)).isoformat()

    async def hub_cli(*args: str) -> Result:
        return await asyncio.to_thread(CliRunner().invoke, app, ["erasure", "run", *args], env=env)

    refused = await hub_cli("--as-of", ahead)
    assert refused.exit_code == 2, refused.output
    assert "lies ahead" in refused.output
    now = await hub_cli()
    assert now.exit_code == 0, now.output
    assert "people in no case erased (a week after the last event): 0" in now.output
    assert await hub.bsn() == BSN, "a week has not passed"

    early = await hub_cli("--as-of", ahead, "--ahead")
    assert early.exit_code == 0, early.output
    assert "people in no case erased (a week after the last event): 1" in early.output
    assert await hub.bsn() is None
    assert await hub.live_keys() == 0
    (erasure,) = await hub.erasures()
    assert erasure["sender"] == RETENTION


async def test_the_retention_pass_verifies_the_audit_chain_for_its_alert(hub: Hub) -> None:
    """``ketenhub_audit_chain_intact``: 1 after a pass over a sound trail, 0 once a record
    was changed outside the hub (KetenhubAuditChainBroken)."""
    await hub.accept(detention_started(), "dji")
    await hub.housekeeping_after(MINUTE)
    assert REGISTRY.get_sample_value("ketenhub_audit_chain_intact") == 1
    async with hub.sessions.begin() as session:
        await session.execute(update(AuditRecord).values(outcome="PERMIT"))
    await hub.housekeeping_after(MINUTE)
    assert REGISTRY.get_sample_value("ketenhub_audit_chain_intact") == 0
