"""The router's decisions, deliveries and audit records, on SQLite and PostgreSQL.

The look-up is the static double and ``send`` collects records, so these tests see
exactly what would go to Kafka; the embedded-broker test runs the same on tansu.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.backoff import Backoff
from hub.bus.codec import decode
from hub.core.errors import ContractError, RetryableError
from hub.core.record import KafkaRecord
from hub.core.topics import ROUTER_GROUP
from hub.identity.rekeying import Rekeyer
from hub.routing.cedar_policy import CedarPolicy
from hub.routing.lookup import StaticCaseLookup
from hub.routing.recipients import PI_FIELDS
from hub.routing.router import Incoming, Router, RouteResult
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import ClientExcluded, ClientMoved, ExclusionReason, TeamMember, TeamRole
from hub.schemas.common import Facility
from hub.schemas.consent import ConsentRecorded, ConsentWithdrawn
from hub.schemas.deliveries import NotificationDelivery, Outcome
from hub.schemas.detention import DetentionEnded, DetentionTransferred
from hub.schemas.envelope import Envelope, partner_source
from hub.settings import RoutingSettings
from hub.state import audit, consents, detentions, holdback, outbox
from hub.state.database import sessionmaker
from hub.state.tables import DetentionRecord
from tests.data import (
    PROCESREGISSEUR,
    TEST_BSNS,
    TEST_NAMES,
    client_included,
    crisis_contact,
    detention_started,
    doorbreking,
    fhir_consent,
    kedo_hit,
    pseudonymiser,
)

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
SUBJECT = pseudonymiser().pseudonym(TEST_BSNS[0])
ZVH, DJI, CRISIS = "zvh:amsterdam", "dji", "crisis:amsterdam"


class Hub:
    """A router with a collecting ``send`` and helpers to feed it events."""

    def __init__(
        self,
        engine: AsyncEngine,
        lookup: StaticCaseLookup | None = None,
        retry: Backoff | None = None,
        clock: Callable[[], dt.datetime] = lambda: NOW,
        rekeyer: Rekeyer | None = None,
    ):
        self.sessions = sessionmaker(engine)
        self.lookup = lookup or StaticCaseLookup()
        self.sent: list[KafkaRecord] = []
        self.router = Router(
            self.sessions,
            CedarPolicy(),
            self.lookup,
            self.send,
            bsn_kinds=frozenset(RoutingSettings().bsn_authorised),
            clock=clock,
            retry=retry,
            rekeyer=rekeyer,
        )

    async def send(self, records: Sequence[KafkaRecord]) -> None:
        self.sent.extend(records)

    async def feed(
        self, event: CanonicalEvent, sender: str, event_id: str | None = None
    ) -> list[NotificationDelivery]:
        envelope = Envelope.for_event(
            event, subject=SUBJECT, source=partner_source(sender), event_id=event_id
        )
        before = len(self.sent)
        await self.router.route(envelope, event)
        await self.router.flush([envelope.id])
        out = []
        for record in self.sent[before:]:
            _, delivery = decode(record.headers, record.value)
            assert isinstance(delivery, NotificationDelivery)
            assert record.topic == f"delivery.{delivery.recipient.split(':')[0]}.v1"
            out.append(delivery)
        return out

    async def records(self, **query: Any) -> list[dict[str, Any]]:
        async with self.sessions() as session:
            return [r async for r in audit.search(session, audit.AuditQuery(**query))]


def by_recipient(deliveries: list[NotificationDelivery]) -> dict[str, NotificationDelivery]:
    return {d.recipient: d for d in deliveries}


async def test_flow_a_without_a_case_forwards_nothing_and_audits_no_case(
    engine: AsyncEngine,
) -> None:
    hub = Hub(engine)
    assert await hub.feed(detention_started(), DJI) == []
    (record,) = await hub.records()
    assert record["outcome"] == "NO_CASE"
    assert record["recipient"] is None
    assert hub.lookup.asked == [SUBJECT]


async def test_flow_a_hit_notifies_casusregisseur_llc_zvh_and_the_pi(engine: AsyncEngine) -> None:
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}))
    got = by_recipient(await hub.feed(detention_started(), DJI))
    assert set(got) == {"gemeente:GM0363", "llz:fivoor", ZVH, "pi:pi-ams"}
    llc = got["llz:fivoor"]
    assert llc.flow == "A"
    assert llc.content["facility"] == {"code": "PI-AMS", "name": "PI Amsterdam"}
    assert llc.content["casusregisseur"]["partner"] == "gemeente:GM0363"
    assert llc.content["person_name"] == TEST_NAMES[0]
    assert llc.bsn_permitted
    assert llc.decision.outcome is Outcome.PERMIT
    assert "wgs-samenwerkingsverband" in llc.decision.legal_bases
    pi = got["pi:pi-ams"]
    assert set(pi.content) <= PI_FIELDS
    assert pi.bsn_permitted, "a PI is part of DJI, which holds the BSN"
    assert pi.content["levensloopaanpak"] is True
    assert pi.content["llc"]["partner"] == "llz:fivoor"
    assert "detention_title" not in pi.content
    gemeente = got["gemeente:GM0363"]
    assert "wettelijke-taak-nazorg" in gemeente.decision.legal_bases
    assert not any(d.correction for d in got.values())
    stay, *records = await hub.records()
    assert (stay["outcome"], stay["recipient"]) == ("START", None), "the stay's start first"
    assert {r["recipient"] for r in records} == set(got)
    assert all(r["delivery_id"] == got[r["recipient"]].idempotency_key for r in records)


async def test_a_redelivered_event_makes_no_second_delivery_or_audit_record(
    engine: AsyncEngine,
) -> None:
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}))
    first = await hub.feed(detention_started(), DJI, event_id="injus-1")
    again = await hub.feed(detention_started(), DJI, event_id="injus-1")
    assert len(first) == 4
    assert again == []
    assert len(await hub.records()) == 5, "the stay's start and four decisions, once"


async def test_consent_then_withdrawal_changes_the_next_message(engine: AsyncEngine) -> None:
    hub = Hub(engine)
    await hub.feed(client_included(), ZVH)

    stripped = by_recipient(await hub.feed(crisis_contact(), CRISIS))
    llc = stripped["llz:fivoor"]
    assert set(llc.removed_fields) == {"assessment", "outcome"}
    assert llc.content["police_involved"] is True
    assert llc.decision.outcome is Outcome.PERMIT_REDACTED

    consent = fhir_consent("consent-1", actor="llz:fivoor", cls="medical")
    await hub.feed(ConsentRecorded(consent=consent), ZVH)
    whole = by_recipient(await hub.feed(crisis_contact(), CRISIS))
    llc = whole["llz:fivoor"]
    assert llc.removed_fields == ()
    assert llc.content["assessment"] == crisis_contact().assessment
    assert "consent" in llc.decision.legal_bases
    assert "assessment" not in whole[ZVH].content, "the consent names the LLC only"

    await hub.feed(ConsentWithdrawn(consent_id="consent-1", withdrawn_at=NOW), ZVH)
    again = by_recipient(await hub.feed(crisis_contact(), CRISIS))
    assert set(again["llz:fivoor"].removed_fields) == {"assessment", "outcome"}

    llc_records = await hub.records(partner="llz:fivoor")
    assert [r["outcome"] for r in llc_records] == ["PERMIT_REDACTED", "PERMIT", "PERMIT_REDACTED"]
    assert llc_records[1]["consent_id"] == "consent-1"
    changes = await hub.records(outcome="RECORDED")
    assert [c["object"] for c in changes if c["consent_id"]] == [
        "consent consent-1 recorded",
        "consent consent-1 withdrawn",
    ]


async def test_a_medical_field_goes_only_to_roles_it_is_relevant_to(engine: AsyncEngine) -> None:
    hub = Hub(engine)
    await hub.feed(client_included(), ZVH)
    await hub.feed(ConsentRecorded(consent=fhir_consent("c-all", cls="medical")), ZVH)
    got = by_recipient(await hub.feed(crisis_contact(), CRISIS))
    assert "assessment" in got["llz:fivoor"].content
    assert "outcome" in got[ZVH].content
    assert got[ZVH].removed_fields == ("assessment",)
    assert CRISIS not in got, "the sender does not get its own signal back"


async def test_a_failed_send_stays_in_the_outbox_until_the_next_flush(engine: AsyncEngine) -> None:
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}))
    envelope = Envelope.for_event(detention_started(), subject=SUBJECT, source=partner_source(DJI))

    async def broken(records: Sequence[KafkaRecord]) -> None:
        raise ConnectionError("broker away")

    failing = Router(
        hub.sessions,
        hub.router.policy,
        hub.lookup,
        broken,
        bsn_kinds=frozenset(),
        clock=lambda: NOW,
    )
    await failing.route(envelope, detention_started())
    with pytest.raises(ConnectionError):
        await failing.flush([envelope.id])
    async with hub.sessions() as session:
        assert await outbox.pending(session) == 4
    assert await hub.router.flush() == 4
    async with hub.sessions() as session:
        assert await outbox.pending(session) == 0
    assert len({r.headers["ce_id"] for r in hub.sent}) == 4


async def test_flow_e_release_tells_the_municipality_of_release_not_the_pi(
    engine: AsyncEngine,
) -> None:
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}))
    base = detention_started().model_dump(exclude={"start_date"})
    ended = DetentionEnded(**base, end_date=dt.date(2026, 12, 1), release_municipality="GM0344")
    got = by_recipient(await hub.feed(ended, DJI))
    assert set(got) == {"gemeente:GM0363", "gemeente:GM0344", "llz:fivoor", ZVH}
    release = got["gemeente:GM0344"]
    assert release.purpose == "nazorg"
    assert release.decision.legal_bases == ("bsn-bevoegd", "wettelijke-taak-nazorg")
    assert all(d.flow == "E" for d in got.values())


async def test_flow_d_transfer_tells_the_receiving_pi(engine: AsyncEngine) -> None:
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}))
    base = detention_started().model_dump(exclude={"start_date", "facility"})
    moved = DetentionTransferred(
        **base,
        facility=Facility(code="PI-VUG", name="PI Vught"),
        previous_facility=Facility(code="PI-AMS", name="PI Amsterdam"),
        transfer_date=dt.date(2026, 11, 30),
    )
    got = by_recipient(await hub.feed(moved, DJI))
    assert set(got) == {"pi:pi-vug", "llz:fivoor", ZVH}
    assert got["pi:pi-vug"].content["llc"]["partner"] == "llz:fivoor"


async def test_flows_g_and_c_move_then_exclusion(engine: AsyncEngine) -> None:
    hub = Hub(engine)
    team = (*client_included().team, TeamMember(partner="reclassering", role=TeamRole.RECLASSERING))
    await hub.feed(client_included(team=team), ZVH)
    move = ClientMoved(
        from_zvh=ZVH,
        to_zvh="zvh:utrecht",
        moved_on=dt.date(2027, 1, 1),
        procesregisseur=PROCESREGISSEUR,
    )
    handover = by_recipient(await hub.feed(move, ZVH))
    assert set(handover) == {ZVH, "zvh:utrecht"}, "both ZVHs get the handover, the sender too"
    exclusion = ClientExcluded(
        zvh="zvh:utrecht", reason=ExclusionReason.STABLE_TWO_YEARS, excluded_on=NOW.date()
    )
    withdrawn = by_recipient(await hub.feed(exclusion, "zvh:utrecht"))
    assert set(withdrawn) == {"reclassering"}
    assert withdrawn["reclassering"].content["levensloopaanpak"] is False
    assert withdrawn["reclassering"].flow == "C"
    assert await hub.feed(crisis_contact(), CRISIS) == []
    assert (await hub.records())[-1]["outcome"] == "NO_CASE"


class FlakyLookup(StaticCaseLookup):
    """KEDO that is down until told otherwise."""

    def __init__(self, answers: dict[str, Any]):
        super().__init__(answers)
        self.down = True
        self.tries = 0

    async def lookup(self, subject: str) -> Any:
        self.tries += 1
        if self.down:
            raise RetryableError("KEDO answered 503")
        return await super().lookup(subject)


async def test_when_kedo_is_down_events_wait_parked_in_order_and_others_go_on(
    engine: AsyncEngine,
) -> None:
    other = pseudonymiser().pseudonym(TEST_BSNS[1])
    lookup = FlakyLookup({SUBJECT: kedo_hit()})
    hub = Hub(engine, lookup, retry=Backoff(initial_s=0.0, max_s=0.0))
    await hub.feed(client_included(), ZVH)
    first = Envelope.for_event(detention_started(), subject=SUBJECT, source=partner_source(DJI))
    result = await hub.router.route(first, detention_started())
    assert result.parked
    signal = Envelope.for_event(crisis_contact(), subject=SUBJECT, source=partner_source(CRISIS))
    assert (await hub.router.route(signal, crisis_contact())).parked, "it waits behind"
    unrelated = Envelope.for_event(client_included(), subject=other, source=partner_source(ZVH))
    assert not (await hub.router.route(unrelated, client_included())).parked

    assert await hub.router.retry_parked() == 0, "still down: nothing routed, nothing lost"
    async with hub.sessions() as session:
        assert await holdback.pending(session, ROUTER_GROUP) == 2
    lookup.down = False
    assert await hub.router.retry_parked() == 2
    async with hub.sessions() as session:
        assert await holdback.pending(session, ROUTER_GROUP) == 0
    types = [r["event_type"] for r in await hub.records(subjects=[SUBJECT])]
    first_signal = types.index("nl.ketenhub.signal.crisis-contact.v1")
    assert types.index("nl.ketenhub.detention.started.v1") < first_signal, "order is kept"
    assert any(r.topic == "delivery.llz.v1" for r in hub.sent)


async def test_release_schedules_erasure_six_months_later_and_the_job_erases_then(
    engine: AsyncEngine,
) -> None:
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}))
    await hub.feed(detention_started(), DJI)
    base = detention_started().model_dump(exclude={"start_date"})
    ended = DetentionEnded(**base, end_date=dt.date(2026, 8, 31), release_municipality="GM0363")
    await hub.feed(ended, DJI)
    async with hub.sessions() as session:
        held = await session.get(DetentionRecord, SUBJECT)
    assert held is not None
    assert held.released_on == dt.date(2026, 8, 31)
    assert held.erase_after == dt.date(2027, 2, 28)
    async with hub.sessions.begin() as session:
        assert await detentions.erase_due(session, dt.date(2027, 2, 27)) == []
    async with hub.sessions.begin() as session:
        assert len(await detentions.erase_due(session, dt.date(2027, 2, 28))) == 1
    async with hub.sessions() as session:
        assert await session.get(DetentionRecord, SUBJECT) is None


async def test_no_detention_data_is_kept_for_a_person_without_a_case(engine: AsyncEngine) -> None:
    hub = Hub(engine)
    await hub.feed(detention_started(), DJI)
    async with hub.sessions() as session:
        assert await session.get(DetentionRecord, SUBJECT) is None


def test_six_months_after_keeps_the_day_or_takes_the_months_last() -> None:
    assert detentions.months_after(dt.date(2026, 5, 15), 6) == dt.date(2026, 11, 15)
    assert detentions.months_after(dt.date(2027, 8, 31), 6) == dt.date(2028, 2, 29)
    assert detentions.months_after(dt.date(2026, 12, 1), 6) == dt.date(2027, 6, 1)


def _incoming(event: CanonicalEvent, sender: str, subject: str, event_id: str) -> Incoming:
    envelope = Envelope.for_event(
        event, subject=subject, source=partner_source(sender), event_id=event_id
    )
    return Incoming(envelope, event)


def _shape(records: list[KafkaRecord]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    shapes = []
    for record in records:
        _, delivery = decode(record.headers, record.value)
        assert isinstance(delivery, NotificationDelivery)
        shapes.append(
            (
                delivery.source_type,
                delivery.recipient,
                delivery.flow.value,
                tuple(sorted(delivery.content)),
            )
        )
    return shapes


async def test_a_batch_decides_as_one_event_at_a_time_does_in_one_transaction(
    engine: AsyncEngine,
) -> None:
    other = pseudonymiser().pseudonym(TEST_BSNS[1])
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit(), other: kedo_hit()}))
    events = [
        (client_included(), ZVH, "incl"),
        (detention_started(), DJI, "start"),
        (detention_started(), DJI, "start"),  # the same event twice in one fetch
        (crisis_contact(), CRISIS, "crisis"),
    ]
    for event, sender, event_id in events:
        item = _incoming(event, sender, other, f"{event_id}-other")
        await hub.router.route(item.envelope, item.event)
        await hub.router.flush([item.envelope.id])
    one_by_one = list(hub.sent)
    hub.sent.clear()
    hub.lookup.asked.clear()

    batch = [_incoming(e, s, SUBJECT, i) for e, s, i in events]
    results = await hub.router.route_batch(batch)
    assert results is not None
    assert [r.duplicate for r in results] == [False, False, True, False]
    assert hub.sent == [], "nothing is sent before the flush"
    await hub.router.flush([item.envelope.id for item in batch])

    assert _shape(hub.sent) == _shape(one_by_one), "the same deliveries, in the same order"
    assert hub.lookup.asked == [SUBJECT], "one look-up for the subject's detentions"
    seqs = [n for r in results for n in r.audit_seqs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "one unbroken run of the chain"
    async with hub.sessions() as session:
        assert (await audit.verify(session)).intact
        assert await outbox.pending(session) == 0
    assert await hub.router.route_batch(batch) == [RouteResult(duplicate=True)] * 4


async def test_in_one_batch_a_failed_look_up_holds_that_client_and_the_others_go_on(
    engine: AsyncEngine,
) -> None:
    other = pseudonymiser().pseudonym(TEST_BSNS[1])
    lookup = FlakyLookup({SUBJECT: kedo_hit(), other: kedo_hit()})
    hub = Hub(engine, lookup, retry=Backoff(initial_s=0.0, max_s=0.0))  # due again at once
    await hub.feed(client_included(), ZVH)
    start = _incoming(detention_started(), DJI, SUBJECT, "start")
    signal = _incoming(crisis_contact(), CRISIS, SUBJECT, "crisis")
    elsewhere = _incoming(client_included(), ZVH, other, "incl-other")
    results = await hub.router.route_batch([start, signal, elsewhere])
    assert [r.parked for r in results] == [True, True, False], "KEDO is down for the start"
    assert lookup.tries == 1, "asked once, for the one detention"
    async with hub.sessions() as session:
        assert await holdback.pending(session, ROUTER_GROUP) == 2
    assert await hub.router.retry_parked() == 0, "still down: the head stays, nothing lost"
    lookup.down = False
    assert await hub.router.retry_parked() == 2
    async with hub.sessions() as session:
        assert await holdback.pending(session, ROUTER_GROUP) == 0
    types = [r["event_type"] for r in await hub.records(subjects=[SUBJECT])]
    assert types.index("nl.ketenhub.detention.started.v1") < types.index(
        "nl.ketenhub.signal.crisis-contact.v1"
    ), "the order is kept"


async def _routed(hub: Hub, items: list[Incoming], how: str) -> list[list[NotificationDelivery]]:
    """Each item's deliveries, the items routed one at a time or as one fetch."""
    if how == "one fetch":
        await hub.router.route_batch(items)
    else:
        for item in items:
            await hub.router.route(item.envelope, item.event)
    await hub.router.flush([item.envelope.id for item in items])
    out: dict[str | None, list[NotificationDelivery]] = {item.envelope.id: [] for item in items}
    for record in hub.sent:
        envelope, delivery = decode(record.headers, record.value)
        assert isinstance(delivery, NotificationDelivery)
        out[envelope.causationid].append(delivery)
    return [out[item.envelope.id] for item in items]


