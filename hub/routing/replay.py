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

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.bus.codec import encode, open_record
from hub.bus.sealing import Erased, scope_of
from hub.core.errors import ContractError
from hub.core.record import KafkaRecord
from hub.identity.keyring import Keyring
from hub.routing.decision import (
    Decision,
    DecisionInput,
    Policy,
    Purpose,
    Recipient,
    Verdict,
    decide,
)
from hub.routing.disclosure import BSN_FIELD, bsn_authorised, field_specs, object_text
from hub.schemas.deliveries import DecisionSummary, Flow, NotificationDelivery, Outcome
from hub.schemas.envelope import Envelope
from hub.state import audit, cases, consents, dead_letters, holdback, outbox
from hub.state.audit import Action, AuditEntry
from hub.state.dead_letters import Letter, LetterState

REPLAY_NAMESPACE = uuid.UUID("6f1d2a8e-0b7c-4e0f-8d4a-3c5e9b1a2f60")


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
        case = await cases.load_case(session, envelope.subject)
        excluded_since = case is not None and not case.included
        in_team = not excluded_since or event.flow is Flow.C
        facts = await consents.load_policy_facts(session, envelope.subject, now)
        specs = field_specs(event.source_type)
        wanted = [specs[name] for name in event.content if name in specs]
        if event.bsn_permitted:
            wanted.append(specs[BSN_FIELD])
        decision = decide(
            DecisionInput(
                fields=tuple(wanted),
                recipient=Recipient(
                    partner=event.recipient,
                    role=event.recipient_role,
                    in_team=in_team,
                    may_hold_bsn=bsn_authorised(event.recipient, self.bsn_kinds),
                ),
                purpose=Purpose(event.purpose),
                consents=facts.consents,
                titles=facts.titles,
                conflict_decisions=facts.conflict_decisions,
                now=now,
            ),
            self.policy,
        )
        permitted = tuple(
            name for name in event.content if decision.field_verdicts.get(name) is Verdict.PERMIT
        )
        removed_now = tuple(name for name in event.content if name not in permitted)
        if decision.outcome is Outcome.DENY or not permitted:
            missing = "; ".join(m.code for m in decision.missing) or "no field permitted"
            entry = _entry(letter, envelope, event, decision, (), Action.WITHHOLD)
            return Plan(
                letter,
                Verdicts.DENIED,
                f"the policy permits nothing now ({missing})",
                outcome=Outcome.DENY.value,
                removed_now=removed_now,
                audit=entry,
            )
        replayed = event.model_copy(
            update={
                "content": {name: event.content[name] for name in permitted},
                "content_categories": {name: event.content_categories[name] for name in permitted},
                "removed_fields": tuple(dict.fromkeys((*event.removed_fields, *removed_now))),
                "bsn_permitted": event.bsn_permitted
                and decision.field_verdicts.get(BSN_FIELD) is Verdict.PERMIT,
                "decision": DecisionSummary(
                    outcome=decision.outcome,
                    legal_bases=decision.legal_bases,
                    rule_ids=decision.rule_ids,
                    policy_version=decision.policy_version,
                ),
            }
        )
        new_envelope = Envelope.for_event(
            replayed,
            subject=envelope.subject,
            source=envelope.source,
            correlation_id=envelope.correlationid,
            causation_id=envelope.causationid,
            event_id=str(uuid.uuid5(REPLAY_NAMESPACE, letter.id)),
            time=now,
            origin_time=envelope.started,
        )
        key = (
            await self.keyring.current(envelope.subject, scope_of(replayed))
            if self.keyring is not None
            else None
        )
        gone = f"; removed now: {', '.join(removed_now)}" if removed_now else ""
        return Plan(
            letter,
            Verdicts.SEND,
            f"{decision.outcome.value} for {event.recipient} with {len(permitted)} field(s){gone}",
            outcome=decision.outcome.value,
            fields=permitted,
            removed_now=removed_now,
            record=encode(replayed, new_envelope, key),
            audit=_entry(letter, envelope, replayed, decision, permitted, Action.DISCLOSE),
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
            sent = plan.record if plan.verdict is Verdicts.SEND else None
            resumed = await holdback.resume(session, plan.letter.id, sent, now)
            if plan.record is not None and not resumed:
                staged = f"replay:{plan.letter.id}"
                outbox.stage(session, staged, staged, plan.record)
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
    """Give up on ``letter`` for good: nothing is sent, and what waited behind it in its
    lane goes on. False when it was settled already."""
    async with sessions.begin() as session:
        settled = await dead_letters.settle(
            session, letter.id, LetterState.DISCARDED, by=by, settlement=why, now=now
        )
        if settled:
            await holdback.resume(session, letter.id, None, now)
    return settled


def _entry(
    letter: Letter,
    envelope: Envelope,
    event: NotificationDelivery,
    decision: Decision,
    permitted: tuple[str, ...],
    action: str,
) -> AuditEntry:
    """The replay's decision, audited against the source event like the first one."""
    disclosed = action == Action.DISCLOSE
    entry = AuditEntry.about(
        envelope,
        action=action,
        object=f"replay of dead letter {letter.id}: "
        + object_text(event.source_type, event.categories_present()),
        outcome=decision.outcome.value if disclosed else Outcome.DENY.value,
        recipient=event.recipient,
        recipient_role=event.recipient_role,
        flow=event.flow.value,
        purpose=event.purpose,
        legal_bases=decision.legal_bases if disclosed else (),
        rule_ids=decision.rule_ids,
        policy_version=decision.policy_version,
        consent_id=decision.consent_id,
        disclosed_fields=permitted,
        removed_fields=decision.removed_fields,
        missing=tuple(m.code for m in decision.missing),
        delivery_id=event.idempotency_key,
    )
    return dataclasses.replace(
        entry, event_id=envelope.causationid or envelope.id, event_type=event.source_type
    )
