"""The router: every canonical event in, one decision per addressee, one delivery per
permitted addressee out, and an audit record for each decision.

Per event, in one database transaction: claim the event id, read the case as it stood,
apply the event's own state change (a case or consent event), tell a detention START
from a correction or a repeat of its stay (:func:`~hub.routing.stays.classify_start`; a
repeat sends nothing), decide for every addressee, stage the deliveries in the outbox
and chain the audit records. Only after that commits are the deliveries sent, and only
after they are sent is the Kafka offset committed. A redelivered event finds its claim
and sends only what was left unsent.

There is one path, :meth:`Router.route_batch`. The consumer takes what one fetch
brought (up to ``KafkaSettings.batch_max_records``) and routes it in one transaction,
each client's events on a topic in the order the hub accepted them
(:mod:`hub.routing.order`: one the broker lost is read from the store and goes first),
with the case look-ups asked at once and one audit append: the per-event cost of a
transaction, a commit and a round trip to the broker is paid once per batch. An event
whose client has an earlier one held back, or whose look-up failed, is held back in the
client's lane (``hub.state.holdback``) in that transaction; a held event tried again,
and a single event, are batches of one. A batch that fails is split until the event
that fails it is alone, and that one is dead-lettered.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import metrics, tracing
from hub.backoff import Backoff
from hub.bus.codec import encode, open_record
from hub.bus.sealing import Erased, scope_of
from hub.core.calendar import local_day
from hub.core.errors import ContractError, RetryableError
from hub.core.record import KafkaRecord
from hub.core.topics import ROUTER_GROUP, ROUTER_SCHEDULE
from hub.identity.keyring import DataKey, Keyring
from hub.identity.rekeying import Rekeyer, earlier_pseudonyms
from hub.logs import get_logger
from hub.routing.core import (
    Inputs,
    Rules,
    Scheduled,
    authority_problem,
    plan_event,
    recorded,
    sender_partner,
)
from hub.routing.decision import Policy
from hub.routing.lookup import CaseLookup, LookUp
from hub.routing.order import RoutingOrder, accepted_order
from hub.routing.snapshot import Snapshot
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import (
    KedoLookupResult,
)
from hub.schemas.consent import (
    ConflictOfDutiesDecided,
    ConsentEvent,
    ConsentRecorded,
    ConsentWithdrawn,
    LegalTitleRecorded,
)
from hub.schemas.detention import DetentionEvent
from hub.schemas.envelope import Envelope
from hub.state import (
    accepted,
    activity,
    audit,
    cases,
    consents,
    detentions,
    holdback,
    idempotency,
    labels,
    outbox,
)
from hub.state.audit import AuditEntry
from hub.state.failures import Failure

log = get_logger(__name__)


@dataclass(frozen=True)
class RouteResult:
    duplicate: bool
    audit_seqs: tuple[int, ...] = ()
    staged: int = 0
    parked: bool = False
    ahead: tuple[str, ...] = ()
    """Events of the client accepted before this one and routed just before it, in
    this batch (see :mod:`hub.routing.order`): their deliveries go first."""


"""A case look-up's answer, or why there was none."""


@dataclass(frozen=True)
class Incoming:
    """One event of a fetch, with the record headers its trace continues from."""

    envelope: Envelope
    event: CanonicalEvent
    headers: list[tuple[str, Any]] = field(default_factory=list)


