"""Replaying a dead letter: decide again, show the new outcome, then send.

A dead-lettered delivery is decided again with the consents, legal titles and
conflict-of-duties decisions in force *now*: a consent withdrawn since then removes the
fields it carried, or denies the delivery altogether. Replay never adds what the first
decision removed, and the BSN goes only where it went before and still may. The
replayed delivery keeps its idempotency key, so a partner that had it after all sees a
repeat, never a second notification. Team membership is taken as it stood when the
delivery was decided (the team may have come from KEDO's answer, which replay does not
ask again), unless the ZVH has excluded the client since: then only a label
withdrawal, flow C, may still go.

A dead letter of the router (a record it could not read, or failed on) goes back to its
own topic, and the router decides it as if new; one that still cannot be read stays put.
So a replayed detention START meets :func:`~hub.routing.stays.classify_start` like any
other: a stay that had its start notice meanwhile gets a correction, or nothing.

The new decision is audited like any other, in the same transaction as what follows
from it, so a crash cannot send it unaudited or lose it. A delivery's dead letter is the
stop of its hold-back lane (``hub.state.holdback``): the replayed record takes the stop's
place and goes first, then what waited behind it, in order. A denial, or a discard,
removes the stop and the lane goes on. Any other replayed record (a router's dead
letter, or one from before the hold-back queue) goes out through the outbox.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.bus.codec import encode, open_record
from hub.bus.sealing import Erased, scope_of
from hub.core.errors import ContractError
from hub.core.record import KafkaRecord
from hub.core.topics import ROUTER_GROUP
from hub.identity.keyring import Keyring
from hub.routing.core import Rules, replan
from hub.routing.decision import Policy
from hub.schemas.deliveries import NotificationDelivery
from hub.schemas.envelope import Envelope
from hub.state import audit, cases, consents, dead_letters, holdback, idempotency, outbox
from hub.state.audit import Action, AuditEntry, AuditOutcome
from hub.state.dead_letters import Letter
from hub.state.letter_states import LetterState


class Verdicts(StrEnum):
    SEND = "send"
    """The delivery may go again (perhaps with fewer fields)."""
    DENIED = "denied"
    """Today's consents or titles no longer permit it."""
    REROUTE = "reroute"
    """A router dead letter: back to its topic, to be decided as if new."""
    UNREADABLE = "unreadable"
    """It still cannot be read; replay would only fail again."""
    SETTLED = "settled"
    """Replayed or discarded before."""


@dataclass(frozen=True)
class Plan:
    """What a replay would do, shown before it does it."""

    letter: Letter
    verdict: Verdicts
    explanation: str
    outcome: str | None = None
    fields: tuple[str, ...] = ()
    removed_now: tuple[str, ...] = ()
    record: KafkaRecord | None = None
    audit: AuditEntry | None = None
    reroute: str | None = None
    """The id of the event a router dead letter holds: its claim is released, so the
    router takes it again."""