@pytest.mark.parametrize("how", ["one by one", "one fetch"])
async def test_a_second_start_of_a_stay_is_a_repeat_or_a_correction_never_a_second_start(
    engine: AsyncEngine, how: str
) -> None:
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}))
    vught = Facility(code="PI-VUG", name="PI Vught")
    items = [
        _incoming(detention_started(), DJI, SUBJECT, "start-1"),
        _incoming(detention_started(source_event_id="INJUS-0002"), DJI, SUBJECT, "start-2"),
        _incoming(
            detention_started(source_event_id="INJUS-0003", facility=vught),
            DJI,
            SUBJECT,
            "start-3",
        ),
    ]
    first, repeat, corrected = await _routed(hub, items, how)

    assert {d.recipient for d in first} == {"gemeente:GM0363", "llz:fivoor", ZVH, "pi:pi-ams"}
    assert not any(d.correction for d in first)
    assert repeat == [], "the same content under a new event id: no partner hears of it"
    assert {d.recipient for d in corrected} == {"gemeente:GM0363", "llz:fivoor", ZVH, "pi:pi-vug"}
    assert all(d.correction for d in corrected)
    assert by_recipient(corrected)["llz:fivoor"].content["facility"]["code"] == "PI-VUG"

    records = await hub.records(subjects=[SUBJECT])
    stays = [r for r in records if r["recipient"] is None]
    assert [(r["event_id"], r["outcome"], r["object"]) for r in stays] == [
        ("start-1", "START", "stay start-1: start"),
        ("start-2", "DUPLICATE_START", "stay start-1: repeat of event start-1, nothing sent"),
        ("start-3", "CORRECTION", "stay start-1: correction of event start-1"),
    ]
    assert [r for r in records if r["event_id"] == "start-2"] == stays[1:2], "no decision"
    async with hub.sessions() as session:
        assert (await audit.verify(session)).intact
        held = await session.get(DetentionRecord, SUBJECT)
    assert held is not None
    assert (held.stay_key, held.start_event_id, held.facility_code) == (
        "start-1",
        "start-3",
        "PI-VUG",
    )


