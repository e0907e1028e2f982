"""The router: every canonical event in, one decision per addressee, one delivery per
permitted addressee out, and an audit record for each decision.

Per event, in one database transaction: claim the event id, read the case as it stood,
apply the event's own state change (a case or consent event), tell a detention START
from a correction or a repeat of its stay (:func:`~hub.routing.stays.classify_start`; a
repeat sends nothing), decide for every addressee, stage the deliveries in the outbox
and chain the audit records. Only after that commits are the deliveries sent, and only
after they are sent is the Kafka offset committed. A redelivered event finds its claim
and sends only what was left unsent.

The consumer takes what one fetch brought (up to ``KafkaSettings.batch_max_records``)
and routes it in one transaction, in the order it came, with the case look-ups asked at
once and one audit append: the per-event cost of a transaction, a commit and a
round trip to the broker is paid once per batch. A batch that needs more than that (a
held client, a look-up that failed, a pseudonym rotation, a failure) is routed one
event at a time, which is where holding back (``hub.state.holdback``) and
dead-lettering live.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub import metrics, tracing
from hub.backoff import Backoff
from hub.bus.codec import encode, open_record
from hub.bus.deadletter import DeadLetters, Publish, text_headers
from hub.bus.sealing import Erased, scope_of
from hub.bus.subscribers import batch_consumer, fetched
from hub.core.errors import ContractError, HubError, PermanentError, RetryableError, is_outage
from hub.core.topics import ROUTED_TOPICS, ROUTER_GROUP
from hub.identity.keyring import DataKey, Keyring
from hub.identity.rekeying import Rekeyer
from hub.logs import get_logger, message_context
from hub.routing.decision import Decision, Policy
from hub.routing.disclosure import Message, bsn_authorised, disclose, object_text
from hub.routing.lookup import CaseLookup
from hub.routing.recipients import addressees, case_context
from hub.routing.stays import StartClassification, StartKind, classify_start
from hub.schemas.base import CanonicalEvent
from hub.schemas.case import (
    CaseEvent,
    ClientExcluded,
    ClientIncluded,
    ClientMoved,
    KedoLookupResult,
)
from hub.schemas.consent import (
    ConflictOfDutiesDecided,
    ConsentEvent,
    ConsentRecorded,
    ConsentWithdrawn,
    LegalTitleRecorded,
)
from hub.schemas.deliveries import Flow
from hub.schemas.detention import DetentionEvent, DetentionStarted
from hub.schemas.envelope import Envelope
from hub.settings import KafkaSettings
from hub.state import audit, cases, consents, detentions, holdback, idempotency, labels, outbox
from hub.state.audit import Action, AuditEntry, AuditOutcome
from hub.state.dead_letters import Source
from hub.state.failures import Failure

CRASHES_BEFORE_DEAD_LETTER = 3
"""An event the router fails on this many times in a row for a reason that is not
transient (a bug, not an outage) is dead-lettered, so it cannot block its partition."""
HELD_LEASE = dt.timedelta(seconds=20)
"""How long one attempt at a held event holds it against the other routers."""
LABEL_ACTIONS = {Flow.B: labels.LabelAction.SET, Flow.C: labels.LabelAction.WITHDRAW}
PARTNER_SOURCE_PREFIX = "urn:ketenhub:partner:"
log = get_logger(__name__)


def sender_partner(source: str) -> str | None:
    return (
        source.removeprefix(PARTNER_SOURCE_PREFIX)
        if source.startswith(PARTNER_SOURCE_PREFIX)
        else None
    )


@dataclass(frozen=True)
class RouteResult:
    duplicate: bool
    audit_seqs: tuple[int, ...] = ()
    staged: int = 0
    parked: bool = False


LookUp = KedoLookupResult | RetryableError
"""A case look-up's answer, or why there was none."""


