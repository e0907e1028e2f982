"""The router's decision for one event, as a pure function: what the client's state
was, what the event says and what the look-up found go in; the audit records, the
deliveries, the label requests and the detention record to keep come out. No I/O: no
database, no broker, no clock (``now`` is given), no randomness (``mint`` is given).

:class:`hub.routing.router.Router` loads the inputs, calls :func:`plan_event` for
every event of a batch, in order, and carries the plan out in the batch's transaction;
this module is unit-tested on its own (``tests/unit/test_routing_core.py``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from hub.routing.decision import Decision, Policy
from hub.routing.disclosure import Message, bsn_authorised, disclose, object_text
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
from hub.schemas.deliveries import Flow, NotificationDelivery
from hub.schemas.detention import DetentionEvent, DetentionStarted
from hub.schemas.envelope import Envelope
from hub.state.audit import Action, AuditEntry, AuditOutcome
from hub.state.cases import Case
from hub.state.consents import PolicyFacts
from hub.state.detentions import Stay
from hub.state.labels import LabelAction

LABEL_ACTIONS = {Flow.B: LabelAction.SET, Flow.C: LabelAction.WITHDRAW}
PARTNER_SOURCE_PREFIX = "urn:ketenhub:partner:"
RECORD_IDS = uuid.UUID("0b8f3c2e-6a41-4d8e-9a57-2f1c7d9e4b13")


def sender_partner(source: str) -> str | None:
    return (
        source.removeprefix(PARTNER_SOURCE_PREFIX)
        if source.startswith(PARTNER_SOURCE_PREFIX)
        else None
    )


@dataclass(frozen=True)
class Outgoing:
    """A delivery to stage: the notification and its envelope."""

    notification: NotificationDelivery
    envelope: Envelope


@dataclass(frozen=True)
class LabelAsk:
    """What the router asks of a partner's label, and the delivery that carries it
    (``outgoing``, an index into the plan's deliveries) or why none could go."""

    partner: str
    action: LabelAction
    reference: str
    delivery_id: str | None
    outgoing: int | None
    denied: str | None


@dataclass(frozen=True)
class EventPlan:
    """Everything one event changes, for the shell to carry out."""

    entries: list[AuditEntry]
    deliveries: list[Outgoing] = field(default_factory=list)
    labels: list[LabelAsk] = field(default_factory=list)
    record_detention: bool = False
    stay_key: str | None = None


@dataclass(frozen=True)
class Inputs:
    """The client's state as it stood before the event, and the look-up's answer."""

    case: Case | None
    found: KedoLookupResult | None
    facts: PolicyFacts
    stay: Stay | None
    references: Mapping[str, str]
    """The label handle each partner has for this client already."""


@dataclass(frozen=True)
class Rules:
    """What decides, besides the client's state: the sharing policy, who may hold a
    BSN, the moment, and how a new label handle is made."""

    policy: Policy
    bsn_kinds: frozenset[str]
    now: dt.datetime
    mint: Callable[[], str]


def plan_event(
    envelope: Envelope, event: CanonicalEvent, inputs: Inputs, rules: Rules
) -> EventPlan:
    """The decision for a detention, case or signal event. The audit records are
    numbered from the event id, so the same inputs give the same plan."""
    planned = _plan(envelope, event, inputs, rules)
    numbered = [
        replace(entry, record_id=str(uuid.uuid5(RECORD_IDS, f"{envelope.id}|{n}")))
        for n, entry in enumerate(planned.entries)
    ]
    return replace(planned, entries=numbered)


def _plan(envelope: Envelope, event: CanonicalEvent, inputs: Inputs, rules: Rules) -> EventPlan:
    context = case_context(event, inputs.case, inputs.found)
    if not context.team:
        return EventPlan([_no_case(envelope)])
    entries: list[AuditEntry] = []
    if isinstance(event, CaseEvent):
        entries.append(recorded(envelope, _case_change(event)))
    start: StartClassification | None = None
    if isinstance(event, DetentionStarted):
        start = classify_start(inputs.stay, event, envelope.id)
        entries.append(_classified(envelope, start))
        if not start.sends:
            return EventPlan(entries)
    message = Message.build(event, context)
    deliveries: list[Outgoing] = []
    asks: list[LabelAsk] = []
    for addressee in addressees(event, context, sender_partner(envelope.source)):
        action = LABEL_ACTIONS.get(addressee.flow)
        reference = (inputs.references.get(addressee.partner) or rules.mint()) if action else None
        result = disclose(
            envelope=envelope,
            message=message,
            addressee=addressee,
            context=context,
            policy=rules.policy,
            facts=inputs.facts,
            may_hold_bsn=bsn_authorised(addressee.partner, rules.bsn_kinds),
            now=rules.now,
            label_reference=reference,
            correction=start is not None and start.kind is StartKind.CORRECTION,
        )
        entries.append(result.audit)
        outgoing = None
        if result.delivery is not None:
            outgoing = len(deliveries)
            deliveries.append(Outgoing(*result.delivery))
        if action is not None and reference is not None:
            asks.append(
                LabelAsk(
                    partner=addressee.partner,
                    action=action,
                    reference=reference,
                    delivery_id=result.audit.delivery_id,
                    outgoing=outgoing,
                    denied=None if outgoing is not None else _denial(result.decision),
                )
            )
    return EventPlan(
        entries,
        deliveries,
        asks,
        record_detention=isinstance(event, DetentionEvent),
        stay_key=start.stay_key if start is not None else None,
    )


def recorded(envelope: Envelope, what: str, consent_id: str | None = None) -> AuditEntry:
    """The audit record of a state change that sends nothing."""
    return AuditEntry.about(
        envelope,
        action=Action.RECORD,
        outcome=AuditOutcome.RECORDED,
        object=what,
        consent_id=consent_id,
    )


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