async def test_a_start_after_the_release_opens_a_new_stay_with_its_own_start_notice(
    engine: AsyncEngine,
) -> None:
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}))
    await hub.feed(detention_started(), DJI, event_id="stay-1")
    base = detention_started().model_dump(exclude={"start_date"})
    ended = DetentionEnded(**base, end_date=dt.date(2026, 12, 1), release_municipality="GM0363")
    await hub.feed(ended, DJI, event_id="end-1")
    again = detention_started(source_event_id="INJUS-0002", start_date=dt.date(2027, 3, 1))
    got = await hub.feed(again, DJI, event_id="stay-2")
    assert len(got) == 4
    assert not any(d.correction for d in got)
    (record,) = await hub.records(event_id="stay-2", outcome="START")
    assert record["object"] == "stay stay-2: start"


async def test_a_late_correction_of_an_ended_stay_keeps_its_release_and_erasure_date(
    engine: AsyncEngine,
) -> None:
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}))
    await hub.feed(detention_started(), DJI, event_id="stay-1")
    base = detention_started().model_dump(exclude={"start_date"})
    ended = DetentionEnded(**base, end_date=dt.date(2026, 12, 1), release_municipality="GM0363")
    await hub.feed(ended, DJI, event_id="end-1")
    late = detention_started(source_event_id="INJUS-0002", detention_title="gevangenisstraf")
    got = await hub.feed(late, DJI, event_id="late-1")
    assert got
    assert all(d.correction for d in got)
    (record,) = await hub.records(event_id="late-1", outcome="CORRECTION")
    assert record["object"] == "stay stay-1: correction of event stay-1"
    async with hub.sessions() as session:
        held = await session.get(DetentionRecord, SUBJECT)
    assert held is not None
    assert (held.stay_key, held.released_on, held.erase_after) == (
        "stay-1",
        dt.date(2026, 12, 1),
        dt.date(2027, 6, 1),
    )