@dataclass(frozen=True)
class Replayer:
    sessions: async_sessionmaker[AsyncSession]
    policy: Policy
    bsn_kinds: frozenset[str]
    keyring: Keyring | None = None

    async def plan(self, letter: Letter, now: dt.datetime) -> Plan:
        if letter.state is not LetterState.OPEN:
            return Plan(letter, Verdicts.SETTLED, f"already {letter.state.value}")
        try:
            envelope, event = await open_record(
                letter.record.headers, letter.record.value, self.keyring
            )
        except Erased:
            return Plan(letter, Verdicts.UNREADABLE, "the client's data was erased")
        except ContractError as error:
            return Plan(letter, Verdicts.UNREADABLE, f"still cannot be read: {error}")
        if not isinstance(event, NotificationDelivery):
            return Plan(
                letter,
                Verdicts.REROUTE,
                f"back to {letter.topic}; the router decides it with today's facts",
                record=letter.record,
                reroute=envelope.id,
            )
        async with self.sessions() as session:
            return await self._decide(session, letter, envelope, event, now)

    async def _decide(
        self,
        session: AsyncSession,
        letter: Letter,
        envelope: Envelope,
        event: NotificationDelivery,
        now: dt.datetime,
    ) -> Plan:
        """Today's decision for the dead-lettered delivery: the client's case and facts
        are read here, the decision is the core's (:func:`~hub.routing.core.replan`)."""
        decided = replan(
            letter.id,
            envelope,
            event,
            await cases.load_case(session, envelope.subject),
            await consents.load_policy_facts(session, envelope.subject, now),
            Rules(self.policy, self.bsn_kinds, now, _no_labels),
        )
        if decided.delivery is None:
            return Plan(
                letter,
                Verdicts.DENIED,
                decided.explanation,
                outcome=decided.outcome,
                removed_now=decided.removed_now,
                audit=decided.audit,
            )
        replayed = decided.delivery
        key = (
            await self.keyring.current(envelope.subject, scope_of(replayed.notification))
            if self.keyring is not None
            else None
        )
        return Plan(
            letter,
            Verdicts.SEND,
            decided.explanation,
            outcome=decided.outcome,
            fields=decided.fields,
            removed_now=decided.removed_now,
            record=encode(replayed.notification, replayed.envelope, key),
            audit=decided.audit,
        )

    async def replay(
        self, plan: Plan, send: outbox.Send, *, by: str, now: dt.datetime
    ) -> LetterState | None:
        """Carry out ``plan``: audit, settle the dead letter and stage the record in one
        transaction, then send it. Returns the dead letter's new state, or None when
        nothing was done (unreadable, settled, or settled meanwhile by someone else)."""
        if plan.verdict in (Verdicts.UNREADABLE, Verdicts.SETTLED):
            return None
        state = LetterState.DENIED if plan.verdict is Verdicts.DENIED else LetterState.REPLAYED
        staged = None
        async with self.sessions.begin() as session:
            settled = await dead_letters.settle(
                session, plan.letter.id, state, by=by, settlement=plan.explanation, now=now
            )
            if not settled:
                return None
            if plan.audit is not None:
                await audit.append(session, [plan.audit])
            if plan.reroute is not None:
                await idempotency.release(session, ROUTER_GROUP, plan.reroute)
            sent = plan.record if plan.verdict is Verdicts.SEND else None
            resumed = await holdback.resume(session, plan.letter.id, sent, now)
            if plan.record is not None and not resumed:
                staged = f"replay:{plan.letter.id}"
                await outbox.stage(session, [(staged, staged, plan.record)])
        if staged is not None:
            await outbox.flush(self.sessions, send, event_ids=[staged])
        return state


async def discard(
    sessions: async_sessionmaker[AsyncSession],
    letter: Letter,
    *,
    by: str,
    why: str,
    now: dt.datetime,
) -> bool:
    """Give up on ``letter`` for good: nothing is sent, what waited behind it in its
    lane goes on, and the audit says who gave it up (the reason stays with the letter,
    not in the audit, which holds no free text). False when it was settled already."""
    async with sessions.begin() as session:
        settled = await dead_letters.settle(
            session, letter.id, LetterState.DISCARDED, by=by, settlement=why, now=now
        )
        if settled:
            await holdback.resume(session, letter.id, None, now)
            await audit.append(session, [_discarded(letter, by, now)])
    return settled


def _discarded(letter: Letter, by: str, now: dt.datetime) -> AuditEntry:
    """The audit record of a discard: the dead letter's event, withheld by a person."""
    headers = letter.record.headers
    return AuditEntry(
        event_id=headers.get("ce_causationid") or headers.get("ce_id") or letter.id,
        event_type=letter.event_type or headers.get("ce_type", "unknown"),
        event_time=now,
        action=Action.WITHHOLD,
        sender=headers.get("ce_source", letter.consumer),
        subject=letter.subject or "",
        object=f"dead letter {letter.id} discarded by {by}",
        outcome=AuditOutcome.DISCARDED,
        correlation_id=letter.correlation_id or letter.id,
        recipient=letter.recipient,
    )


def _no_labels() -> str:
    raise AssertionError("a replay makes no label handle")