@dataclass(frozen=True)
class Incoming:
    """One event of a fetch, with the record headers its trace continues from."""

    envelope: Envelope
    event: CanonicalEvent
    headers: list[tuple[str, Any]] = field(default_factory=list)


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
        self._answers: dict[str, LookUp] = {}

    async def route(
        self, envelope: Envelope, event: CanonicalEvent, *, resumed: bool = False
    ) -> RouteResult:
        """Decide, audit and stage one event; nothing is sent here (see :meth:`flush`).

        When the case look-up is down, or an earlier event of the same client is held,
        the event is held back in the client's lane instead (``RouteResult.parked``) and
        the partition moves on.
        ``resumed`` is set by :meth:`retry_parked` for the event at the head of the queue.
        """
        if self._rekeyer is not None and self._rekeyer.rotating(envelope.subject):
            subject = await self._rekeyer.resolve(self._sessions, envelope.subject)
            envelope = envelope.model_copy(update={"subject": subject})
        async with self._sessions() as session:
            if await idempotency.was_processed(session, ROUTER_GROUP, envelope.id):
                return RouteResult(duplicate=True)
            behind = not resumed and bool(
                await holdback.lanes_among(session, ROUTER_GROUP, [envelope.subject])
            )
        key = (
            await self.keyring.current(envelope.subject, scope_of(event))
            if self.keyring is not None
            else None
        )
        if behind:
            return await self._park(
                envelope, event, "waiting behind an earlier event of the client", key
            )
        found = None
        if isinstance(event, DetentionEvent):
            try:
                found = await self._look_up(envelope.subject, fresh=resumed)
            except RetryableError as error:
                if resumed:
                    raise
                return await self._park(envelope, event, f"case look-up failed: {error}", key)
        now = self._clock()
        async with self._sessions.begin() as session:
            if not await idempotency.claim(session, ROUTER_GROUP, envelope.id):
                return RouteResult(duplicate=True)
            if isinstance(event, ConsentEvent):
                entries = [await _record_fact(session, envelope, event)]
                staged = 0
            else:
                entries, staged = await self._decide(session, envelope, event, found, now, key)
            seqs = await audit.append(session, entries)
        metrics.count_decisions((e.outcome, e.rule_ids) for e in entries)
        return RouteResult(duplicate=False, audit_seqs=tuple(seqs), staged=staged)

    async def route_batch(self, batch: Sequence[Incoming]) -> list[RouteResult] | None:
        """Decide, audit and stage a fetch's events in one transaction, in their order:
        one query for what was seen before and what is held, the detentions' case
        look-ups at once, one audit append. Nothing is sent here (see :meth:`flush`).

        Returns None, having written nothing, when some event needs :meth:`route` one at
        a time: a client with a held event, a look-up that failed, a pseudonym
        rotation under way.
        """
        self._answers = {}
        if not batch:
            return []
        if self._rekeyer is not None and any(
            self._rekeyer.rotating(item.envelope.subject) for item in batch
        ):
            return None
        async with self._sessions() as session:
            seen = await idempotency.processed_among(
                session, ROUTER_GROUP, [item.envelope.id for item in batch]
            )
            subjects = {item.envelope.subject for item in batch}
            if await holdback.lanes_among(session, ROUTER_GROUP, subjects):
                return None
        fresh = [(n, item) for n, item in enumerate(batch) if item.envelope.id not in seen]
        # Kept for the one-by-one path, should the batch need it: a look-up that failed
        # after its whole budget is held on, not asked again at once.
        self._answers = await self._look_up_all(
            {item.envelope.subject for _, item in fresh if isinstance(item.event, DetentionEvent)}
        )
        found = {
            subject: answer
            for subject, answer in self._answers.items()
            if isinstance(answer, KedoLookupResult)
        }
        if len(found) < len(self._answers):
            return None
        keys: dict[tuple[str, str], DataKey] = {}
        if self.keyring is not None:
            for _, item in fresh:
                wanted = (item.envelope.subject, scope_of(item.event))
                if wanted not in keys:
                    keys[wanted] = await self.keyring.current(*wanted)
        now = self._clock()
        decided: dict[int, tuple[list[AuditEntry], int]] = {}
        async with self._sessions.begin() as session:
            for n, item in fresh:
                envelope, event = item.envelope, item.event
                with tracing.span("route", parent=item.headers, type=envelope.type):
                    if not await idempotency.claim(session, ROUTER_GROUP, envelope.id):
                        continue
                    if isinstance(event, ConsentEvent):
                        decided[n] = ([await _record_fact(session, envelope, event)], 0)
                    else:
                        key = keys.get((envelope.subject, scope_of(event)))
                        decided[n] = await self._decide(
                            session, envelope, event, found.get(envelope.subject), now, key
                        )
            seqs = iter(
                await audit.append(
                    session, [entry for entries, _ in decided.values() for entry in entries]
                )
            )
        self._answers = {}
        metrics.count_decisions(
            (e.outcome, e.rule_ids) for entries, _ in decided.values() for e in entries
        )
        results = []
        for n in range(len(batch)):
            if n not in decided:
                results.append(RouteResult(duplicate=True))
                continue
            entries, staged = decided[n]
            numbers = tuple(next(seqs) for _ in entries)
            results.append(RouteResult(duplicate=False, audit_seqs=numbers, staged=staged))
        return results

    async def _look_up_all(self, subjects: Collection[str]) -> dict[str, LookUp]:
        """The case of every subject, asked at once; a failed look-up as its error."""
        ordered = sorted(subjects)
        answers = await asyncio.gather(
            *(self._lookup.lookup(subject) for subject in ordered), return_exceptions=True
        )
        found: dict[str, LookUp] = {}
        for subject, answer in zip(ordered, answers, strict=True):
            if isinstance(answer, BaseException) and not isinstance(answer, RetryableError):
                raise answer
            found[subject] = answer
        return found

    async def _look_up(self, subject: str, *, fresh: bool) -> KedoLookupResult:
        """The case of ``subject``: the answer the failed batch just had, unless ``fresh``,
        so a look-up that failed after its whole budget is not asked again at once."""
        answer = None if fresh else self._answers.pop(subject, None)
        if answer is None:
            return await self._lookup.lookup(subject)
        if isinstance(answer, RetryableError):
            raise answer
        return answer

    async def _park(
        self, envelope: Envelope, event: CanonicalEvent, reason: str, key: DataKey | None
    ) -> RouteResult:
        now = self._clock()
        async with self._sessions.begin() as session:
            await holdback.hold(
                session,
                holdback.Lane(ROUTER_GROUP, envelope.subject),
                envelope.id,
                encode(event, envelope, key),
                reason=reason,
                now=now,
                next_attempt_at=now + dt.timedelta(seconds=self._retry.pause(1)),
            )
        log.warning("event_parked", subject=envelope.subject, type=envelope.type, reason=reason)
        return RouteResult(duplicate=False, parked=True)

    async def retry_parked(self) -> int:
        """Route held events whose time has come, each client's lane in order; a lane
        whose head fails again waits with a longer pause. Returns how many were routed."""
        async with self._sessions() as session:
            lanes = await holdback.due_lanes(session, ROUTER_GROUP, self._clock())
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
                if not await holdback.lease(session, item, now + HELD_LEASE):
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
                await self.route(envelope, event, resumed=True)
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
            await self.flush([envelope.id])
            routed += 1

    async def _decide(
        self,
        session: AsyncSession,
        envelope: Envelope,
        event: CanonicalEvent,
        found: KedoLookupResult | None,
        now: dt.datetime,
        key: DataKey | None,
    ) -> tuple[list[AuditEntry], int]:
        subject = envelope.subject
        context = case_context(event, await cases.load_case(session, subject), found)
        await cases.apply(session, subject, event, envelope.id)
        if not context.team:
            return [_no_case(envelope)], 0
        entries, staged = [], 0
        if isinstance(event, CaseEvent):
            entries.append(_recorded(envelope, _case_change(event)))
        start = None
        if isinstance(event, DetentionStarted):
            start = classify_start(await detentions.stay_of(session, subject), event, envelope.id)
            entries.append(_classified(envelope, start))
            if not start.sends:
                return entries, 0
        if isinstance(event, DetentionEvent):
            stay_key = start.stay_key if start is not None else None
            await detentions.record(session, subject, event, envelope.id, stay_key=stay_key)
        facts = await consents.load_policy_facts(session, subject, now)
        message = Message.build(event, context)
        for addressee in addressees(event, context, sender_partner(envelope.source)):
            action = LABEL_ACTIONS.get(addressee.flow)
            reference = (
                await labels.reference_for(session, subject, addressee.partner) if action else None
            )
            result = disclose(
                envelope=envelope,
                message=message,
                addressee=addressee,
                context=context,
                policy=self.policy,
                facts=facts,
                may_hold_bsn=bsn_authorised(addressee.partner, self._bsn_kinds),
                now=now,
                label_reference=reference,
                correction=start is not None and start.kind is StartKind.CORRECTION,
            )
            entries.append(result.audit)
            record = None
            if result.delivery is not None:
                notification, delivery_envelope = result.delivery
                record = encode(notification, delivery_envelope, key)
                tracing.inject(record.headers)
                outbox.stage(session, delivery_envelope.id, envelope.id, record)
                staged += 1
            if action is not None and reference is not None:
                await labels.request(
                    session,
                    subject=subject,
                    partner=addressee.partner,
                    action=action,
                    reference=reference,
                    delivery_id=result.audit.delivery_id,
                    record=record,
                    now=now,
                    denied=None if record else _denial(result.decision),
                )
        return entries, staged

    async def flush(self, event_ids: list[str] | None = None) -> int:
        """Send the staged deliveries (of ``event_ids``, or all that are pending)."""
        return await outbox.flush(self._sessions, self._send, event_ids=event_ids)