async def test_a_batch_reads_each_table_of_client_state_once(engine: AsyncEngine) -> None:
    """Five clients' detentions in one fetch: the snapshot reads each table of client
    state with one query, not one per event. (Keeping a detention record still looks
    its row up when it writes it: a write, not the decision's read.)"""
    subjects = [pseudonymiser().pseudonym(bsn) for bsn in TEST_BSNS]
    hub = Hub(engine, StaticCaseLookup({s: kedo_hit() for s in subjects}))
    items = [_incoming(detention_started(), DJI, s, f"start-{n}") for n, s in enumerate(subjects)]
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa_event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        results = await hub.router.route_batch(items)
    finally:
        sa_event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert all(r.staged == 4 for r in results)
    tables = [
        "case_state",
        "team_membership",
        "consent",
        "legal_title",
        "conflict_decision",
        "label_status",
    ]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    reads = {t: sum(1 for s in selects if f"FROM {t}\n" in s or f"FROM {t} " in s) for t in tables}
    assert reads == dict.fromkeys(tables, 1)


LABELLED = (
    *client_included().team,
    TeamMember(partner="politie", role=TeamRole.POLITIE),
    TeamMember(partner="reclassering", role=TeamRole.RECLASSERING),
    TeamMember(partner=CRISIS, role=TeamRole.CRISISDIENST),
)
LABEL_PARTNERS = {"politie", "reclassering", CRISIS}
AHEAD = dt.date(2027, 1, 15)
ITS_DAY = dt.datetime(2027, 1, 14, 23, tzinfo=dt.UTC)
"""0:00 on 15 January 2027 in Amsterdam."""