def _positions(order: RoutingOrder, items: Sequence[Incoming], fetched: int) -> list[int]:
    """``order``'s steps as positions in ``items``: the fetch, then what the store
    brought (an event it could not bring is left out)."""
    brought = {item.envelope.id: n for n, item in enumerate(items[fetched:], start=fetched)}
    return [
        step if isinstance(step, int) else brought[step]
        for step in order.steps
        if isinstance(step, int) or step in brought
    ]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Router:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: Policy,
        lookup: CaseLookup,
        send: outbox.Send,
        *,
        bsn_kinds: frozenset[str],
        clock: Callable[[], dt.datetime] = _utc_now,
        retry: Backoff | None = None,
        keyring: Keyring | None = None,
        rekeyer: Rekeyer | None = None,
    ):
        self.keyring = keyring
        self._rekeyer = rekeyer
        self.sessions = sessions
        self._sessions = sessions
        self.policy = policy
        self._lookup = lookup
        self._send = send
        self._bsn_kinds = bsn_kinds
        self._clock = clock
        self._retry = retry or Backoff(initial_s=2.0, max_s=300.0)

    async def route(
        self, envelope: Envelope, event: CanonicalEvent, *, resumed: bool = False
    ) -> RouteResult:
        """One event: a batch of one (see :meth:`route_batch`)."""
        (result,) = await self.route_batch(
            [Incoming(envelope, event)], resumed=frozenset({envelope.id} if resumed else ())
        )
        return result

    async def route_batch(
        self, batch: Sequence[Incoming], *, resumed: frozenset[str] = frozenset()
    ) -> list[RouteResult]:
        """Decide, audit and stage a fetch's events in one transaction, in their order:
        one query for what was seen before, one for which clients are held back, the
        detentions' case look-ups at once, one audit append. Nothing is sent here (see
        :meth:`flush`).

        An event whose client has an earlier event held back, or whose case look-up
        failed, is held back in the client's lane (``RouteResult.parked``) in the same
        transaction, and the others go on. ``resumed`` names held events being tried
        again from the head of their lane: one of those whose look-up fails again
        raises the RetryableError, so it stays at the head.

        Each client's events on a topic go in the order the hub accepted them: one
        accepted before a fetched event and not yet had by the router (its broker lost)
        is read from the store and routed first, and named in the fetched event's
        ``RouteResult.ahead``.
        """
        if not batch:
            return []
        fetched = [await self._current_subject(item) for item in batch]
        async with self._sessions() as session:
            earlier = await self._earlier_pseudonyms(session, fetched)
            pending = await accepted.unrouted_of(
                session,
                ROUTER_GROUP,
                {item.envelope.subject for item in (*batch, *fetched)} | earlier.keys(),
                earlier,
            )
            seen = await idempotency.processed_among(
                session, ROUTER_GROUP, [item.envelope.id for item in batch]
            )
            lanes = await holdback.lanes_among(
                session, ROUTER_GROUP, {item.envelope.subject for item in fetched}
            )
        order = accepted_order(
            [
                (i.envelope.id, accepted.lane(i.envelope.subject, i.event.record_topic().name))
                for i in fetched
            ],
            pending,
        )
        brought = [await self._current_subject(item) for item in await self._brought(order)]
        heads = {item.envelope.subject for item in fetched if item.envelope.id in resumed}
        resumed |= {item.envelope.id for item in brought if item.envelope.subject in heads}
        items = [*fetched, *brought]
        holding = {subject for subject, _ in lanes}
        positions = _positions(order, items, len(batch))
        fresh = [(n, items[n]) for n in positions if items[n].envelope.id not in seen]
        answers = await self._lookup.lookup_all(
            {
                item.envelope.subject
                for _, item in fresh
                if isinstance(item.event, DetentionEvent)
                and (item.envelope.subject not in holding or item.envelope.id in resumed)
            }
        )
        now = self._clock()
        decided: dict[int, tuple[list[AuditEntry], int]] = {}
        held: set[int] = set()
        staged: list[tuple[str, str, KafkaRecord]] = []
        async with self._sessions.begin() as session:
            keys: dict[tuple[str, str], DataKey] = (
                await self.keyring.current_in(
                    session, [(item.envelope.subject, scope_of(item.event)) for _, item in fresh]
                )
                if self.keyring is not None
                else {}
            )
            snapshot = await Snapshot.load(
                session, {item.envelope.subject for _, item in fresh}, now
            )
            for n, item in fresh:
                envelope, event = item.envelope, item.event
                key = keys.get((envelope.subject, scope_of(event)))
                reason = self._held_because(item, holding, answers, resumed)
                if reason is not None:
                    await self._hold(session, item, reason, key, now)
                    holding.add(envelope.subject)
                    held.add(n)
                    continue
                with tracing.span("route", parent=item.headers, type=envelope.type):
                    if not await idempotency.claim(session, ROUTER_GROUP, envelope.id):
                        continue
                    found = answers.get(envelope.subject)
                    inputs = await snapshot.inputs(
                        session,
                        envelope.subject,
                        found if isinstance(found, KedoLookupResult) else None,
                    )
                    sender = sender_partner(envelope.source)
                    problem = authority_problem(event, inputs.case, sender, local_day(now))
                    if problem is not None:
                        raise ContractError(problem, field="zvh")
                    if isinstance(event, ConsentEvent):
                        decided[n] = ([await _record_fact(session, envelope, event)], 0)
                    else:
                        decided[n] = await self._decide(
                            session, envelope, event, inputs, now, key, staged
                        )
                    snapshot.changed(envelope.subject)
            await outbox.stage(session, staged)
            await activity.seen(session, {item.envelope.subject for _, item in fresh}, now)
            numbers = iter(
                await audit.append(
                    session, [entry for entries, _ in decided.values() for entry in entries]
                )
            )
            audit_seqs = {
                n: tuple(next(numbers) for _ in entries) for n, (entries, _) in decided.items()
            }
        metrics.count_decisions(
            (e.outcome, e.rule_ids) for entries, _ in decided.values() for e in entries
        )
        return [self._result(n, held, decided, audit_seqs, order) for n in range(len(batch))]

    @staticmethod
    def _result(
        n: int,
        held: Collection[int],
        decided: Mapping[int, tuple[list[AuditEntry], int]],
        audit_seqs: Mapping[int, tuple[int, ...]],
        order: RoutingOrder,
    ) -> RouteResult:
        ahead = order.ahead.get(n, ())
        if n in held:
            return RouteResult(duplicate=False, parked=True, ahead=ahead)
        if n not in decided:
            return RouteResult(duplicate=True, ahead=ahead)
        return RouteResult(
            duplicate=False, audit_seqs=audit_seqs[n], staged=decided[n][1], ahead=ahead
        )

    async def _brought(self, order: RoutingOrder) -> list[Incoming]:
        """The events ``order`` routes that the broker has not brought, opened from the
        accepted events the store keeps (an erased one is left out)."""
        wanted = [step for step in order.steps if isinstance(step, str)]
        if not wanted:
            return []
        async with self._sessions() as session:
            rows = {row.event_id: row for row in await accepted.kept_by_id(session, wanted)}
        items = []
        for event_id in wanted:
            if event_id not in rows:
                continue  # routed by another router meanwhile, and pruned
            record = rows[event_id].record
            try:
                envelope, event = await open_record(record.headers, record.value, self.keyring)
            except Erased:
                continue
            log.warning("event_routed_ahead", subject=envelope.subject, type=envelope.type)
            items.append(Incoming(envelope, event, record.header_list()))
        return items

    async def _earlier_pseudonyms(
        self, session: AsyncSession, fetched: Sequence[Incoming]
    ) -> dict[str, str]:
        """During a key rotation, the pseudonyms the fetched clients had before it (each
        leading to the current one): a client's events accepted under the old one and
        under the new are one lane, so a START under the new is not routed before the
        END under the old one that the broker has not brought yet."""
        rotating = self._rekeyer is not None and any(
            self._rekeyer.rotating(item.envelope.subject) for item in fetched
        )
        if not rotating:
            return {}
        return await earlier_pseudonyms(session, {item.envelope.subject for item in fetched})

    async def _current_subject(self, item: Incoming) -> Incoming:
        """The item under its client's current pseudonym, during a key rotation."""
        if self._rekeyer is None or not self._rekeyer.rotating(item.envelope.subject):
            return item
        subject = await self._rekeyer.resolve(self._sessions, item.envelope.subject)
        envelope = item.envelope.model_copy(update={"subject": subject})
        return Incoming(envelope, item.event, item.headers)

    @staticmethod
    def _held_because(
        item: Incoming,
        holding: Collection[str],
        answers: Mapping[str, LookUp],
        resumed: Collection[str],
    ) -> str | None:
        """Why ``item`` must wait in its client's lane, or None when it can be routed."""
        subject, head = item.envelope.subject, item.envelope.id in resumed
        if subject in holding and not head:
            return "behind an earlier event of the client"
        answer = answers.get(subject)
        if isinstance(item.event, DetentionEvent) and isinstance(answer, RetryableError):
            if head:
                raise answer
            return f"case look-up failed: {answer}"
        return None

    async def _hold(
        self,
        session: AsyncSession,
        item: Incoming,
        reason: str,
        key: DataKey | None,
        now: dt.datetime,
    ) -> None:
        envelope = item.envelope
        await holdback.hold(
            session,
            holdback.Lane(ROUTER_GROUP, envelope.subject),
            envelope.id,
            encode(item.event, envelope, key),
            reason=reason,
            now=now,
            next_attempt_at=now + dt.timedelta(seconds=self._retry.pause(1)),
        )
        log.warning("event_parked", subject=envelope.subject, type=envelope.type, reason=reason)

    async def retry_parked(self) -> int:
        """Route held events whose time has come, each client's lane in order, and the
        events dated ahead whose day has come; a lane whose head fails again waits with
        a longer pause. Returns how many were routed."""
        async with self._sessions() as session:
            now = self._clock()
            lanes = await holdback.due_lanes(session, (ROUTER_GROUP, ROUTER_SCHEDULE), now)
        routed = 0
        for lane in lanes:
            routed += await self._drain(lane)
        return routed

    async def _drain(self, lane: holdback.Lane) -> int:
        """Route a lane's events from its head while they are due; how many went."""
        routed = 0
        while True:
            now = self._clock()
            async with self._sessions.begin() as session:
                item = await holdback.head(session, lane)
                if item is None or item.stopped or item.next_attempt_at > now:
                    return routed
                if not await holdback.lease(session, item, now + holdback.LEASE):
                    return routed  # another router has it
            try:
                envelope, event = await open_record(
                    item.record.headers, item.record.value, self.keyring
                )
            except Erased:
                async with self._sessions.begin() as session:
                    await holdback.release(session, item.seq)
                continue
            try:
                result = await self.route(envelope, event, resumed=True)
            except RetryableError as error:
                attempt = item.attempts + 1
                async with self._sessions.begin() as session:
                    await holdback.postpone(
                        session,
                        item.seq,
                        attempts=attempt,
                        errors=[*item.errors, Failure.of(attempt, error, now)],
                        reason=str(error),
                        next_attempt_at=self._clock()
                        + dt.timedelta(seconds=self._retry.pause(attempt + 1)),
                    )
                return routed
            async with self._sessions.begin() as session:
                await holdback.release(session, item.seq)
            await self.flush([*result.ahead, envelope.id])
            routed += 1

    async def _decide(
        self,
        session: AsyncSession,
        envelope: Envelope,
        event: CanonicalEvent,
        inputs: Inputs,
        now: dt.datetime,
        key: DataKey | None,
        staged: list[tuple[str, str, KafkaRecord]],
    ) -> tuple[list[AuditEntry], int]:
        """Plan the event from the client's state as the batch left it
        (:func:`~hub.routing.core.plan_event`, no I/O) and carry the plan out in
        ``session``; its deliveries join ``staged``, for the batch's outbox rows."""
        subject = envelope.subject
        rules = Rules(self.policy, self._bsn_kinds, now, labels.new_reference)
        plan = plan_event(envelope, event, inputs, rules)
        if plan.apply_case:
            await cases.apply(session, subject, event, envelope.id, today=local_day(now))
        if plan.scheduled is not None:
            await self._schedule(session, plan.scheduled, key, now)
        if plan.record_detention:
            assert isinstance(event, DetentionEvent)
            await detentions.record(
                session,
                subject,
                event,
                envelope.id,
                current=inputs.stay,
                stay_key=plan.stay_key,
            )
        records = []
        for outgoing in plan.deliveries:
            record = encode(outgoing.notification, outgoing.envelope, key)
            tracing.inject(record.headers)
            records.append(record)
        staged += [
            (outgoing.envelope.id, envelope.id, record)
            for outgoing, record in zip(plan.deliveries, records, strict=True)
        ]
        for ask in plan.labels:
            await labels.request(
                session,
                subject=subject,
                partner=ask.partner,
                action=ask.action,
                reference=ask.reference,
                delivery_id=ask.delivery_id,
                record=None if ask.outgoing is None else records[ask.outgoing],
                now=now,
                denied=ask.denied,
            )
        return plan.entries, len(plan.deliveries)

    @staticmethod
    async def _schedule(
        session: AsyncSession, scheduled: Scheduled, key: DataKey | None, now: dt.datetime
    ) -> None:
        """Keep an event dated ahead in the client's schedule lane until its day; a
        redelivered event schedules nothing twice (the item id is derived from it)."""
        envelope = scheduled.envelope
        await holdback.hold(
            session,
            holdback.Lane(ROUTER_SCHEDULE, envelope.subject),
            envelope.id,
            encode(scheduled.event, envelope, key),
            reason=f"exclusion of {scheduled.event.excluded_on}: labels withdrawn on that day",
            now=now,
            next_attempt_at=scheduled.due,
        )

    async def flush(self, event_ids: list[str] | None = None) -> int:
        """Send the staged deliveries (of ``event_ids``, or all that are pending)."""
        return await outbox.flush(self._sessions, self._send, event_ids=event_ids)