def _denial(decision: Decision) -> str:
    reasons = "; ".join(m.code for m in decision.missing) or "no field permitted"
    return f"the policy permitted nothing ({reasons})"


def _case_change(event: CaseEvent) -> str:
    if isinstance(event, ClientIncluded):
        return (
            f"case included at {event.zvh} since {event.included_since}, team of {len(event.team)}"
        )
    if isinstance(event, ClientExcluded):
        return f"case closed at {event.zvh} on {event.excluded_on} ({event.reason.value})"
    if isinstance(event, ClientMoved):
        return f"case moved from {event.from_zvh} to {event.to_zvh} on {event.moved_on}"
    return f"case event {event.event_type()}"


def _recorded(envelope: Envelope, what: str, consent_id: str | None = None) -> AuditEntry:
    return AuditEntry.about(
        envelope,
        action=Action.RECORD,
        outcome=AuditOutcome.RECORDED,
        object=what,
        consent_id=consent_id,
    )


def _classified(envelope: Envelope, start: StartClassification) -> AuditEntry:
    """What a START is for its stay, so a second notice (or none) is explained."""
    return AuditEntry.about(
        envelope, action=Action.RECORD, outcome=start.kind.value, object=start.describe()
    )


def _no_case(envelope: Envelope) -> AuditEntry:
    return AuditEntry.about(
        envelope,
        action=Action.NO_CASE,
        outcome=AuditOutcome.NO_CASE,
        object=object_text(envelope.type, envelope.datacategories),
    )


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
    return _recorded(envelope, what, consent_id)