def _exclusion(on: dt.date) -> ClientExcluded:
    return ClientExcluded(zvh=ZVH, reason=ExclusionReason.STABLE_TWO_YEARS, excluded_on=on)


async def test_kedo_still_included_after_the_exclusion_reaches_only_the_zvh_as_a_dispute(
    engine: AsyncEngine,
) -> None:
    """Found by an outside look: after the hub recorded the exclusion, a detention that
    KEDO still called included went to the gemeente, the LLC, the ZVH and the PI."""
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}))
    await hub.feed(client_included(team=LABELLED), ZVH)
    assert set(by_recipient(await hub.feed(_exclusion(NOW.date()), ZVH))) == LABEL_PARTNERS
    (notice,) = await hub.feed(detention_started(), DJI)
    assert (notice.recipient, notice.source_type) == (ZVH, "nl.ketenhub.case.disputed.v1")
    assert notice.content["hub_says"] == "excluded"
    assert notice.content["kedo_says"] == "included"
    assert {notice.content_categories[name] for name in notice.content} == {"label"}
    (disputed,) = await hub.records(outcome="DISPUTED")
    assert disputed["missing"] == ["hub-kedo-dispute"]
    assert disputed["recipient"] is None
    (decided,) = await hub.records(event_id=disputed["event_id"], partner=ZVH)
    assert decided["delivery_id"] == notice.idempotency_key
    async with hub.sessions() as session:
        assert (await session.get(DetentionRecord, SUBJECT)) is None, "nothing of it kept"