async def _record_fact(
    session: AsyncSession, envelope: Envelope, event: ConsentEvent
) -> AuditEntry:
    """Store a consent, title or conflict-of-duties decision, and say what changed."""
    subject, consent_id = envelope.subject, None
    if isinstance(event, ConsentRecorded):
        consent_id = await consents.record_consent(session, subject, event, envelope.id)
        what = f"consent {consent_id} recorded"
    elif isinstance(event, ConsentWithdrawn):
        consent_id = event.consent_id
        known = await consents.withdraw_consent(session, subject, event)
        what = f"consent {consent_id} withdrawn" + ("" if known else " (was not on record)")
    elif isinstance(event, LegalTitleRecorded):
        await consents.record_title(session, subject, event, envelope.id)
        what = (
            f"{event.kind.value} {event.title_id} by {event.issued_by.value}, "
            f"{event.valid_from}..{event.valid_until}, "
            f"levensloopaanpak={'yes' if event.includes_levensloopaanpak else 'no'}"
        )
    elif isinstance(event, ConflictOfDutiesDecided):
        await consents.record_conflict_decision(session, subject, event, envelope.id)
        what = (
            f"conflict-of-duties {event.decision_id} for {event.recipient} "
            f"until {event.valid_until.isoformat()}"
        )
    else:
        raise ContractError(f"no state change defined for {envelope.type}", field="ce_type")
    return recorded(envelope, what, consent_id)