def router_subscriber(router: Router, kafka: KafkaSettings, dead_letter: Publish) -> KafkaRouter:
    """The FastStream consumer: one group over every routed topic, taking what a fetch
    brought as one batch, offsets committed only after the deliveries left
    (NACK_ON_ERROR rewinds every partition of the batch on any failure).

    A record that is not a valid event is dead-lettered at once. A transient failure
    (the state store or the bus away) is retried by redelivery for as long as it lasts.
    Any other failure is retried twice and then dead-lettered with its history, so one
    poisonous event never blocks the partition it shares with others.
    """
    dead_letters = DeadLetters(router.sessions, dead_letter)
    crashes: dict[str, list[Failure]] = {}

    def source(record: ConsumerRecord[bytes, bytes], envelope: Envelope | None) -> Source:
        return Source(
            consumer=ROUTER_GROUP,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            headers=text_headers(record.headers),
            value=record.value or b"",
            subject=envelope.subject if envelope else None,
            event_type=envelope.type if envelope else None,
            correlation_id=envelope.correlationid if envelope else None,
        )

    async def opened(record: ConsumerRecord[bytes, bytes]) -> Incoming | None:
        """The record's event, or None when it was erased or dead-lettered as unreadable."""
        try:
            envelope, event = await open_record(record.headers, record.value or b"", router.keyring)
        except Erased:
            log.info("event_erased", topic=record.topic, offset=record.offset)
            return None
        except ContractError as error:
            log.warning(
                "event_rejected",
                error=error.slug,
                field=error.field,
                topic=record.topic,
                offset=record.offset,
            )
            await dead_letters.give_up(source(record, None), error, [], attempts=1)
            return None
        return Incoming(envelope, event, list(record.headers))

    async def one_by_one(record: ConsumerRecord[bytes, bytes], item: Incoming) -> None:
        envelope = item.envelope
        with (
            tracing.span("route", parent=record.headers, type=envelope.type),
            message_context(message_id=envelope.id, correlation_id=envelope.correlationid),
        ):
            try:
                result = await router.route(envelope, item.event)
                sent = await router.flush([envelope.id])
            except RetryableError:
                raise
            except Exception as exc:
                history = crashes.setdefault(envelope.id, [])
                failure = (
                    exc
                    if isinstance(exc, HubError) and not isinstance(exc, RetryableError)
                    else PermanentError(f"{type(exc).__name__} in the router")
                )
                history.append(Failure.of(len(history) + 1, failure, dt.datetime.now(dt.UTC)))
                if len(history) < CRASHES_BEFORE_DEAD_LETTER or is_outage(exc):
                    log.warning("route_failed", error=type(exc).__name__, attempt=len(history))
                    raise
                await dead_letters.give_up(
                    source(record, envelope), failure, history, attempts=len(history)
                )
                crashes.pop(envelope.id, None)
                return
            crashes.pop(envelope.id, None)
            _log_routed(envelope, result, sent)

    async def on_events(message: KafkaMessage) -> None:
        batch = [
            (record, item)
            for record in fetched(message)
            if (item := await opened(record)) is not None
        ]
        try:
            results = await router.route_batch([item for _, item in batch])
        except RetryableError:
            raise
        except Exception as exc:  # one event may be poisonous: find it one by one
            log.warning("batch_failed", error=type(exc).__name__, events=len(batch))
            results = None
        if results is None:
            for record, item in batch:
                await one_by_one(record, item)
            return
        await router.flush([item.envelope.id for _, item in batch])
        for (record, item), result in zip(batch, results, strict=True):
            crashes.pop(item.envelope.id, None)
            with (
                tracing.continuing(record.headers),
                message_context(
                    message_id=item.envelope.id, correlation_id=item.envelope.correlationid
                ),
            ):
                _log_routed(item.envelope, result, result.staged)

    return batch_consumer(
        *(topic.name for topic in ROUTED_TOPICS),
        group=ROUTER_GROUP,
        kafka=kafka,
        handler=on_events,
        title="router",
        description="Decides, audits and delivers every canonical event.",
    )


def _log_routed(envelope: Envelope, result: RouteResult, sent: int) -> None:
    log.info(
        "event_duplicate"
        if result.duplicate
        else "event_parked"
        if result.parked
        else "event_routed",
        subject=envelope.subject,
        type=envelope.type,
        decisions=len(result.audit_seqs),
        deliveries=sent,
    )