async def test_an_exclusion_dated_ahead_withdraws_the_labels_and_closes_the_case_on_its_day(
    engine: AsyncEngine,
) -> None:
    moment = [NOW]
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}), clock=lambda: moment[0])
    await hub.feed(client_included(team=LABELLED), ZVH)
    assert await hub.feed(_exclusion(AHEAD), ZVH) == [], "no label withdrawn before its day"
    assert set(by_recipient(await hub.feed(detention_started(), DJI))) == {
        "gemeente:GM0363",
        "llz:fivoor",
        ZVH,
        "pi:pi-ams",
    }, "still in the approach before the day"
    assert await hub.router.retry_parked() == 0
    moment[0] = ITS_DAY
    before = len(hub.sent)
    assert await hub.router.retry_parked() == 1
    withdrawn = [decode(r.headers, r.value)[1] for r in hub.sent[before:]]
    assert {d.recipient for d in withdrawn if isinstance(d, NotificationDelivery)} == (
        LABEL_PARTNERS
    )
    assert all(isinstance(d, NotificationDelivery) and d.flow == "C" for d in withdrawn)
    assert await hub.router.retry_parked() == 0, "once"
    base = detention_started().model_dump(exclude={"start_date"})
    end = DetentionEnded(**base, end_date=AHEAD, release_municipality="GM0363")
    (notice,) = await hub.feed(end, DJI)
    assert notice.source_type == "nl.ketenhub.case.disputed.v1", "KEDO still says included"
    hub.lookup.answers.clear()
    assert await hub.feed(crisis_contact(), CRISIS) == []
    assert (await hub.records())[-1]["outcome"] == "NO_CASE"


async def test_a_consent_withdrawal_dated_ahead_counts_from_its_moment(
    engine: AsyncEngine,
) -> None:
    """Withdrawals of consent already took effect at their date; pinned beside the
    exclusion, which now does the same."""
    moment = [NOW]
    hub = Hub(engine, clock=lambda: moment[0])
    await hub.feed(client_included(), ZVH)
    consent = fhir_consent("consent-1", actor="llz:fivoor", cls="medical")
    await hub.feed(ConsentRecorded(consent=consent), ZVH)
    later = NOW + dt.timedelta(days=3)
    await hub.feed(ConsentWithdrawn(consent_id="consent-1", withdrawn_at=later), ZVH)
    whole = by_recipient(await hub.feed(crisis_contact(), CRISIS))
    assert "assessment" in whole["llz:fivoor"].content, "the consent holds until then"
    moment[0] = later
    again = by_recipient(await hub.feed(crisis_contact(), CRISIS))
    assert set(again["llz:fivoor"].removed_fields) == {"assessment", "outcome"}


async def test_a_consent_on_the_bus_about_another_client_is_refused_and_counts_for_no_one(
    engine: AsyncEngine,
) -> None:
    """Issue 22 item 1 behind the edge: the router records a consent only for the client
    its patient names; an id is one client's, so another client's consent of the same id
    (two ZVHs may pick one) is theirs and changes nothing here."""
    hub = Hub(engine)
    await hub.feed(client_included(), ZVH)
    other = pseudonymiser().pseudonym(TEST_BSNS[1])
    stranger = ConsentRecorded(consent=fhir_consent("c-x", cls="medical", patient=other))
    with pytest.raises(ContractError, match="another client"):
        await hub.feed(stranger, ZVH)
    got = by_recipient(await hub.feed(crisis_contact(), CRISIS))
    assert "assessment" not in got["llz:fivoor"].content

    mine = ConsentRecorded(consent=fhir_consent("c-1", cls="medical", patient=SUBJECT))
    await hub.feed(mine, ZVH)
    theirs = ConsentRecorded(consent=fhir_consent("c-1", "deny", patient=other))
    async with hub.sessions.begin() as session:
        await consents.record_consent(session, other, theirs, "e-theirs")
        await consents.withdraw_consent(
            session, other, ConsentWithdrawn(consent_id="c-1", withdrawn_at=NOW)
        )
    again = by_recipient(await hub.feed(crisis_contact(), CRISIS))
    assert "assessment" in again["llz:fivoor"].content, "this client's own consent stands"
    async with hub.sessions() as session:
        facts = await consents.policy_facts_among(session, [SUBJECT, other], NOW)
    assert [c.consent_id for c in facts[SUBJECT].consents] == ["c-1"]
    assert facts[other].consents == (), "the other client's withdrew its own"


async def test_a_zvh_without_process_direction_cannot_break_glass_for_the_client(
    engine: AsyncEngine,
) -> None:
    """Found by an outside look: ZVH Utrecht recorded a DOORBREKING for an Amsterdam
    client, and the police received medical data on it. Only the ZVH with process
    direction speaks for the client; the others' facts are refused (a dead letter with
    the reason, by the consumer) and change nothing."""
    hub = Hub(engine)
    await hub.feed(client_included(), ZVH)
    breach = doorbreking("DVP-U", NOW)
    with pytest.raises(ContractError, match="zvh:utrecht does not have process direction"):
        await hub.feed(breach, "zvh:utrecht")
    got = by_recipient(await hub.feed(crisis_contact(), CRISIS))
    assert "politie" not in got
    await hub.feed(breach, ZVH)
    again = by_recipient(await hub.feed(crisis_contact(), CRISIS))
    assert set(again["politie"].content) == {"assessment", "outcome"}


async def test_a_field_the_contract_does_not_declare_is_never_disclosed(
    engine: AsyncEngine,
) -> None:
    """A newer hub's added field is read and kept (``CanonicalEvent`` is tolerant), but
    the policy decides only declared fields: no partner receives one it has no category
    for."""
    hub = Hub(engine, StaticCaseLookup({SUBJECT: kedo_hit()}))
    newer = detention_started().model_copy(update={"ward": "B-2"})
    assert newer.model_extra == {"ward": "B-2"}
    got = await hub.feed(newer, DJI)
    assert len(got) == 4
    assert all("ward" not in delivery.content for delivery in got)
    assert all("facility" in delivery.content for delivery in got), "the rest as always"
